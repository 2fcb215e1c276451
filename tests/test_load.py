"""Workspace.load of pandas frames into real DuckDB workspaces: typed rows, every
problem listed with its place, atomicity, idempotency and replacement by key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import revaxis
from revaxis import _importers, _staging, _storage
from revaxis._schema import TABLES

# Frame row i is line i + 2, as if the frame were a CSV file with a header.
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["c1", "c2"],
        "name": ["Acme", "Beta"],
        "metadata.channel": ["SEO", None],
    }
)
LINES = pd.DataFrame(
    {
        "invoice_id": ["i1", "i2"],
        "line_id": ["1", "1"],
        "customer_id": ["c1", "c2"],
        "currency": ["EUR", "USD"],
        "amount": [1200.0, 50.0],
        "service_period_start": ["2024-01-01", "2024-02-01"],
        "service_period_end": ["2025-01-01", "2024-03-01"],
    }
)


def tables(**frames: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """CUSTOMERS and LINES, with the frames given in place of or beside them."""
    return {"customers": CUSTOMERS, "invoice_lines": LINES, **frames}


def lines(**columns: object) -> pd.DataFrame:
    """LINES with the given columns replaced or added."""
    return LINES.assign(**columns)


def snapshot(ws: revaxis.Workspace) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every canonical table, in a stable order."""
    raw = ws.con.con
    return {
        name: raw.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()
        for name in TABLES
    }


def problem_tuples(exc: revaxis.ImportRejected) -> list[tuple[object, ...]]:
    return [(p.file, p.line, p.field, p.value) for p in exc.problems]


@pytest.fixture
def ws(tmp_path: Path) -> revaxis.Workspace:
    workspace = revaxis.Workspace(tmp_path / "ws.duckdb")
    yield workspace
    workspace.close()


@pytest.fixture
def loaded(ws: revaxis.Workspace) -> revaxis.Workspace:
    """A workspace that already contains CUSTOMERS and LINES."""
    ws.load(tables())
    return ws


# Typed rows -----------------------------------------------------------------


def test_load_types_values_of_any_dtype(ws):
    frame = pd.DataFrame(
        {
            "invoice_id": ["\u00a0i1\u3000", "i2", "i3"],
            "line_id": [1, 2, 3],
            "customer_id": ["c1", "c1", "c2"],
            "invoice_date": [pd.Timestamp("2024-01-05"), dt.date(2024, 2, 5), None],
            "currency": [" eur", "Usd", "USD"],
            "kind": ["Subscription", None, "ONE_TIME"],
            "amount": ["1e3", 12.5, 7],
            "service_period_start": ["2024-01-01", "2024-02-01 10:30", None],
            "service_period_end": ["2024-02-01", "2024-03-01", None],
            "status": ["PAID", "open", None],
        }
    )

    ws.load(tables(invoice_lines=frame))

    rows = ws.con.con.execute(
        "SELECT invoice_id, line_id, invoice_date, currency, kind, amount, "
        "service_period_start, status, quantity, discount, tax "
        "FROM invoice_lines ORDER BY invoice_id"
    ).fetchall()
    assert rows == [
        # Unicode spaces are trimmed as by str.strip().
        (
            "i1",
            "1",
            dt.date(2024, 1, 5),
            "EUR",
            "subscription",
            1000.0,
            dt.date(2024, 1, 1),
            "paid",
            1.0,
            0.0,
            0.0,
        ),
        (
            "i2",
            "2",
            dt.date(2024, 2, 5),
            "USD",
            "subscription",
            12.5,
            dt.date(2024, 2, 1),
            "open",
            1.0,
            0.0,
            0.0,
        ),
        # A one-time line may have no service period and no invoice date.
        ("i3", "3", None, "USD", "one_time", 7.0, None, "paid", 1.0, 0.0, 0.0),
    ]


def test_load_invoice_date_defaults_to_period_start(ws):
    ws.load(tables())

    dates = ws.con.con.execute(
        "SELECT invoice_date FROM invoice_lines ORDER BY invoice_id"
    ).fetchall()
    assert dates == [(dt.date(2024, 1, 1),), (dt.date(2024, 2, 1),)]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-03-05", dt.date(2024, 3, 5)),
        ("2024-03-05T23:59:00", dt.date(2024, 3, 5)),
        ("20240305", dt.date(2024, 3, 5)),
        ("2024-03", dt.date(2024, 3, 1)),
        ("2024", dt.date(2024, 1, 1)),
    ],
    ids=["day", "date-time", "basic-day", "month", "year"],
)
def test_load_reads_iso_date_forms(ws, text, day):
    spend = pd.DataFrame(
        {"month": [text], "channel": ["SEO"], "currency": ["usd"], "amount": ["10"]}
    )

    ws.load(tables(marketing_spend=spend))

    stored = ws.con.con.execute("SELECT month, currency FROM marketing_spend")
    assert stored.fetchall() == [(day, "USD")]


