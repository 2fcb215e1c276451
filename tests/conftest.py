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
