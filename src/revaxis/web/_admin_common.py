"""Helpers shared by the admin pages: notices after a redirect, rendering and
table exports."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from revaxis.web._app import render
from revaxis.web._exports import export_response

# Session key of the notices shown once on the next page (after a redirect).
_FLASH_KEY = "admin_flash"
# Rows of a table shown on a page; the CSV and XLSX exports have every row.
MAX_SHOWN_ROWS = 500


def flash(request: Request, message: str) -> None:
    """Queue a notice for the next page this session renders."""
    notices = list(request.session.get(_FLASH_KEY, []))
    notices.append(message)
    request.session[_FLASH_KEY] = notices


def page(
    request: Request, template: str, status_code: int = 200, **context: object
) -> Response:
    """Render an admin page with the queued notices, which are then dropped."""
    notices = request.session.pop(_FLASH_KEY, [])
    return render(request, template, status_code, notices=notices, **context)


def redirect(url: str) -> RedirectResponse:
    """Redirect after a successful form post, so a reload does not post again."""
    return RedirectResponse(url, status_code=303)


def gettext(request: Request) -> Callable[..., str]:
    """Return the translation function of the request's language."""
    return request.state.formatter.gettext


def download(frame: pd.DataFrame, name: str, fmt: str | None) -> Response:
    """Return `frame` as a CSV download, or XLSX when `fmt` is xlsx."""
    return export_response(frame, name, fmt or "csv")


def export_or_none(frame: pd.DataFrame, name: str, fmt: str | None) -> Response | None:
    """Return the CSV or XLSX download of `frame` when `fmt` names a format."""
    if fmt:
        return export_response(frame, name, fmt)
    return None
