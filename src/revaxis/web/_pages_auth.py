"""Login, logout and the language switch."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from revaxis.web import _i18n
from revaxis.web._app import SESSION_MAX_AGE, render, users_of
from revaxis.web._security import csrf_token

router = APIRouter(include_in_schema=False)
log = logging.getLogger("revaxis.web.auth")


def _safe_next(target: str | None) -> str:
    """Keep a redirect target on this site: a path, never another host.

    Browsers read a target that starts with two or more slashes (or a slash
    and a backslash) as another host, whatever urlparse returns for it, and
    ignore tabs and newlines inside it."""
    if not target or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return "/overview"
    parsed = urlparse(target)
    unsafe = any(c in target for c in "\\\t\r\n")
    if parsed.scheme or parsed.netloc or unsafe:
        return "/overview"
    return target


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/overview", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    with users_of(request) as users:
        no_users = users.count() == 0
    return render(
        request,
        "login.html",
        next=_safe_next(next),
        error=None,
        no_users=no_users,
        email="",
    )


@router.post("/login")
def login(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    csrf_token_field: str = Form("", alias="csrf_token"),
    next: str = Form("/overview"),
) -> Response:
    """Check the CSRF token and the password; rate-limit failures per address
    and per email."""
    formatter = request.state.formatter
    address = request.client.host if request.client else "unknown"
    limiter = request.app.state.login_limiter
    expected = request.session.get("csrf")
    if not expected or csrf_token_field != expected:
        log.warning("login from %s rejected: missing or wrong CSRF token", address)
        return _login_error(
            request,
            next,
            formatter.gettext("Your session expired. Try again."),
            403,
            email,
        )
    wait = limiter.retry_after(address, email)
    if wait:
        log.warning("login for %r from %s rejected: rate limited", email, address)
        response = _login_error(
            request,
            next,
            formatter.gettext(
                "Too many failed logins. Try again in %(seconds)s seconds.",
                seconds=wait,
            ),
            429,
            email,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    with users_of(request) as users:
        user = users.authenticate(email, password)
        stamp = users.session_stamp(user.user_id) if user else None
    if user is None:
        failures = limiter.fail(address, email)
        log.warning(
            "failed login for %r from %s (%d recent failures from this address)",
            email,
            address,
            failures,
        )
        return _login_error(
            request, next, formatter.gettext("Wrong email or password."), 401, email
        )
    limiter.succeed(email)
    log.info("login of %s from %s", user.email, address)
    request.session.clear()
    request.session["uid"] = user.user_id
    request.session["stamp"] = stamp
    request.session["sid"] = secrets.token_urlsafe(16)
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


def _login_error(
    request: Request, next: str, message: str, status: int, email: str
) -> Response:
    """Render the login page again with `message`, keeping the typed email."""
    return render(
        request,
        "login.html",
        status,
        next=_safe_next(next),
        error=message,
        no_users=False,
        email=email,
    )


@router.post("/logout")
def logout(
    request: Request, csrf_token_field: str = Form("", alias="csrf_token")
) -> Response:
    # A forged logout is harmless, but the token is checked like every form.
    # The session id is revoked on the server too, because a copy of the
    # signed cookie would stay valid until it expires.
    if csrf_token_field == request.session.get("csrf"):
        sid = request.session.get("sid")
        if sid:
            expires_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(
                seconds=SESSION_MAX_AGE
            )
            with users_of(request) as users:
                users.revoke_session(sid, expires_at)
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    """Remember the language in a cookie for a year and go back to `next`."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in _i18n.LANGUAGES:
        response.set_cookie(
            _i18n.LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax"
        )
    return response
