"""The settings page: workspace settings, the current user's API tokens, and for
admins the users with their roles."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from revaxis._errors import InputError
from revaxis._users import ROLES
from revaxis.web._admin_common import download, flash, gettext, page, redirect
from revaxis.web._app import ApiError, users_of, workspace_of
from revaxis.web._security import AdminUser, AnyUser, EditorUser
from revaxis.workspace import SETTINGS

router = APIRouter()
log = logging.getLogger("revaxis.web.settings")

FormatQuery = Annotated[str | None, Query(alias="format")]


def settings_frame(values: dict[str, str | None]) -> pd.DataFrame:
    """Return key, value, default and description of every setting."""
    rows = [
        {
            "key": key,
            "value": values.get(key),
            "default": spec.default,
            "description": spec.help,
        }
        for key, spec in SETTINGS.items()
    ]
    return pd.DataFrame(rows, columns=["key", "value", "default", "description"])


def tokens_frame(request: Request, email: str) -> pd.DataFrame:
    return pd.DataFrame(
        _token_rows(request, email),
        columns=["id", "name", "created_at", "last_used_at"],
    )


def _token_rows(request: Request, email: str) -> list[dict[str, object]]:
    with users_of(request) as users:
        tokens = users.tokens(email)
    return [
        {
            "id": t.token_id,
            "name": t.name,
            "created_at": t.created_at,
            "last_used_at": t.last_used_at,
        }
        for t in tokens
    ]


def users_frame(request: Request) -> pd.DataFrame:
    with users_of(request) as users:
        listed = users.list()
    rows = [{"email": u.email, "role": u.role} for u in listed]
    return pd.DataFrame(rows, columns=["email", "role"])


@router.get("/settings")
def settings_page(request: Request, user: AnyUser) -> Response:
    return _settings_page(request)


def _settings_page(
    request: Request,
    status_code: int = 200,
    *,
    error: str | None = None,
    new_token: str | None = None,
    user_form: dict[str, str] | None = None,
) -> Response:
    user = request.state.user
    with workspace_of(request) as ws:
        values = ws.settings
    return page(
        request,
        "admin/settings.html",
        status_code,
        settings=settings_frame(values).to_dict(orient="records"),
        # The tokens themselves, not the frame's rows: a frame turns a missing
        # last_used_at into NaT, which templates would take for a date.
        tokens=_token_rows(request, user.email),
        users=users_frame(request).to_dict(orient="records")
        if user.can("admin")
        else [],
        roles=ROLES,
        error=error,
        new_token=new_token,
        user_form=user_form or {"role": "viewer"},
    )


@router.get("/settings/table")
def export_settings(
    request: Request, user: AnyUser, fmt: FormatQuery = None
) -> Response:
    with workspace_of(request) as ws:
        values = ws.settings
    return download(settings_frame(values), "settings", fmt)


@router.post("/settings/values/{key}")
def change_setting(
    request: Request,
    key: str,
    user: EditorUser,
    value: Annotated[str, Form()] = "",
) -> Response:
    """Validate and store a setting; an empty value restores its default."""
    _ = gettext(request)
    if key not in SETTINGS:
        raise ApiError(f"Setting {key!r} not found.", "key", 404)
    with workspace_of(request) as ws:
        try:
            ws.set_setting(key, value.strip())
        except InputError as exc:
            log.info("setting %s not changed to %r: %s", key, value, exc)
            failed = True
            message = str(exc)
        else:
            failed = False
            shown = ws.settings[key]
    if failed:
        return _settings_page(request, 400, error=message)
    log.info("%s set %s to %r", user.email, key, shown)
    flash(
        request,
        _("Setting %(key)s is now %(value)s.", key=key, value=shown or _("empty")),
    )
    return redirect("/settings#settings")


# API tokens ---------------------------------------------------------------------


@router.get("/settings/tokens")
def export_tokens(request: Request, user: AnyUser, fmt: FormatQuery = None) -> Response:
    return download(tokens_frame(request, user.email), "api-tokens", fmt)


@router.post("/settings/tokens")
def create_token(
    request: Request, user: AnyUser, name: Annotated[str, Form()] = ""
) -> Response:
    """Create an API token and show it on this response only: the workspace
    keeps its digest, so it cannot be shown again."""
    name = name.strip()[:100]
    with users_of(request) as users:
        token = users.create_token(user.email, name)
    log.info("%s created API token %r", user.email, name or "token")
    response = _settings_page(request, new_token=token)
    # The page shows the token: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, user: AnyUser) -> Response:
    _ = gettext(request)
    with users_of(request) as users:
        try:
            users.revoke_token(token_id, user.email)
        except InputError as exc:
            raise ApiError(str(exc), "token_id", 404) from exc
    log.info("%s revoked API token %d", user.email, token_id)
    flash(request, _("API token %(id)s revoked.", id=token_id))
    return redirect("/settings#tokens")


# Users (admins only) --------------------------------------------------------------


@router.get("/settings/users")
def export_users(
    request: Request, admin: AdminUser, fmt: FormatQuery = None
) -> Response:
    return download(users_frame(request), "users", fmt)


@router.post("/settings/users")
def add_user(
    request: Request,
    admin: AdminUser,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    _ = gettext(request)
    with users_of(request) as users:
        try:
            added = users.add(email, password, role)
        except InputError as exc:
            log.info("user %r not added by %s: %s", email, admin.email, exc)
            failed = str(exc)
        else:
            failed = None
    if failed is not None:
        form = {"email": email, "role": role}
        return _settings_page(request, 400, error=failed, user_form=form)
    log.info("%s added user %s with role %s", admin.email, added.email, added.role)
    flash(request, _("User %(email)s added.", email=added.email))
    return redirect("/settings#users")


@router.post("/settings/users/{email}/role")
def change_role(
    request: Request,
    email: str,
    admin: AdminUser,
    role: Annotated[str, Form()] = "",
) -> Response:
    """Change a user's role; admins cannot change their own, so a workspace
    always keeps an admin."""
    _ = gettext(request)
    if email.strip().lower() == admin.email:
        message = _("You cannot change your own role: ask another admin.")
        return _settings_page(request, 400, error=message)
    with users_of(request) as users:
        if users.find(email) is None:
            raise ApiError(f"User {email} not found.", "email", 404)
        try:
            changed = users.set_role(email, role)
        except InputError as exc:
            failed = str(exc)
        else:
            failed = None
    if failed is not None:
        log.info("role of %s not changed by %s: %s", email, admin.email, failed)
        return _settings_page(request, 400, error=failed)
    log.info("%s set the role of %s to %s", admin.email, changed.email, changed.role)
    flash(
        request,
        _("%(email)s is now %(role)s.", email=changed.email, role=_(changed.role)),
    )
    return redirect("/settings#users")


@router.post("/settings/users/{email}/delete")
def delete_user(request: Request, email: str, admin: AdminUser) -> Response:
    """Delete a user and their tokens; admins cannot delete themselves."""
    _ = gettext(request)
    if email.strip().lower() == admin.email:
        message = _("You cannot delete your own account: ask another admin.")
        return _settings_page(request, 400, error=message)
    with users_of(request) as users:
        try:
            users.delete(email)
        except InputError as exc:
            raise ApiError(str(exc), "email", 404) from exc
    log.info("%s deleted user %s", admin.email, email)
    flash(request, _("User %(email)s deleted.", email=email))
    return redirect("/settings#users")
