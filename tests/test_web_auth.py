"""Authentication of the web app and API: logins, sessions, CSRF, tokens, roles
and the `revaxis serve` and `revaxis users` commands."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from tests import webapp
from tests.webapp import PASSWORD, csrf_of, login
from typer.testing import CliRunner

import revaxis
from revaxis.cli import app as cli_app
from revaxis.web import create_app
from revaxis.web._app import SESSION_COOKIE
from revaxis.web._security import LoginLimiter

runner = CliRunner()


def _post_login(client: TestClient, email: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def test_login_opens_session(web_client):
    response = _post_login(web_client, "viewer@example.com", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/overview"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    me = web_client.get("/api/v1/me")
    assert me.json() == {"email": "viewer@example.com", "role": "viewer"}


def test_login_email_ignores_case(web_client):
    response = _post_login(web_client, " Viewer@Example.COM", PASSWORD)
    assert response.status_code == 303


def test_wrong_password_is_rejected_and_logged(web_client, caplog):
    with caplog.at_level(logging.WARNING, logger="revaxis.web.auth"):
        response = _post_login(web_client, "viewer@example.com", "wrong password")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert 'value="viewer@example.com"' in response.text
    assert web_client.get("/api/v1/me").status_code == 401
    logged = [r.getMessage() for r in caplog.records]
    assert any("failed login for 'viewer@example.com'" in m for m in logged)
    assert not any("wrong password" in m for m in logged)


def test_unknown_email_gets_same_answer(web_client):
    response = _post_login(web_client, "nobody@example.com", PASSWORD)
    assert response.status_code == 401
    assert "Wrong email or password." in response.text


def test_login_without_csrf_token_is_rejected(web_client):
    web_client.get("/login")
    response = web_client.post(
        "/login",
        data={"email": "viewer@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert web_client.get("/api/v1/me").status_code == 401


def test_failed_logins_are_rate_limited(web_workspace_copy):
    # 3 failures allowed in a 900 s window: the 4th attempt is rejected with
    # 429 even with the right password, until the first failure is 900 s old.
    now = [1000.0]
    limiter = LoginLimiter(max_failures=3, window=900, clock=lambda: now[0])
    application = create_app(web_workspace_copy, login_limiter=limiter)
    with TestClient(application) as client:
        for second in (0, 10, 20):
            now[0] = 1000.0 + second
            assert _post_login(client, "editor@example.com", "nope").status_code == 401
        now[0] = 1030.0
        blocked = _post_login(client, "editor@example.com", PASSWORD)
        assert blocked.status_code == 429
        # The first failure (at 1000) leaves the window at 1900: 870 s from now.
        assert blocked.headers["retry-after"] == "870"
        assert "Too many failed logins" in blocked.text
        now[0] = 1900.5
        assert _post_login(client, "editor@example.com", PASSWORD).status_code == 303
    application.state.workspace.close()


def test_rate_limit_ignores_email_whitespace():
    limiter = LoginLimiter(max_failures=2, window=60)
    limiter.fail("10.0.0.1", "a@example.com")
    limiter.fail("10.0.0.2", " A@example.com\t")
    # The user store matches " a@example.com " to a@example.com, so the limit
    # must too.
    assert limiter.retry_after("10.0.0.3", "a@example.com ") > 0


def test_rate_limit_counts_per_email_across_addresses():
    limiter = LoginLimiter(max_failures=2, window=60)
    limiter.fail("10.0.0.1", "a@example.com")
    limiter.fail("10.0.0.2", "A@example.com")
    # Two failures against one email from two addresses block that email...
    assert limiter.retry_after("10.0.0.3", "a@example.com") > 0
    # ...but not another email from a fresh address.
    assert limiter.retry_after("10.0.0.3", "b@example.com") == 0


def test_tampered_session_cookie_is_rejected(web_client):
    login(web_client, "admin@example.com")
    value = web_client.cookies[SESSION_COOKIE]
    web_client.cookies.clear()
    # The payload changes while the signature stays: the signer rejects it.
    web_client.cookies.set(SESSION_COOKIE, "x" + value[1:])
    assert web_client.get("/api/v1/me").status_code == 401


def test_logout_ends_session(web_client):
    token = login(web_client, "admin@example.com")
    response = web_client.post(
        "/logout", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert web_client.get("/api/v1/me").status_code == 401


def test_logout_revokes_copied_cookie(web_client):
    token = login(web_client, "viewer@example.com")
    copied = web_client.cookies[SESSION_COOKIE]
    web_client.post("/logout", data={"csrf_token": token})
    web_client.cookies.clear()
    web_client.cookies.set(SESSION_COOKIE, copied)
    assert web_client.get("/api/v1/me").status_code == 401


def test_deleted_user_loses_session(web_client):
    login(web_client, "viewer@example.com")
    with web_client.app.state.users_lock:
        web_client.app.state.users.delete("viewer@example.com")
    assert web_client.get("/api/v1/me").status_code == 401


def test_password_change_ends_sessions(web_client):
    login(web_client, "viewer@example.com")
    with web_client.app.state.users_lock:
        web_client.app.state.users.set_password(
            "viewer@example.com", "a new passphrase"
        )
    assert web_client.get("/api/v1/me").status_code == 401
    login(web_client, "viewer@example.com", "a new passphrase")
    assert web_client.get("/api/v1/me").status_code == 200


def test_cookie_write_needs_csrf_header(web_client):
    token = login(web_client, "viewer@example.com")
    refused = web_client.post("/api/v1/tokens", json={"name": "ci"})
    assert refused.status_code == 403
    assert refused.json()["error"]["parameter"] == "X-CSRF-Token"
    wrong = web_client.post(
        "/api/v1/tokens", json={"name": "ci"}, headers={"X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403
    accepted = web_client.post(
        "/api/v1/tokens", json={"name": "ci"}, headers={"X-CSRF-Token": token}
    )
    assert accepted.status_code == 201


def test_bearer_token_works_without_csrf(web_client):
    token = login(web_client, "editor@example.com")
    response = web_client.post(
        "/api/v1/tokens", json={"name": "script"}, headers={"X-CSRF-Token": token}
    )
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert created["token"].startswith("rvx_")
    web_client.cookies.clear()
    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert web_client.get("/api/v1/me", headers=bearer).json()["role"] == "editor"
    listed = web_client.get("/api/v1/tokens", headers=bearer).json()
    assert [t["name"] for t in listed] == ["script"]
    assert listed[0]["token"] is None
    assert listed[0]["last_used_at"] is not None
    second = web_client.post(
        "/api/v1/tokens", json={"name": "other"}, headers=bearer
    ).json()
    revoked = web_client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer)
    assert revoked.status_code == 204
    assert web_client.get("/api/v1/me", headers=bearer).status_code == 401
    other = {"Authorization": f"Bearer {second['token']}"}
    assert web_client.get("/api/v1/me", headers=other).status_code == 200


def test_token_is_stored_hashed(web_client, web_workspace_copy):
    token = login(web_client, "viewer@example.com")
    created = web_client.post(
        "/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": token}
    ).json()
    rows = web_client.app.state.workspace.con.con.execute(
        "SELECT token_hash FROM api_tokens"
    ).fetchall()
    assert len(rows) == 1
    assert created["token"] not in rows[0][0]
    assert len(rows[0][0]) == 64


def test_invalid_bearer_token_is_rejected(web_client):
    response = web_client.get(
        "/api/v1/me", headers={"Authorization": "Bearer rvx_not-a-token"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["message"].startswith("Invalid API token")


def test_user_admin_needs_admin(web_client):
    token = login(web_client, "editor@example.com")
    headers = {"X-CSRF-Token": token}
    assert web_client.get("/api/v1/users").status_code == 403
    refused = web_client.post(
        "/api/v1/users",
        json={"email": "new@example.com", "password": PASSWORD, "role": "viewer"},
        headers=headers,
    )
    assert refused.status_code == 403
    assert "editor" in refused.json()["error"]["message"]


def test_admin_manages_users(web_client):
    headers = {"X-CSRF-Token": login(web_client, "admin@example.com")}
    created = web_client.post(
        "/api/v1/users",
        json={"email": "New@Example.com", "password": PASSWORD, "role": "viewer"},
        headers=headers,
    )
    assert created.status_code == 201
    assert created.json() == {"email": "new@example.com", "role": "viewer"}
    promoted = web_client.put(
        "/api/v1/users/new@example.com/role", json={"role": "editor"}, headers=headers
    )
    assert promoted.json()["role"] == "editor"
    emails = [u["email"] for u in web_client.get("/api/v1/users").json()]
    assert emails == [
        "admin@example.com",
        "editor@example.com",
        "new@example.com",
        "viewer@example.com",
    ]
    deleted = web_client.delete("/api/v1/users/new@example.com", headers=headers)
    assert deleted.status_code == 204
    assert len(web_client.get("/api/v1/users").json()) == 3


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "role": "viewer"}, "email"),
        ({"email": "a@example.com", "password": "short", "role": "viewer"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "role": "owner"}, "role"),
        (
            {"email": "viewer@example.com", "password": PASSWORD, "role": "viewer"},
            "email",
        ),
        ({"email": "a@example.com", "role": "viewer"}, "password"),
    ],
    ids=["email", "short-password", "role", "taken", "missing"],
)
def test_invalid_user_names_parameter(web_client, body, parameter):
    headers = {"X-CSRF-Token": login(web_client, "admin@example.com")}
    response = web_client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code in (400, 422)
    assert response.json()["error"]["parameter"] == parameter


def test_admin_cannot_change_own_role(web_client):
    headers = {"X-CSRF-Token": login(web_client, "admin@example.com")}
    response = web_client.put(
        "/api/v1/users/Admin@example.com/role", json={"role": "viewer"}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "email"
    assert web_client.get("/api/v1/me").json()["role"] == "admin"


def test_admin_cannot_delete_self(web_client):
    headers = {"X-CSRF-Token": login(web_client, "admin@example.com")}
    response = web_client.delete("/api/v1/users/admin@example.com", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "email"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/x",
        "////evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "overview",
    ],
)
def test_login_redirect_stays_on_site(web_client, target):
    token = csrf_of(web_client.get("/login").text)
    response = web_client.post(
        "/login",
        data={
            "email": "viewer@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/overview"
    switch = web_client.get("/lang/en", params={"next": target}, follow_redirects=False)
    assert switch.headers["location"] == "/overview"


def test_open_routes_without_login(web_client):
    health = web_client.get("/api/v1/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert web_client.get("/login").status_code == 200
    assert web_client.get("/favicon.ico").status_code == 200
    htmx = web_client.get("/static/htmx.min.js")
    assert htmx.status_code == 200
    assert htmx.text.startswith("var htmx=")
    plotly = web_client.get("/static/plotly.min.js")
    assert plotly.status_code == 200
    assert b"plotly.js v" in plotly.content[:400]
    assert web_client.get("/api/v1/openapi.json").status_code == 401


def test_responses_carry_security_headers(web_client):
    response = web_client.get("/login")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_openapi_lists_routes(web_client):
    login(web_client, "viewer@example.com")
    spec = web_client.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "revaxis"
    assert "/api/v1/health" in spec["paths"]
    assert "/login" not in spec["paths"]


def test_language_switch_sets_cookie(web_client):
    response = web_client.get("/lang/fr?next=/login", follow_redirects=False)
    assert response.headers["location"] == "/login"
    assert "revaxis_lang=fr" in response.headers["set-cookie"]
    page = web_client.get("/login")
    assert '<html lang="fr">' in page.text
    assert "Mot de passe" in page.text


def test_accept_language_picks_french(web_client):
    page = web_client.get("/login", headers={"Accept-Language": "fr-CH, en;q=0.5"})
    assert "Mot de passe" in page.text


def test_login_page_tells_how_to_add_first_admin(tmp_path):
    application = create_app(tmp_path / "empty.duckdb")
    with TestClient(application) as client:
        page = client.get("/login")
    application.state.workspace.close()
    assert "revaxis users add EMAIL --role admin" in page.text


# CLI --------------------------------------------------------------------------


def test_users_cli_round_trip(tmp_path):
    db = str(tmp_path / "u.duckdb")
    added = runner.invoke(
        cli_app,
        [
            "--db",
            db,
            "users",
            "add",
            "Ann@Example.com",
            "--role",
            "editor",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    assert "Created ann@example.com with role editor." in added.output
    listed = runner.invoke(cli_app, ["--db", db, "users", "list"])
    assert "ann@example.com" in listed.output
    assert "editor" in listed.output
    token = runner.invoke(cli_app, ["--db", db, "users", "token", "ann@example.com"])
    assert token.exit_code == 0
    secret = token.stdout.strip().splitlines()[-1]
    assert secret.startswith("rvx_")
    with revaxis.Workspace(db) as ws:
        assert ws.users.user_for_token(secret).email == "ann@example.com"
    role = runner.invoke(
        cli_app, ["--db", db, "users", "set-role", "ann@example.com", "admin"]
    )
    assert "ann@example.com is now admin." in role.output
    revoked = runner.invoke(cli_app, ["--db", db, "users", "revoke", "1"])
    assert revoked.exit_code == 0
    deleted = runner.invoke(cli_app, ["--db", db, "users", "delete", "ann@example.com"])
    assert deleted.exit_code == 0
    with revaxis.Workspace(db) as ws:
        assert ws.users.count() == 0
        assert ws.users.user_for_token(secret) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["users", "add", "a@example.com", "--role", "boss", "--password-stdin"],
            "Invalid role 'boss'",
        ),
        (["users", "add", "nope", "--password-stdin"], "Invalid email 'nope'"),
        (
            ["users", "set-role", "ghost@example.com", "viewer"],
            "User ghost@example.com not found",
        ),
    ],
    ids=["role", "email", "unknown"],
)
def test_users_cli_errors(tmp_path, args, message):
    db = str(tmp_path / "u.duckdb")
    revaxis.Workspace(db).close()
    result = runner.invoke(cli_app, ["--db", db, *args], input=PASSWORD + "\n")
    assert result.exit_code == 2
    assert message in result.output


def test_users_cli_rejects_short_password(tmp_path):
    db = str(tmp_path / "u.duckdb")
    result = runner.invoke(
        cli_app,
        ["--db", db, "users", "add", "a@example.com", "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code == 2
    assert "at least 10 characters" in result.output


def test_serve_without_users_prints_how_to_start(tmp_path):
    db = tmp_path / "ws.duckdb"
    revaxis.Workspace(db).close()
    result = runner.invoke(cli_app, ["--db", str(db), "serve"])
    assert result.exit_code == 1
    assert "revaxis users add EMAIL --role admin" in result.output


def test_serve_answers_on_port(web_workspace_copy):
    # The real command in its own process: uvicorn on a free local port.
    port = webapp.free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "revaxis"),
            "--db",
            str(web_workspace_copy),
            "serve",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health")
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        me = httpx.get(f"http://127.0.0.1:{port}/api/v1/me")
        assert me.status_code == 401
        # The server has the file open, so another process cannot open it.
        other = subprocess.run(
            [
                str(Path(sys.executable).parent / "revaxis"),
                "--db",
                str(web_workspace_copy),
                "users",
                "list",
            ],
            capture_output=True,
            text=True,
        )
        assert other.returncode == 2
        assert f"PID {process.pid}" in other.stderr
        assert "such as `revaxis serve`" in other.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_language_link_keeps_query(web_client):
    import html
    import re

    page = web_client.get("/login?next=/segments")
    link = html.unescape(re.search(r'href="(/lang/fr\?[^"]+)"', page.text).group(1))
    response = web_client.get(link, follow_redirects=False)
    assert response.headers["location"] == "/login?next=/segments"


def test_unexpected_error_is_json_500(web_workspace_copy, caplog):
    application = create_app(web_workspace_copy)

    def fail() -> None:
        raise RuntimeError("boom")

    # A route that fails on purpose stands for any bug behind a route.
    application.add_api_route("/api/v1/fail", fail)
    with TestClient(application, raise_server_exceptions=False) as client:
        with caplog.at_level(logging.ERROR, logger="revaxis.web"):
            response = client.get("/api/v1/fail")
    application.state.workspace.close()
    assert response.status_code == 500
    assert response.json()["error"]["message"].startswith("Internal error")
    assert "boom" not in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert any("GET /api/v1/fail failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "body", ['{"name":', "[1, 2]", "name=x"], ids=["truncated", "array", "form"]
)
def test_malformed_body_names_body(web_client, body):
    headers = {"X-CSRF-Token": login(web_client, "viewer@example.com")}
    headers["Content-Type"] = "application/json"
    response = web_client.post("/api/v1/tokens", content=body, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["parameter"] == "body"
    assert error["message"].startswith("Invalid request body")


def test_login_redirect_keeps_query(web_client):
    response = web_client.get("/segments?kpi=mrr&axis=plan", follow_redirects=False)
    assert response.headers["location"] == (
        "/login?next=/segments%3Fkpi%3Dmrr%26axis%3Dplan"
    )
    login_page = web_client.get(response.headers["location"])
    assert 'value="/segments?kpi=mrr&amp;axis=plan"' in login_page.text
