"""Shortcuts that compute less than the full movement pipeline give the same
numbers as the full pipeline: axis coverage read from segment events
(`Workspace.axes`), and one customer's details computed from that customer's
invoice lines only (`Workspace.customer`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import revaxis
from revaxis import _axes, _customers, _report
from revaxis.demo import generate_demo

DEMO_END = dt.date(2025, 6, 30)
# A report day inside the demo history, so that some customers pay and some
# have churned.
DEMO_AS_OF = dt.date(2025, 3, 15)


def _add_custom_axes(ws: revaxis.Workspace) -> None:
    """Add one custom axis of every kind the demo data can feed."""
    ws.create_axis("channel", source="metadata.channel")
    ws.add_rule("channel", "map", "seo", "SEO")
    ws.create_axis("manager", source="metadata.account_manager")
    first = ws.table("customers").customer_id.execute().sort_values().iloc[0]
    # A value history: the customer changes manager mid-history.
    ws.set_axis_value("manager", first, "Zed", valid_from=dt.date(2024, 11, 15))
    ws.create_axis("employees", source="metadata.employees", value_type="number")
    ws.create_axis("size", parent="employees", buckets=[0, 10, 50, 250])
    ws.create_axis("band", source="computed.mrr_band", buckets=[0, 100, 500, 1000])
    ws.create_axis("stage", source="computed.lifecycle")
    ws.create_axis("plan_family", parent="plan")
    ws.add_rule("plan_family", "regex", "(?i)^pro", "Pro")
    ws.create_axis("tier", level="product", source="manual")
    product = ws.table("products").product_id.execute().sort_values().iloc[0]
    ws.set_axis_value("tier", product, "Premium")


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    tables = generate_demo(customers=80, months=24, seed=5, end=DEMO_END)
    with revaxis.Workspace(path) as ws:
        ws.load(tables, source="demo", format="demo")
        _add_custom_axes(ws)
        # Bridge renewal gaps, so that the per-axis states matter.
        ws.set_setting("grace_days", 5)
    return path


@pytest.fixture
def demo_ws(demo_path: Path):
    with revaxis.Workspace(demo_path) as ws:
        yield ws


def _axes_from_movements(ws: revaxis.Workspace, as_of: dt.date) -> pd.DataFrame:
    """Compute `Workspace.axes` the slow way: the full movement pipeline by
    each axis, read as the segments paying at the coverage end."""
    currency = ws.report_currency()
    rows = []
    for key, axis in ws.axes_registry().items():
        movements, states, columns = ws._pipeline([key], currency, as_of)
        column = columns[0]
        end = ws._coverage_end(states, as_of)
        labelled = movements.filter(movements[column] != _axes.NONE_LABEL)
        values = int(labelled[column].nunique().execute())
        paying = _report.paying_segments(movements, column, end).execute()
        ws._release()
        has_value = paying[paying[column] != _axes.NONE_LABEL]
        customers = paying["customer_id"].nunique()
        total = int(paying["mrr_cents"].sum())
        rows.append(
            {
                "key": key,
                "label": axis.label,
                "level": axis.level,
                "source": axis.source,
                "values": values,
                "customers_coverage": (
                    round(has_value["customer_id"].nunique() / customers, 4)
                    if customers
                    else None
                ),
                "mrr_coverage": (
                    round(int(has_value["mrr_cents"].sum()) / total, 4)
                    if total
                    else None
                ),
            }
        )
    return pd.DataFrame(rows)


def test_axes_coverage_matches_movements(demo_ws):
    expected = _axes_from_movements(demo_ws, DEMO_AS_OF)
    actual = demo_ws.axes(as_of=DEMO_AS_OF)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
    # The comparison means something: some axes cover part of the MRR.
    partial = actual[actual["mrr_coverage"] < 1]
    assert {"manager", "tier", "churn_reason"} <= set(partial["key"])


def _assert_same_details(
    ws: revaxis.Workspace, customer_ids: list[str], as_of: dt.date
) -> None:
    """Compare `Workspace.customer` with the details read from the snapshot of
    every customer, and its movements with `Workspace.movements`."""
    currency = ws.report_currency()
    try:
        snapshot = _customers._snapshot(ws, currency, as_of)
        expected = {
            customer_id: _customers.details(ws, customer_id, currency, as_of, snapshot)
            for customer_id in customer_ids
        }
    finally:
        ws._release()
    everyone = ws.movements(as_of=as_of)
    for customer_id in customer_ids:
        actual = ws.customer(customer_id, as_of=as_of)
        want = expected[customer_id]
        assert actual["customer"] == want["customer"], customer_id
        assert actual["metadata"] == want["metadata"], customer_id
        assert actual["attributes"] == want["attributes"], customer_id
        pd.testing.assert_frame_equal(actual["mrr_history"], want["mrr_history"])
        pd.testing.assert_frame_equal(actual["movements"], want["movements"])
        mine = everyone[everyone["customer_id"] == customer_id]
        pd.testing.assert_frame_equal(actual["movements"], mine.reset_index(drop=True))


@pytest.mark.parametrize(
    "as_of",
    [dt.date(2025, 6, 30), dt.date(2026, 1, 31)],
    ids=["while-paying", "after-every-line-ended"],
)
def test_customer_matches_whole_workspace_web(web_workspace_copy, as_of):
    with revaxis.Workspace(web_workspace_copy) as ws:
        # c9 has never paid.
        ws.load({"customers": pd.DataFrame([{"customer_id": "c9"}])})
        _assert_same_details(ws, ["c1", "c2", "c3", "c4", "c9"], as_of)


def test_customer_matches_whole_workspace_demo(demo_ws):
    frame, _ = demo_ws.customers(limit=1000, as_of=DEMO_AS_OF)
    chosen = []
    for status in ["active", "churned", "never"]:
        ids = frame[frame["status"] == status]["customer_id"].head(2).tolist()
        assert ids, f"the demo has no {status} customer on {DEMO_AS_OF}"
        chosen += ids
    _assert_same_details(demo_ws, chosen, DEMO_AS_OF)