def test_load_time_zone_keeps_local_day(ws):
    created = pd.Series([pd.Timestamp("2024-01-01 23:30", tz="America/New_York")])
    frame = pd.DataFrame({"customer_id": ["c1"], "created_at": created})

    ws.load({"customers": frame})

    stored = ws.con.con.execute("SELECT created_at FROM customers").fetchall()
    assert stored == [(dt.date(2024, 1, 1),)]


def test_load_metadata_columns_become_rows(ws):
    ws.load(tables())

    rows = ws.con.con.execute("SELECT * FROM metadata ORDER BY ALL").fetchall()
    # c2's channel is empty, so it has no metadata row.
    assert rows == [("customer", "c1", "channel", "SEO")]


def test_load_fx_base_defaults_to_base_currency(ws):
    rates = pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-02"],
            "currency": ["eur", "EUR"],
            "rate": [0.9, "0.91"],
            "base": ["GBP", " "],
        }
    )

    ws.load(tables(fx_rates=rates), base_currency="CHF")

    stored = ws.con.con.execute(
        "SELECT currency, base FROM fx_rates ORDER BY date"
    ).fetchall()
    assert stored == [("EUR", "GBP"), ("EUR", "CHF")]


def test_load_period_from_plan_interval(ws):
    plans = pd.DataFrame(
        {"plan_id": ["pro-m", "pro-w"], "interval_unit": ["month", "week"]}
    )
    frame = lines(
        invoice_date=["2024-01-31", "2024-02-29"],
        plan_id=["pro-m", "pro-w"],
        service_period_start=[None, ""],
        service_period_end=["", None],
    )

    ws.load(tables(plans=plans, invoice_lines=frame))

    periods = ws.con.con.execute(
        "SELECT service_period_start, service_period_end FROM invoice_lines "
        "ORDER BY invoice_id"
    ).fetchall()
    assert periods == [
        # 31 January + 1 month is the last day of February.
        (dt.date(2024, 1, 31), dt.date(2024, 2, 29)),
        (dt.date(2024, 2, 29), dt.date(2024, 3, 7)),
    ]


# Idempotency and replacement --------------------------------------------------


def test_load_twice_changes_nothing(loaded):
    before = snapshot(loaded)

    report = loaded.load(tables())

    assert report.rows_changed == {
        "customers": 0,
        "invoice_lines": 0,
        "metadata": 0,
    }
    assert snapshot(loaded) == before


def test_load_changed_row_replaces_stored_row(loaded):
    report = loaded.load(tables(invoice_lines=lines(amount=[2400.0, 50.0])))

    assert report.rows_changed["invoice_lines"] == 1
    assert report.rows_changed["customers"] == 0
    stored = loaded.con.con.execute(
        "SELECT invoice_id, amount FROM invoice_lines ORDER BY invoice_id"
    ).fetchall()
    assert stored == [("i1", 2400.0), ("i2", 50.0)]


def test_load_keeps_rows_it_does_not_name(loaded):
    report = loaded.load({"customers": CUSTOMERS.iloc[:1]})

    assert report.rows_changed == {"customers": 0, "metadata": 0}
    assert loaded.counts()["customers"] == 2
    assert loaded.counts()["invoice_lines"] == 2


def test_load_exact_duplicate_rows_merge(ws):
    report = ws.load(tables(invoice_lines=pd.concat([LINES, LINES.iloc[:1]])))

    assert report.rows_read == 5
    # 2 customers and 2 lines: the repeated line is stored once.
    assert report.rows_imported == 4
    assert ws.counts()["invoice_lines"] == 2


# Problems -----------------------------------------------------------------------

