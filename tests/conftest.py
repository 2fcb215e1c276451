from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import revaxis

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# A fixed report day, so that results do not depend on when the tests run.
AS_OF = dt.date(2025, 6, 30)


def line(
    customer: str,
    start: str | None,
    end: str | None,
    amount: float,
    **extra: object,
) -> dict[str, object]:
    """An invoice line with a generated id; keyword arguments set other columns."""
    line.counter += 1  # type: ignore[attr-defined]
    row: dict[str, object] = {
        "invoice_id": f"inv{line.counter}",  # type: ignore[attr-defined]
        "line_id": "1",
        "customer_id": customer,
        "currency": "USD",
        "amount": amount,
        "service_period_start": start,
        "service_period_end": end,
    }
    row.update(extra)
    return row


line.counter = 0  # type: ignore[attr-defined]

WorkspaceFactory = Callable[..., revaxis.Workspace]


@pytest.fixture
def make_workspace(tmp_path: Path) -> WorkspaceFactory:
    """Build a workspace in a fresh DuckDB file from invoice lines and optional
    other canonical tables given as lists of dicts."""
    opened: list[revaxis.Workspace] = []

    def build(lines: list[dict[str, object]], **tables: object) -> revaxis.Workspace:
        ws = revaxis.Workspace(tmp_path / f"ws{len(opened)}.duckdb")
        opened.append(ws)
        settings = tables.pop("settings", {})
        for key, value in dict(settings).items():  # type: ignore[call-overload]
            ws.set_setting(key, value)
        customers = tables.pop("customers", None)
        if customers is None:
            ids = sorted({str(row["customer_id"]) for row in lines})
            customers = [{"customer_id": cid} for cid in ids]
        frames = {"customers": pd.DataFrame(customers)}
        if lines:
            frames["invoice_lines"] = pd.DataFrame(lines)
        for name, rows in tables.items():
            frames[name] = pd.DataFrame(rows)
        ws.load(frames)
        return ws

    yield build
    for ws in opened:
        ws.close()


@pytest.fixture(scope="session")
def web_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The web app's test workspace (tests/webapp.py), built once; tests that
    change it copy it first with `web_workspace_copy`."""
    from tests import webapp

    return webapp.build_workspace(tmp_path_factory.mktemp("web") / "web.duckdb")


@pytest.fixture
def web_workspace_copy(web_workspace: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "web.duckdb"
    shutil.copy(web_workspace, copy)
    return copy


@pytest.fixture
def web_client(web_workspace_copy: Path):
    """A TestClient on a fresh copy of the web test workspace, logged out."""
    from fastapi.testclient import TestClient

    from revaxis.web import create_app

    app = create_app(web_workspace_copy)
    with TestClient(app) as client:
        yield client
    app.state.workspace.close()


@pytest.fixture
def api_headers(web_client) -> dict[str, dict[str, str]]:
    """Bearer-token headers for `web_client`, one per role:
    `api_headers["editor"]`."""
    from tests import webapp

    state = web_client.app.state
    headers = {}
    with state.users_lock:
        for email, role in webapp.USERS.items():
            token = state.users.create_token(email, "tests")
            headers[role] = {"Authorization": f"Bearer {token}"}
    return headers


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright. Skips when it is not installed,
    unless REVAXIS_REQUIRE_BROWSER is set (as CI does), which makes it fail."""
    import os

    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium package"
        if os.environ.get("REVAXIS_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def live_server(web_workspace_copy: Path):
    """The web app on a fresh copy of the test workspace, served by uvicorn on
    127.0.0.1 and a free port."""
    from tests import webapp

    with webapp.LiveServer(web_workspace_copy) as server:
        yield server


@pytest.fixture
def page(browser, live_server):
    """A browser page logged in as the admin of the live server; the test fails
    on any console error or failed request of the page."""
    from tests import webapp

    context = browser.new_context(accept_downloads=True, locale="en-US")
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error"
            else None
        ),
    )
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on(
        "requestfailed",
        lambda request: problems.append(f"request failed: {request.url}"),
    )
    tab.goto(live_server.url + "/login")
    tab.fill("input[name=email]", "admin@example.com")
    tab.fill("input[name=password]", webapp.PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url("**/overview")
    tab.problems = problems  # type: ignore[attr-defined]
    yield tab
    context.close()
    assert not problems, "\n".join(problems)
