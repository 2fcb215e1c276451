"""Authentication, roles, CSRF and login rate limiting of the web app and API.

A request is authenticated by a bearer API token (`Authorization: Bearer
rvx_...`) or by the signed session cookie set at login. Requests that change
something and come with the session cookie must carry the session's CSRF token,
in the `X-CSRF-Token` header (htmx sends it on every request) or in a
`csrf_token` form field. Bearer requests need no CSRF token, because a browser
never adds that header by itself.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from revaxis._users import User

log = logging.getLogger("revaxis.web.auth")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAuthenticated(Exception):
    """The request carries no valid session or API token. The message, when
    given, names the credential that failed."""


class Forbidden(Exception):
    """The user's role does not allow the request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    """A cookie-authenticated request that changes data lacks the CSRF token."""


def csrf_token(request: Request) -> str:
    """Return the session's CSRF token, creating it on first use."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def current_user(request: Request) -> User:
    """Authenticate the request and check CSRF on cookie requests that write."""
    if hasattr(request.state, "user"):
        return request.state.user
    app_state = request.app.state
    token = _bearer(request)
    if token is not None:
        with app_state.users_lock:
            user = app_state.users.user_for_token(token)
        if user is None:
            log.warning("rejected API token from %s", _client(request))
            raise NotAuthenticated(
                "Invalid API token: it is revoked, its user was deleted, or it "
                "was mistyped. Create a new one with `revaxis users token EMAIL` "
                "or on the settings page."
            )
        request.state.user = user
        return user
    user_id = request.session.get("uid")
    if user_id is None:
        raise NotAuthenticated
    with app_state.users_lock:
        user = app_state.users.get(int(user_id))
        stamp = app_state.users.session_stamp(int(user_id))
        revoked = app_state.users.session_revoked(str(request.session.get("sid")))
    if user is None or stamp != request.session.get("stamp") or revoked:
        request.session.clear()
        raise NotAuthenticated
    if request.method not in SAFE_METHODS:
        await _check_csrf(request)
    request.state.user = user
    return user


async def _check_csrf(request: Request) -> None:
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        log.warning(
            "rejected %s %s from %s: missing or wrong CSRF token",
            request.method,
            request.url.path,
            _client(request),
        )
        raise CsrfFailed


def require(role: str) -> Callable[..., object]:
    """Build a dependency that returns the current user when they have `role`."""

    async def dependency(user: User = Depends(current_user)) -> User:
        if not user.can(role):
            raise Forbidden(
                f"Your role is {user.role}; this needs the {role} role or above. "
                "Ask an admin to change your role."
            )
        return user

    return dependency


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class LoginLimiter:
    """Failed logins per client address and per email in a sliding window.

    After `max_failures` failures within `window` seconds from one address, or
    against one email, further attempts are rejected until the oldest failure
    leaves the window. The state is in memory, so a restart clears it.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    @staticmethod
    def _keys(address: str, email: str) -> tuple[str, str]:
        # The email as the user store matches it, so that " A@b.com" counts
        # against a@b.com.
        return f"ip:{address}", f"email:{email.strip().lower()}"

    def retry_after(self, address: str, email: str) -> int:
        """Seconds until a login may be tried again, 0 when it may now."""
        now = self.clock()
        waits = [0.0]
        with self._lock:
            for key in self._keys(address, email):
                times = self._recent(key, now)
                if len(times) >= self.max_failures:
                    waits.append(times[0] + self.window - now)
        return math.ceil(max(waits))

    def fail(self, address: str, email: str) -> int:
        """Record a failure and return the failures from that address so far."""
        now = self.clock()
        with self._lock:
            counts = []
            for key in self._keys(address, email):
                times = self._recent(key, now)
                times.append(now)
                counts.append(len(times))
        return counts[0]

    def succeed(self, email: str) -> None:
        with self._lock:
            self._failures.pop(self._keys("", email)[1], None)


# Route parameters that authenticate the request and check the role.
AnyUser = Annotated[User, Depends(current_user)]
EditorUser = Annotated[User, Depends(require("editor"))]
AdminUser = Annotated[User, Depends(require("admin"))]
