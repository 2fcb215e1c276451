"""The FastAPI application: state, middleware, error handlers and static files."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from urllib.parse import urlencode

import plotly
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from revaxis import _storage
from revaxis._errors import RevaxisError
from revaxis._users import UserStore
from revaxis.web import _i18n
from revaxis.web._security import (
    CsrfFailed,
    Forbidden,
    LoginLimiter,
    NotAuthenticated,
    csrf_token,
)
from revaxis.web._uploads import BodySizeLimit, max_upload_bytes
from revaxis.workspace import Workspace

log = logging.getLogger("revaxis.web")

_HERE = Path(__file__).parent
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
SESSION_COOKIE = "revaxis_session"
SESSION_MAX_AGE = 12 * 3600
_SECRET_SETTING = "web_session_secret"

templates = Jinja2Templates(directory=str(_HERE / "templates"))

# The app loads scripts and styles from itself only. Plotly sets inline styles,
# and exports charts through data: and blob: images.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)


class ApiError(Exception):
    """An API request that cannot be served, with the parameter at fault."""

    def __init__(
        self, message: str, parameter: str | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter
        self.status = status


def error_body(message: str, parameter: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "parameter": parameter}}


@contextlib.contextmanager
def workspace_of(request: Request) -> Iterator[Workspace]:
    """Hold the workspace for one request; requests use it one at a time because
    a DuckDB connection is not safe to share between threads."""
    with request.app.state.lock:
        yield request.app.state.workspace


@contextlib.contextmanager
def users_of(request: Request) -> Iterator[UserStore]:
    with request.app.state.users_lock:
        yield request.app.state.users


def render(
    request: Request, template: str, status_code: int = 200, **context: object
) -> Response:
    """Render a page with the user, CSRF token, language and formats in scope."""
    formatter = request.state.formatter
    context.update(
        request=request,
        user=getattr(request.state, "user", None),
        csrf=csrf_token(request),
        lang=formatter.language,
        languages=_i18n.LANGUAGES,
        _=formatter.gettext,
        fmt=formatter,
    )
    return templates.TemplateResponse(
        request, template, context, status_code=status_code
    )


def _session_secret(workspace: Workspace) -> str:
    """Return the key that signs session cookies: $REVAXIS_SECRET_KEY, else a
    random key stored in the workspace on first start, so that sessions
    survive restarts."""
    from_env = os.environ.get("REVAXIS_SECRET_KEY")
    if from_env:
        return from_env
    stored = _storage.read_settings(workspace.con).get(_SECRET_SETTING)
    if stored:
        return stored
    secret = secrets.token_urlsafe(48)
    _storage.write_setting(workspace.con, _SECRET_SETTING, secret)
    return secret


def version() -> str:
    try:
        return metadata.version("revaxis")
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "unknown"


def create_app(
    workspace: Workspace | str | os.PathLike[str],
    *,
    secure_cookies: bool = False,
    login_limiter: LoginLimiter | None = None,
) -> FastAPI:
    """Build the web app and REST API on a workspace (a Workspace or a path).

    `secure_cookies` marks the session cookie Secure, for a server behind HTTPS.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    app = FastAPI(
        title="revaxis",
        version=version(),
        description="Subscription revenue analytics: MRR movements, KPIs, cohorts "
        "and lifetimes by analytical axes.",
        # Served at /api/v1/openapi.json behind authentication (see _api_meta).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.workspace = ws
    app.state.lock = threading.RLock()
    app.state.users = UserStore(ws.con.con.cursor())
    app.state.users_lock = threading.Lock()
    app.state.login_limiter = login_limiter or LoginLimiter()

    app.add_middleware(
        SessionMiddleware,
        secret_key=_session_secret(ws),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=secure_cookies,
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_upload_bytes())

    @app.middleware("http")
    async def language_and_headers(request: Request, call_next):  # noqa: ANN001
        language = _i18n.pick_language(
            request.cookies.get(_i18n.LANG_COOKIE),
            request.headers.get("accept-language"),
        )
        request.state.formatter = _i18n.Formatter(language)
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    _add_error_handlers(app)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(
            _HERE / "static" / "favicon.svg", media_type="image/svg+xml"
        )

    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    from revaxis.web import (
        _api_axes,
        _api_customers,
        _api_data,
        _api_drill,
        _api_meta,
        _api_reports,
        _pages_admin,
        _pages_auth,
        _pages_reports,
    )

    for module in (
        _api_meta,
        _api_reports,
        _api_customers,
        _api_axes,
        _api_data,
        _api_drill,
        _pages_auth,
        _pages_reports,
        _pages_admin,
    ):
        app.include_router(module.router)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse(
                error_body(
                    str(exc)
                    or "Authentication required: send `Authorization: Bearer "
                    "TOKEN` (create one with `revaxis users token EMAIL`) or log in."
                ),
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = "/login"
        if request.method == "GET" and request.url.path not in ("/", "/login"):
            requested = request.url.path
            if request.url.query:
                requested += "?" + request.url.query
            target += "?" + urlencode({"next": requested}, safe="/")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse(error_body(exc.message), status_code=403)
        return render(request, "error.html", 403, message=exc.message)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        message = (
            "Missing or invalid CSRF token: reload the page and try again. API "
            "clients should send a bearer token instead of the session cookie."
        )
        if _is_api(request):
            return JSONResponse(error_body(message, "X-CSRF-Token"), status_code=403)
        return render(request, "error.html", 403, message=message)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if _is_api(request):
            return JSONResponse(
                error_body(exc.message, exc.parameter), status_code=exc.status
            )
        return render(request, "error.html", exc.status, message=exc.message)

    @app.exception_handler(RevaxisError)
    async def revaxis_error(request: Request, exc: RevaxisError) -> Response:
        if _is_api(request):
            return JSONResponse(error_body(str(exc)), status_code=400)
        return render(request, "error.html", 400, message=str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(
        request: Request, exc: RequestValidationError
    ) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        reason = first.get("msg", "invalid")
        # A location is ("query", "limit"), ("body", "email"), or ("body", 7)
        # when the JSON itself fails to parse at character 7.
        names = [
            part
            for part in first.get("loc", ())
            if isinstance(part, str) and part not in ("body", "query", "path", "form")
        ]
        parameter: str | None
        if names:
            parameter = names[-1]
            message = f"Invalid value for {parameter}: {reason}."
        else:
            parameter = "body"
            message = (
                f"Invalid request body: {reason}. Send a JSON object with the "
                "fields that /api/v1/openapi.json lists for this route."
            )
        if _is_api(request):
            return JSONResponse(error_body(message, parameter), status_code=422)
        return render(request, "error.html", 400, message=message)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        # Starlette calls this outside the other middleware, so the security
        # headers are added here.
        log.exception("%s %s failed", request.method, request.url.path)
        message = (
            "Internal error: the server failed on this request and logged the "
            "details. Try again, or report it with the time of the request."
        )
        headers = {
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
        }
        if _is_api(request):
            return JSONResponse(error_body(message), status_code=500, headers=headers)
        return Response(
            message, status_code=500, media_type="text/plain", headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return JSONResponse(
                error_body(str(exc.detail)),
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        return render(request, "error.html", exc.status_code, message=str(exc.detail))
