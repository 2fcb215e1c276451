"""Helpers shared by the REST API routes: JSON records from data frames, the
`format` and `as_of` parameters, and errors with a list of import problems."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Query
from fastapi.responses import JSONResponse, Response

from revaxis import _periods
from revaxis._errors import InputError, PeriodError, Problem
from revaxis.web._app import ApiError, error_body
from revaxis.web._exports import EXPORT_FORMATS, export_response
from revaxis.workspace import Workspace

# Response formats of the routes that return a table: JSON records, or a file.
TABLE_FORMATS = ("json", *EXPORT_FORMATS)

FormatQuery = Annotated[
    str,
    Query(
        alias="format",
        description="json (records), or csv or xlsx to download the table as a file.",
    ),
]
AsOfQuery = Annotated[
    str | None,
    Query(
        description="Report day, YYYY-MM-DD: changes after it are left out. "
        "Default: today.",
    ),
]
CurrencyQuery = Annotated[
    str | None,
    Query(
        description="Reporting currency, an ISO 4217 code. Default: the "
        "workspace's currency setting.",
    ),
]


def plain(value: Any) -> Any:
    """Return `value` as a JSON-ready Python object: dates and timestamps as
    ISO text, numpy scalars as Python numbers, NaN, NA and infinities as None.
    Lists, tuples and dicts are converted item by item."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(item) for item in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the rows of `frame` as JSON-ready dicts (see `plain`)."""
    columns = [str(column) for column in frame.columns]
    return [
        {column: plain(value) for column, value in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def check_format(fmt: str) -> str:
    if fmt not in TABLE_FORMATS:
        raise ApiError(
            f"Invalid format {fmt!r}: use one of {', '.join(TABLE_FORMATS)}.",
            "format",
        )
    return fmt


def table_response(frame: pd.DataFrame, name: str, fmt: str) -> Response | list:
    """Return `frame` as JSON records, or as a CSV or XLSX download named
    `name`; `fmt` has passed `check_format`."""
    if fmt == "json":
        return records(frame)
    return export_response(frame, name, fmt)


def parse_day(text: str | None, parameter: str) -> dt.date | None:
    """Parse a YYYY-MM-DD query parameter; None stays None. A day outside the
    years that reports cover (`_periods.check_day`) raises ApiError too."""
    if text is None or not text.strip():
        return None
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(
            f"Invalid {parameter} {text!r}: write a day as YYYY-MM-DD.", parameter
        ) from None
    try:
        return _periods.check_day(day, parameter)
    except PeriodError as exc:
        raise ApiError(str(exc), parameter) from None


def reporting_currency(ws: Workspace, currency: str | None) -> str:
    """Return the reporting currency of a request: `currency` when given, else
    the workspace's; an invalid code raises ApiError naming `currency`."""
    try:
        return ws.report_currency(currency)
    except InputError as exc:
        raise ApiError(str(exc), "currency") from None


def problem_dicts(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [
        {
            "file": problem.file,
            "line": problem.line,
            "field": problem.field,
            "value": problem.value,
            "reason": problem.reason,
        }
        for problem in problems
    ]


def rejected_response(
    message: str, parameter: str | None, problems: Sequence[Problem]
) -> JSONResponse:
    """Return a 400 error whose body also lists every problem of a rejected
    import: `{"error": {"message", "parameter", "problems": [...]}}`."""
    body = error_body(message, parameter)
    body["error"]["problems"] = problem_dicts(problems)  # type: ignore[index]
    return JSONResponse(body, status_code=400)