LOAD_ERRORS = [
    pytest.param(
        {"invoice_lines": lines(service_period_start=["2024-02-30", "2024-02-01"])},
        r"invalid date; write dates as YYYY-MM-DD",
        [("invoice_lines.csv", 2, "service_period_start", "2024-02-30")],
        id="invalid-date",
    ),
    pytest.param(
        {"invoice_lines": lines(service_period_end=["2025-01-01", "infinity"])},
        r"invalid date",
        [("invoice_lines.csv", 3, "service_period_end", "infinity")],
        id="infinite-date",
    ),
    pytest.param(
        {"invoice_lines": lines(amount=["1,200", "1_000"])},
        r"invalid number; write amounts with a dot",
        [
            ("invoice_lines.csv", 2, "amount", "1,200"),
            ("invoice_lines.csv", 3, "amount", "1_000"),
        ],
        id="invalid-number",
    ),
    pytest.param(
        {"invoice_lines": lines(amount=[np.inf, "nan"])},
        r"invalid number",
        [
            ("invoice_lines.csv", 2, "amount", "inf"),
            ("invoice_lines.csv", 3, "amount", "nan"),
        ],
        id="not-finite-number",
    ),
    pytest.param(
        {"invoice_lines": lines(amount=[12.5, "twelve"])},
        r"invalid number",
        [("invoice_lines.csv", 3, "amount", "twelve")],
        id="mixed-object-column",
    ),
    pytest.param(
        {"invoice_lines": lines(customer_id=["c1", " "], amount=[np.nan, 50.0])},
        r"missing value in a required field",
        [
            ("invoice_lines.csv", 2, "amount", None),
            ("invoice_lines.csv", 3, "customer_id", " "),
        ],
        id="missing-value",
    ),
    pytest.param(
        {"invoice_lines": LINES.drop(columns=["currency"])},
        r"missing required column\(s\) currency",
        [("invoice_lines.csv", 1, None, None)],
        id="missing-column",
    ),
    pytest.param(
        {"invoice_lines": lines(currency=["EURO", "usd"])},
        r"unknown currency; use an ISO 4217 code",
        [("invoice_lines.csv", 2, "currency", "EURO")],
        id="unknown-currency",
    ),
    pytest.param(
        {"invoice_lines": lines(service_period_end=["2023-01-01", "2024-03-01"])},
        r"service period ends before it starts",
        [("invoice_lines.csv", 2, "service_period_end", "2023-01-01")],
        id="end-before-start",
    ),
    pytest.param(
        {"invoice_lines": lines(invoice_id=["i1", "i1"])},
        r"the same invoice_id/line_id appears with other content on line\(s\) 3",
        [
            ("invoice_lines.csv", 2, "line_id", "1"),
            ("invoice_lines.csv", 3, "line_id", "1"),
        ],
        id="duplicate-id",
    ),
    pytest.param(
        {
            "customers": pd.DataFrame(
                {"customer_id": ["c1", "c2", "c1"], "metadata.channel": list("ABC")}
            )
        },
        r"the same customer_id has another value for this metadata key",
        [
            ("customers.csv", 2, "metadata.channel", "A"),
            ("customers.csv", 4, "metadata.channel", "C"),
        ],
        id="metadata-conflict",
    ),
    pytest.param(
        {
            "plans": pd.DataFrame(
                {"plan_id": ["p1", "p2"], "interval_unit": ["decade", "month"]}
            ).assign(interval_count=[1, 1.5])
        },
        r"unknown interval unit",
        [
            ("plans.csv", 2, "interval_unit", "decade"),
            ("plans.csv", 3, "interval_count", "1.5"),
        ],
        id="plan-rules",
    ),
    pytest.param(
        {
            "invoice_lines": lines(
                plan_id=["nope", None],
                service_period_start=[None, None],
                service_period_end=[None, None],
            )
        },
        r"needs a plan_id of a known plan",
        [
            ("invoice_lines.csv", 2, "service_period_start", None),
            ("invoice_lines.csv", 3, "service_period_start", None),
        ],
        id="unknown-plan",
    ),
    pytest.param(
        {
            "fx_rates": pd.DataFrame(
                {"date": ["2024-01-01"], "currency": ["EUR"], "rate": [0.0]}
            )
        },
        r"a rate must be above zero",
        [("fx_rates.csv", 2, "rate", "0.0")],
        id="zero-rate",
    ),
]


@pytest.mark.parametrize(("changes", "message", "expected"), LOAD_ERRORS)
def test_load_error_is_reported(ws, changes, message, expected):
    with pytest.raises(revaxis.ImportRejected, match=message) as caught:
        ws.load(tables(**changes))

    assert problem_tuples(caught.value) == expected


