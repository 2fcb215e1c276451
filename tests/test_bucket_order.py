"""Rows of a bucket axis come in bucket order, from the lowest edge up, with
"(none)" last, in every report and output format. Text order would put
"250+" before "50-250" and "1000+" before "500-1000"."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import AS_OF, line
from revaxis._axes import bucket_labels, sort_key
from revaxis._custom_axes import AxisSpec, build_axis
from revaxis.cli import app

MONTHS = [
    ("2024-01-01", "2024-02-01"),
    ("2024-02-01", "2024-03-01"),
    ("2024-03-01", "2024-04-01"),
]
# customer, employees (metadata), monthly amount. With size buckets 0,10,50,250
# they land in 250+, 0-10, 50-250, 10-50 and (none).
CUSTOMERS = [
    ("a", "300", 1200),
    ("b", "5", 50),
    ("c", "100", 600),
    ("d", "20", 150),
    ("e", None, 10),
]
SIZE_ORDER = ["0-10", "10-50", "50-250", "250+", "(none)"]


@pytest.fixture
def size_ws(make_workspace):
    lines = [
        line(customer, start, end, amount, invoice_date=start)
        for customer, _, amount in CUSTOMERS
        for start, end in MONTHS
    ]
    customers = [
        {"customer_id": c, **({"metadata.employees": n} if n is not None else {})}
        for c, n, _ in CUSTOMERS
    ]
    ws = make_workspace(lines, customers=customers)
    ws.create_axis("employees", source="metadata.employees", value_type="number")
    ws.create_axis("size", parent="employees", buckets=[0, 10, 50, 250])
    return ws


def test_bucket_labels_from_edges():
    assert bucket_labels([0, 10, 50, 250]) == ("0-10", "10-50", "50-250", "250+")
    assert bucket_labels([0.5, 2]) == ("0.5-2", "2+")
    assert bucket_labels([]) == ()


def test_sort_key_ranks_unknown_then_none():
    spec = AxisSpec("size", "Size", "customer", "number", "manual", None, (0, 10))
    axis = build_axis(spec, None)  # type: ignore[arg-type]
    frame = pd.DataFrame({"size": ["(none)", "zz", "10+", "aa", "0-10"]})
    ordered = frame.sort_values("size", key=sort_key([axis]))["size"].tolist()
    # Buckets first, then labels outside the buckets as text, "(none)" last.
    assert ordered == ["0-10", "10+", "aa", "zz", "(none)"]


def test_mrr_rows_in_bucket_order(size_ws):
    frame = size_ws.mrr(by="size", start="2024-01", end="2024-02", as_of=AS_OF)
    assert frame["size"].tolist() == SIZE_ORDER * 2
    assert frame["period"].tolist() == ["2024-01"] * 5 + ["2024-02"] * 5
    assert frame["mrr_end"].tolist()[:5] == [50.0, 150.0, 600.0, 1200.0, 10.0]


def test_kpis_rows_in_bucket_order(size_ws):
    frame = size_ws.kpis(by="size", start="2024-03", end="2024-03", as_of=AS_OF)
    assert frame["size"].tolist() == SIZE_ORDER
    assert frame["arpa"].tolist() == [50.0, 150.0, 600.0, 1200.0, 10.0]


def test_cohorts_rows_in_bucket_order(size_ws):
    frame = size_ws.cohorts(by="size", as_of=AS_OF)
    # One cohort, 2024-01; each segment lists its ages 0, 1, 2... in turn.
    first_rows = frame[frame["age"] == 0]
    assert first_rows["size"].tolist() == SIZE_ORDER
    assert first_rows["cohort"].tolist() == ["2024-01"] * 5
    assert frame["size"].drop_duplicates().tolist() == SIZE_ORDER


def test_customer_mrr_rows_in_bucket_order(size_ws):
    frame = size_ws.customer_mrr(by="size", start="2024-01", end="2024-01")
    assert frame["size"].tolist() == ["250+", "0-10", "50-250", "10-50", "(none)"]
    assert frame["customer_id"].tolist() == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("curve", [False, True], ids=["summary", "curve"])
def test_lifetimes_rows_in_bucket_order(size_ws, curve):
    frame = size_ws.lifetimes(by="size", curve=curve, as_of=AS_OF)
    assert frame["size"].drop_duplicates().tolist() == SIZE_ORDER
    if curve:
        for _, steps in frame.groupby("size"):
            assert steps["months"].is_monotonic_increasing


def test_movements_in_band_order_within_a_day(make_workspace):
    # c pays 600 in January and February and 1,200 from March: on 1 March it
    # moves from band 500-1000 to 1000+, which sorts before it as text.
    lines = [
        line("c", "2024-01-01", "2024-03-01", 1200, invoice_date="2024-01-01"),
        line("c", "2024-03-01", "2024-04-01", 1200, invoice_date="2024-03-01"),
    ]
    ws = make_workspace(lines)
    ws.create_axis("band", source="computed.mrr_band", buckets=[0, 100, 500, 1000])
    frame = ws.movements(by="band", as_of=AS_OF)
    march = frame[frame["date"] == pd.Timestamp("2024-03-01").date()]
    assert march["band"].tolist() == ["500-1000", "1000+"]
    assert march["transfer_out"].tolist() == [600.0, 0.0]
    assert march["transfer_in"].tolist() == [0.0, 600.0]
    assert march["expansion"].tolist() == [0.0, 600.0]


def test_mrr_band_rows_in_band_order(make_workspace):
    amounts = {"a": 1200, "b": 50, "c": 600, "d": 150}
    lines = [line(c, "2024-01-01", "2024-02-01", v) for c, v in amounts.items()]
    ws = make_workspace(lines)
    ws.create_axis("band", source="computed.mrr_band", buckets=[0, 100, 500, 1000])
    frame = ws.mrr(by="band", as_of=AS_OF, start="2024-01", end="2024-01")
    assert frame["band"].tolist() == ["0-100", "100-500", "500-1000", "1000+"]
    assert frame["mrr_end"].tolist() == [50.0, 150.0, 600.0, 1200.0]


@pytest.mark.parametrize("command", ["mrr", "kpis"])
@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_cli_rows_in_bucket_order(size_ws, command, fmt):
    result = CliRunner().invoke(
        app,
        [
            "--db",
            str(size_ws.path),
            command,
            "--by",
            "size",
            "--from",
            "2024-01",
            "--to",
            "2024-01",
            "--as-of",
            AS_OF.isoformat(),
            "--format",
            fmt,
        ],
    )
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        sizes = pd.read_csv(io.StringIO(result.stdout), dtype=str)["size"].tolist()
    elif fmt == "json":
        sizes = [row["size"] for row in json.loads(result.stdout)]
    else:
        text = result.stdout
        positions = [text.index(f" {label} ") for label in SIZE_ORDER]
        assert positions == sorted(positions)
        return
    assert sizes == SIZE_ORDER
