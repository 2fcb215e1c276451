"""Authentication, roles and CSRF over every route of the web app and API.

The route lists come from `app.routes`, so a new route is checked without
editing this file.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from tests.webapp import login

from revaxis.web import create_app

# Routes that respond without a login: the login page, the language switch
# (the login page offers it), static files, the favicon and the health check.
# POST /logout only clears a session and redirects to /login, so it is
# checked like any other page.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/lang/{code}"),
    ("GET", "/static/plotly.min.js"),
    ("GET", "/favicon.ico"),
    ("GET", "/api/v1/health"),
}
# API routes that change data but are open to viewers: their own API tokens,
# and the rule preview, which saves nothing.
VIEWER_WRITES = {
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{token_id}"),
    ("POST", "/api/v1/axes/{key}/preview"),
}
# The API writes that need the editor role; each must be among the routes
# that the tests below find.
EDITOR_WRITES = {
    ("PUT", "/api/v1/customers/{customer_id}/attributes/{axis}"),
    ("POST", "/api/v1/axes"),
    ("DELETE", "/api/v1/axes/{key}"),
    ("PUT", "/api/v1/axes/{key}/values/{entity_id}"),
    ("POST", "/api/v1/axes/{key}/values"),
    ("POST", "/api/v1/axes/{key}/rules"),
    ("DELETE", "/api/v1/axes/{key}/rules/{position}"),
    ("POST", "/api/v1/imports"),
    ("PUT", "/api/v1/settings/{key}"),
}


def _routes() -> list[tuple[str, str]]:
    """Return every method and path of the app, without HEAD and the static
    mount."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Path(folder) / "routes.duckdb")
        found = set()
        # FastAPI keeps each included router as one node of `app.routes`;
        # iter_route_contexts walks into them. The static mount has no methods.
        for route in iter_route_contexts(app.routes):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
        app.state.workspace.close()
    return sorted(found, key=lambda item: (item[1], item[0]))


ROUTES = _routes()
PROTECTED = [route for route in ROUTES if route not in PUBLIC]
API_WRITES = [
    (method, path)
    for method, path in PROTECTED
    if path.startswith("/api/") and method != "GET"
]


def _url(path: str) -> str:
    """Fill every path parameter with `1`, which every parameter type accepts."""
    return re.sub(r"\{[^}]+\}", "1", path)


def _id(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


def test_route_lists_are_current():
    assert PUBLIC <= set(ROUTES)
    assert EDITOR_WRITES <= set(API_WRITES)
    assert VIEWER_WRITES <= set(API_WRITES)


@pytest.mark.parametrize("route", PROTECTED, ids=_id)
def test_route_needs_login(web_client, route):
    method, path = route
    if path.startswith("/api/"):
        response = web_client.request(method, _url(path))
        assert response.status_code == 401
        assert response.json()["error"]["message"].startswith("Authentication required")
        return
    # A page redirects to the login page, possibly through another page: "/"
    # goes to /overview first.
    response = web_client.request(method, _url(path), follow_redirects=True)
    assert response.history, "the page did not redirect"
    assert response.url.path == "/login"
    assert response.status_code == 200


@pytest.mark.parametrize(
    "route", [r for r in API_WRITES if r not in VIEWER_WRITES], ids=_id
)
def test_viewer_cannot_write(web_client, api_headers, route):
    method, path = route
    response = web_client.request(
        method, _url(path), headers=api_headers["viewer"], json={}
    )
    assert response.status_code == 403
    assert "Your role is viewer" in response.json()["error"]["message"]


@pytest.mark.parametrize("route", API_WRITES, ids=_id)
def test_cookie_write_without_csrf_rejected(web_client, route):
    method, path = route
    login(web_client, "admin@example.com")
    response = web_client.request(method, _url(path), json={})
    assert response.status_code == 403
    assert response.json()["error"]["parameter"] == "X-CSRF-Token"


def test_cookie_write_with_csrf_accepted(web_client):
    token = login(web_client, "editor@example.com")
    response = web_client.put(
        "/api/v1/settings/grace_days",
        json={"value": "2"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 200
    assert response.json() == {"key": "grace_days", "value": "2"}


def test_cookie_read_needs_no_csrf(web_client):
    login(web_client, "viewer@example.com")
    response = web_client.get("/api/v1/settings")
    assert response.status_code == 200


def test_bearer_token_reads_and_writes(web_client):
    csrf = login(web_client, "editor@example.com")
    created = web_client.post(
        "/api/v1/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf}
    ).json()
    web_client.cookies.clear()
    bearer = {"Authorization": f"Bearer {created['token']}"}
    rows = web_client.get(
        "/api/v1/mrr", params={"as_of": "2025-06-30"}, headers=bearer
    ).json()
    # March: c1 100 + c2 50 + c3 50 + c4 100.
    assert rows[2]["mrr_end"] == 300.0
    written = web_client.put(
        "/api/v1/settings/grace_days", json={"value": "3"}, headers=bearer
    )
    assert written.status_code == 200


def test_revoked_token_rejected(web_client, api_headers):
    headers = {"Authorization": "Bearer rvx_revoked-or-never-issued"}
    response = web_client.get("/api/v1/mrr", headers=headers)
    assert response.status_code == 401


def test_editor_can_write(web_client, api_headers):
    response = web_client.post(
        "/api/v1/axes", json={"key": "manager"}, headers=api_headers["editor"]
    )
    assert response.status_code == 201