@pytest.mark.parametrize(("changes", "message", "expected"), LOAD_ERRORS)
def test_load_error_changes_nothing(loaded, changes, message, expected):
    before = snapshot(loaded)
    log_rows = loaded.con.con.execute("SELECT count(*) FROM import_log").fetchone()

    with pytest.raises(revaxis.ImportRejected, match=message):
        loaded.load(tables(**changes))

    assert snapshot(loaded) == before
    after = loaded.con.con.execute("SELECT count(*) FROM import_log").fetchone()
    assert after == log_rows


def test_load_every_problem_is_listed(ws):
    bad_customers = pd.DataFrame(
        {"customer_id": ["c1", "c2", ""], "created_at": ["2024-01-01", "x", None]}
    )
    bad_lines = lines(
        currency=["EURO", "USD"],
        amount=[1200.0, "ten"],
        service_period_end=["2023-01-01", "2024-03-01"],
    )

    with pytest.raises(revaxis.ImportRejected, match=r"5 problem\(s\)") as caught:
        ws.load(
            {"invoice_lines": bad_lines, "customers": bad_customers},
            files={"customers": "crm.csv"},
        )

    # Tables in import order (customers before invoice lines), then by line.
    assert problem_tuples(caught.value) == [
        ("crm.csv", 3, "created_at", "x"),
        ("crm.csv", 4, "customer_id", ""),
        ("invoice_lines.csv", 2, "currency", "EURO"),
        ("invoice_lines.csv", 2, "service_period_end", "2023-01-01"),
        ("invoice_lines.csv", 3, "amount", "ten"),
    ]


def test_load_line_column_numbers_problems(ws):
    frame = CUSTOMERS.assign(customer_id=["c1", ""], _line=[10, 20])

    with pytest.raises(revaxis.ImportRejected, match="missing value") as caught:
        ws.load({"customers": frame})

    assert problem_tuples(caught.value) == [("customers.csv", 20, "customer_id", "")]


# Chunks and transactions ------------------------------------------------------


def test_load_stages_bounded_chunks(ws, monkeypatch):
    sizes: list[tuple[str, int]] = []
    original = _staging.Staging.stage

    def record(self, target, rows):
        sizes.append((target.name, rows.num_rows))
        return original(self, target, rows)

    monkeypatch.setattr(_importers, "DEFAULT_CHUNK_ROWS", 2)
    monkeypatch.setattr(_staging.Staging, "stage", record)

    more = LINES.assign(invoice_id=["i3", "i4"])
    ws.load(tables(invoice_lines=pd.concat([LINES, more, LINES.iloc[:1]])))

    assert sizes == [
        ("customers", 2),
        ("invoice_lines", 2),
        ("invoice_lines", 2),
        ("invoice_lines", 1),
    ]
    assert ws.counts()["invoice_lines"] == 4


def test_load_duplicate_across_chunks(ws, monkeypatch):
    # Chunks of 2 rows: lines 2-3 and 4-5; i1/1 is on lines 2 and 5.
    frame = pd.concat([LINES, LINES.assign(invoice_id=["i3", "i1"], amount=9.0)])
    monkeypatch.setattr(_importers, "DEFAULT_CHUNK_ROWS", 2)

    with pytest.raises(revaxis.ImportRejected, match=r"on line\(s\) 5") as caught:
        ws.load(tables(invoice_lines=frame))

    assert problem_tuples(caught.value) == [
        ("invoice_lines.csv", 2, "line_id", "1"),
        ("invoice_lines.csv", 5, "line_id", "1"),
    ]


def test_load_write_failure_rolls_back(loaded, monkeypatch):
    before = snapshot(loaded)
    original = _storage.write_rows
    written: list[str] = []

    def fail_on_lines(raw, table, rows, mode):
        if table == "invoice_lines":
            raise RuntimeError("disk full")
        written.append(table)
        return original(raw, table, rows, mode)

    monkeypatch.setattr(_storage, "write_rows", fail_on_lines)
    changed = CUSTOMERS.assign(name=["Acme Inc", "Beta"])

    with pytest.raises(RuntimeError, match="disk full"):
        loaded.load(tables(customers=changed, invoice_lines=lines(amount=[1.0, 2.0])))

    assert written == ["customers"]
    assert snapshot(loaded) == before


def test_load_staging_tables_are_dropped(ws):
    with pytest.raises(revaxis.ImportRejected, match="unknown currency"):
        ws.load(tables(invoice_lines=lines(currency=["EURO", "USD"])))
    ws.load(tables())

    temporary = ws.con.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary"
    ).fetchall()
    assert temporary == []
