"""A small workspace with known numbers, its users, and helpers to reach the web
app through a TestClient or a live server.

The data (USD, monthly lines, service_period_end exclusive):

| customer | plan  | country | channel | months paid            | MRR       |
|----------|-------|---------|---------|------------------------|-----------|
| c1       | Pro   | US      | SEO     | 2025-01 .. 2025-06     | 100       |
| c2       | Basic | FR      | Ads     | 2025-01 .. 2025-03     | 50        |
| c3       | Basic | DE      | SEO     | 2025-02 .. 2025-03     | 50        |
| c3       | Pro   | DE      | SEO     | 2025-04 .. 2025-06     | 100       |
| c4       | Pro   | US      | Ads     | 2025-03 .. 2025-06     | 100       |

So, month by month (mrr_end): Jan 150, Feb 200, Mar 300, Apr 300 (c2 churns
-50 on 1 April, c3 expands +50), May 300, Jun 300. Every line ends on 1 July
2025, so with a report day in July or later no customer pays and the reports
end in June 2025.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import uvicorn
from fastapi.testclient import TestClient

import revaxis
from revaxis.web import create_app

PASSWORD = "correct horse battery"
USERS = {
    "admin@example.com": "admin",
    "editor@example.com": "editor",
    "viewer@example.com": "viewer",
}
# Report day of the tests that pass `as_of`: the last day anyone pays.
AS_OF = dt.date(2025, 6, 30)

_SCHEDULE = [
    ("c1", "pro", ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]),
    ("c2", "basic", ["2025-01", "2025-02", "2025-03"]),
    ("c3", "basic", ["2025-02", "2025-03"]),
    ("c3", "pro", ["2025-04", "2025-05", "2025-06"]),
    ("c4", "pro", ["2025-03", "2025-04", "2025-05", "2025-06"]),
]
_PRICES = {"pro": 100.0, "basic": 50.0}


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return f"{year:04d}-{number:02d}-01"


def tables() -> dict[str, pd.DataFrame]:
    """The canonical tables of the test workspace."""
    lines = []
    for customer, plan, months in _SCHEDULE:
        for month in months:
            lines.append(
                {
                    "invoice_id": f"{customer}-{month}",
                    "line_id": "1",
                    "customer_id": customer,
                    "invoice_date": f"{month}-01",
                    "currency": "USD",
                    "plan_id": plan,
                    "product_id": "app",
                    "service_period_start": f"{month}-01",
                    "service_period_end": _next_month(month),
                    "amount": _PRICES[plan],
                }
            )
    customers = [
        {
            "customer_id": "c1",
            "name": "Acme Corp",
            "country": "US",
            "metadata.channel": "SEO",
        },
        {
            "customer_id": "c2",
            "name": "Bistro Paris",
            "country": "FR",
            "metadata.channel": "Ads",
        },
        {
            "customer_id": "c3",
            "name": "Cobalt GmbH",
            "country": "DE",
            "metadata.channel": "seo ",
        },
        {
            "customer_id": "c4",
            "name": "Delta Inc",
            "country": "US",
            "metadata.channel": "Ads",
        },
    ]
    return {
        "products": pd.DataFrame([{"product_id": "app", "name": "App"}]),
        "plans": pd.DataFrame(
            [
                {
                    "plan_id": "pro",
                    "product_id": "app",
                    "name": "Pro",
                    "interval_unit": "month",
                },
                {
                    "plan_id": "basic",
                    "product_id": "app",
                    "name": "Basic",
                    "interval_unit": "month",
                },
            ]
        ),
        "customers": pd.DataFrame(customers),
        "invoice_lines": pd.DataFrame(lines),
    }


def build_workspace(path: Path) -> Path:
    """Write the test workspace with its three users (one per role) to `path`."""
    with revaxis.Workspace(path) as ws:
        ws.load(tables(), source="webapp-test")
        ws.create_axis("channel", source="metadata.channel", level="customer")
        for email, role in USERS.items():
            ws.users.add(email, PASSWORD, role)
    return path


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form in a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log `client` in and return the session's CSRF token."""
    page = client.get("/login")
    token = csrf_of(page.text)
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/login").text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, workspace_path: Path) -> None:
        self.app = create_app(workspace_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.workspace.close()


def serve(workspace_path: Path) -> Iterator[LiveServer]:
    with LiveServer(workspace_path) as server:
        yield server
