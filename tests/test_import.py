"""Imports of the three file formats (canonical csv folder, subscription periods,
mapped exports) into real DuckDB workspaces: typed rows, every problem listed,
atomicity and idempotency."""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import revaxis
from conftest import SHARED_DATA
from revaxis import _importers, _mapping, _staging
from revaxis._countries import normalize_country
from revaxis._fx import MAX_FILL_DAYS, ecb_rates
from revaxis._schema import TABLES
from revaxis.cli import app

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLAYBOOK_PERIODS = FIXTURES / "mrr_playbook" / "subscription_periods.csv"
PLAYBOOK_DERIVED = (
    SHARED_DATA / "dbt-mrr-playbook" / "DERIVED_expected_mrr_movements_by_month.csv"
)
DISPLAYR_LINES = SHARED_DATA / "displayr-flipRevenueMetrics" / "q_invoice_lines.csv"

CUSTOMERS = textwrap.dedent("""\
    customer_id,name,country,metadata.channel,metadata.account_manager
    c1,Acme,FR,SEO,Alice
    c2,Beta,US,Ads,
    """)
# Line numbers: header 1, then i1/1 on line 2, i2/1 on 3, i2/2 on 4.
LINES = textwrap.dedent("""\
    invoice_id,line_id,customer_id,currency,amount,service_period_start,service_period_end
    i1,1,c1,EUR,1200,2024-01-01,2025-01-01
    i2,1,c2,USD,50,2024-02-01,2024-03-01
    i2,2,c2,USD,10,2024-02-01,2024-03-01
    """)
BASE = {"customers.csv": CUSTOMERS, "invoice_lines.csv": LINES}


def write_files(folder: Path, files: dict[str, str]) -> Path:
    """Write each text (dedented) to a file of `folder`, created when absent."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


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
def loaded(ws: revaxis.Workspace, tmp_path: Path) -> revaxis.Workspace:
    """A workspace that already contains the BASE folder."""
    ws.import_path(write_files(tmp_path / "base", BASE))
    return ws


# Canonical folder -----------------------------------------------------------

FULL_FOLDER = {
    **BASE,
    "products.csv": """\
        product_id,name,metadata.family
        p1,Analytics,core
        """,
    "plans.csv": """\
        plan_id,product_id,name,interval_unit,interval_count
        pro-m,p1,Pro monthly,month,
        pro-y,p1,Pro annual,year,1
        """,
    "subscriptions.csv": """\
        subscription_id,customer_id,plan_id,started_at,ended_at,metadata.source
        s1,c1,pro-y,2024-01-01,,web
        """,
    "fx_rates.csv": """\
        date,currency,rate
        2024-01-01,EUR,0.9
        2024-01-02,EUR,0.91
        """,
    "marketing_spend.csv": """\
        month,channel,currency,amount
        2024-01-01,SEO,USD,500
        """,
}


def test_canonical_folder_imports_every_table(ws, tmp_path):
    report = ws.import_path(write_files(tmp_path / "in", FULL_FOLDER))

    # 2 customers + 3 lines + 1 product + 2 plans + 1 subscription + 2 rates
    # + 1 spend row = 12 rows.
    assert report.rows_read == 12
    assert report.rows_imported == 12
    assert report.rows_rejected == 0
    assert report.rows_changed == {
        "products": 1,
        "plans": 2,
        "customers": 2,
        "subscriptions": 1,
        "invoice_lines": 3,
        "fx_rates": 2,
        "marketing_spend": 1,
        # channel c1, channel c2, account_manager c1 (c2's is empty), family p1,
        # source s1.
        "metadata": 5,
    }
    assert ws.counts()["invoice_lines"] == 3


def test_canonical_metadata_columns_become_rows(ws, tmp_path):
    ws.import_path(write_files(tmp_path / "in", FULL_FOLDER))

    rows = ws.con.con.execute("SELECT * FROM metadata ORDER BY ALL").fetchall()
    assert rows == [
        ("customer", "c1", "account_manager", "Alice"),
        ("customer", "c1", "channel", "SEO"),
        ("customer", "c2", "channel", "Ads"),
        ("product", "p1", "family", "core"),
        ("subscription", "s1", "source", "web"),
    ]


def test_canonical_line_takes_defaults(ws, tmp_path):
    ws.import_path(write_files(tmp_path / "in", FULL_FOLDER))

    row = ws.con.con.execute(
        "SELECT invoice_date, kind, status, quantity, discount, tax, amount "
        "FROM invoice_lines WHERE invoice_id = 'i1'"
    ).fetchone()
    assert row == (dt.date(2024, 1, 1), "subscription", "paid", 1.0, 0.0, 0.0, 1200.0)


def test_canonical_fx_base_is_workspace_currency(ws, tmp_path):
    ws.set_setting("currency", "GBP")
    ws.import_path(write_files(tmp_path / "in", FULL_FOLDER))

    bases = ws.con.con.execute("SELECT DISTINCT base FROM fx_rates").fetchall()
    assert bases == [("GBP",)]


def test_canonical_fx_blank_base_is_workspace_currency(ws, tmp_path):
    files = {
        **BASE,
        "fx_rates.csv": """\
            date,currency,rate,base
            2024-01-01,EUR,0.9,
            2024-01-01,EUR,1.1,CHF
            """,
    }
    ws.set_setting("currency", "GBP")

    ws.import_path(write_files(tmp_path / "in", files))

    bases = ws.con.con.execute(
        "SELECT base, rate FROM fx_rates ORDER BY base"
    ).fetchall()
    assert bases == [("CHF", 1.1), ("GBP", 0.9)]


def test_canonical_plan_interval_count_default(ws, tmp_path):
    ws.import_path(write_files(tmp_path / "in", FULL_FOLDER))

    count = ws.con.con.execute(
        "SELECT interval_count FROM plans WHERE plan_id = 'pro-m'"
    ).fetchone()
    assert count == (1,)


def test_canonical_line_without_period_takes_plan_interval(ws, tmp_path):
    files = {
        **FULL_FOLDER,
        "invoice_lines.csv": """\
            invoice_id,line_id,customer_id,invoice_date,currency,plan_id,amount,service_period_start,service_period_end
            i9,1,c1,2024-03-15,USD,pro-y,1200,,
            """,
    }
    ws.import_path(write_files(tmp_path / "in", files))

    period = ws.con.con.execute(
        "SELECT service_period_start, service_period_end FROM invoice_lines"
    ).fetchone()
    assert period == (dt.date(2024, 3, 15), dt.date(2025, 3, 15))


def test_canonical_import_twice_changes_nothing(ws, tmp_path):
    folder = write_files(tmp_path / "in", FULL_FOLDER)
    ws.import_path(folder)
    before = snapshot(ws)
    counts = ws.counts()

    report = ws.import_path(folder, chunk_size=1)

    assert set(report.rows_changed.values()) == {0}
    assert ws.counts() == counts
    assert snapshot(ws) == before


def test_canonical_changed_row_replaces_stored_row(loaded, tmp_path):
    files = {**BASE, "invoice_lines.csv": LINES.replace("1200", "2400")}

    report = loaded.import_path(write_files(tmp_path / "in", files))

    assert report.rows_changed["invoice_lines"] == 1
    amount = loaded.con.con.execute(
        "SELECT amount FROM invoice_lines WHERE invoice_id = 'i1'"
    ).fetchone()
    assert amount == (2400.0,)


def test_canonical_exact_duplicate_rows_merge(ws, tmp_path):
    # Line 5 repeats line 2 exactly, in another chunk (chunk_size 2).
    files = {
        **BASE,
        "invoice_lines.csv": LINES + "i1,1,c1,EUR,1200,2024-01-01,2025-01-01\n",
    }

    report = ws.import_path(write_files(tmp_path / "in", files), chunk_size=2)

    assert report.rows_read == 6
    assert ws.counts()["invoice_lines"] == 3


def test_canonical_blank_lines_keep_line_numbers(loaded, tmp_path):
    lines = LINES + "\ni3,1,c1,EURO,10,2024-01-01,2024-02-01\n"
    files = {**BASE, "invoice_lines.csv": lines}

    with pytest.raises(revaxis.ImportRejected, match="unknown currency") as caught:
        loaded.import_path(write_files(tmp_path / "in", files))

    # Header 1, three lines 2-4, blank line 5, bad line 6.
    assert problem_tuples(caught.value) == [
        ("invoice_lines.csv", 6, "currency", "EURO")
    ]


def test_canonical_unknown_column_is_logged(ws, tmp_path, caplog):
    files = {
        **BASE,
        "customers.csv": CUSTOMERS.replace("country,", "country,notes,")
        .replace("FR,", "FR,x,")
        .replace("US,", "US,y,"),
    }

    with caplog.at_level("WARNING", logger="revaxis._importers"):
        ws.import_path(write_files(tmp_path / "in", files))

    assert "ignoring unknown column(s) notes" in caplog.text


ERROR_CASES = [
    pytest.param(
        {"invoice_lines.csv": LINES + "i3,1,c1,EUR,10,2024-02-30,2024-03-30\n"},
        1000,
        r"invalid date",
        [("invoice_lines.csv", 5, "service_period_start", "2024-02-30")],
        id="malformed-date",
    ),
    pytest.param(
        {"invoice_lines.csv": LINES + "i3,1,c1,EURO,10,2024-01-01,2024-02-01\n"},
        1000,
        r"unknown currency; use an ISO 4217 code",
        [("invoice_lines.csv", 5, "currency", "EURO")],
        id="unknown-currency",
    ),
    pytest.param(
        {"invoice_lines.csv": LINES + "i3,1,c1,EUR,10,2024-03-01,2024-02-01\n"},
        1000,
        r"service period ends before it starts",
        [("invoice_lines.csv", 5, "service_period_end", "2024-02-01")],
        id="end-before-start",
    ),
    pytest.param(
        {
            "invoice_lines.csv": LINES + "i3,1,c1,EUR,10,2024-01-01,2024-02-01\n"
            "i3,1,c1,EUR,99,2024-01-01,2024-02-01\n"
        },
        1000,
        r"the same invoice_id/line_id appears with other content on line\(s\) 6",
        [
            ("invoice_lines.csv", 5, "line_id", "1"),
            ("invoice_lines.csv", 6, "line_id", "1"),
        ],
        id="duplicate-line-id-same-chunk",
    ),
    pytest.param(
        # Chunks of 2 rows: lines 2-3, 4-5, 6; i1/1 is on lines 2 and 6.
        {
            "invoice_lines.csv": LINES + "i3,1,c1,EUR,10,2024-01-01,2024-02-01\n"
            "i1,1,c1,EUR,999,2024-01-01,2025-01-01\n"
        },
        2,
        r"the same invoice_id/line_id appears with other content on line\(s\) 6",
        [
            ("invoice_lines.csv", 2, "line_id", "1"),
            ("invoice_lines.csv", 6, "line_id", "1"),
        ],
        id="duplicate-line-id-across-chunks",
    ),
    pytest.param(
        {"customers.csv": CUSTOMERS + "c1,Acme,FR,Ads,Alice\n"},
        2,
        r"has another value for this metadata key",
        [
            ("customers.csv", 2, "metadata.channel", "SEO"),
            ("customers.csv", 4, "metadata.channel", "Ads"),
        ],
        id="duplicate-customer-metadata",
    ),
    pytest.param(
        {
            "invoice_lines.csv": LINES.replace(",currency,", ",")
            .replace(",EUR,", ",")
            .replace(",USD,", ",")
        },
        1000,
        r"missing required column\(s\) currency",
        [("invoice_lines.csv", 1, None, None)],
        id="missing-required-column",
    ),
    pytest.param(
        {"invoice_lines.csv": LINES + "i3,1,,EUR,10,2024-01-01,2024-02-01\n"},
        1000,
        r"missing value in a required field",
        [("invoice_lines.csv", 5, "customer_id", "")],
        id="missing-required-value",
    ),
    pytest.param(
        {"customers.csv": None},
        1000,
        r"missing required file customers\.csv",
        [("customers.csv", None, None, None)],
        id="missing-required-file",
    ),
    pytest.param(
        {"invoice_line.csv": LINES},
        1000,
        r"unknown file in a canonical import folder",
        [("invoice_line.csv", None, None, None)],
        id="unknown-csv-file",
    ),
    pytest.param(
        {"invoice_lines.csv": LINES + "i3,1,c1,EUR,10,2024-01-01,2024-02-01,x\n"},
        1000,
        r"invoice_lines\.csv:5: the line has 8 field\(s\) but the header has 7",
        [("invoice_lines.csv", 5, None, None)],
        id="extra-field",
    ),
    pytest.param(
        # The quote opened on line 5 runs to the end of the file.
        {"invoice_lines.csv": LINES + 'i3,1,c1,EUR,"10,2024-01-01,2024-02-01\n'},
        1000,
        r"the line has 5 field\(s\) but the header has 7",
        [("invoice_lines.csv", 5, None, None)],
        id="unterminated-quote",
    ),
    pytest.param(
        {"invoice_lines.csv": LINES.replace(",amount,", ",currency,")},
        1000,
        r"the header names the column\(s\) currency more than once",
        [("invoice_lines.csv", 1, None, None)],
        id="column-twice",
    ),
    pytest.param(
        {"invoice_lines.csv": ""},
        1000,
        r"the file is empty; it needs a header line",
        [("invoice_lines.csv", None, None, None)],
        id="empty-file",
    ),
]


@pytest.mark.parametrize(("changes", "chunk_size", "message", "expected"), ERROR_CASES)
def test_canonical_error_is_reported(
    loaded, tmp_path, changes, chunk_size, message, expected
):
    files = {**BASE, **changes}
    folder = write_files(
        tmp_path / "bad", {k: v for k, v in files.items() if v is not None}
    )

    with pytest.raises(revaxis.ImportRejected, match=message) as caught:
        loaded.import_path(folder, chunk_size=chunk_size)

    assert problem_tuples(caught.value) == expected


@pytest.mark.parametrize(("changes", "chunk_size", "message", "expected"), ERROR_CASES)
def test_canonical_error_changes_nothing(
    loaded, tmp_path, changes, chunk_size, message, expected
):
    files = {**BASE, **changes}
    folder = write_files(
        tmp_path / "bad", {k: v for k, v in files.items() if v is not None}
    )
    before = snapshot(loaded)
    counts = loaded.counts()

    with pytest.raises(revaxis.ImportRejected, match=message):
        loaded.import_path(folder, chunk_size=chunk_size)

    assert loaded.counts() == counts
    assert snapshot(loaded) == before


def test_canonical_every_problem_is_listed(loaded, tmp_path):
    # Four bad lines, spread over chunks of 2, plus a bad customer.
    lines = LINES + textwrap.dedent("""\
        i3,1,c1,EURO,10,2024-01-01,2024-02-01
        i4,1,c1,EUR,ten,2024-01-01,2024-02-01
        i5,1,c1,EUR,10,2024-01-01,2023-02-01
        i6,1,c1,EUR,10,01/02/2024,2024-03-01
        """)
    customers = CUSTOMERS + "c3,Gamma,DE,SEO,Bob,extra\n"
    files = {"customers.csv": customers, "invoice_lines.csv": lines}

    with pytest.raises(revaxis.ImportRejected, match=r"5 problem\(s\)") as caught:
        loaded.import_path(write_files(tmp_path / "bad", files), chunk_size=2)

    assert problem_tuples(caught.value) == [
        ("customers.csv", 4, None, None),
        ("invoice_lines.csv", 5, "currency", "EURO"),
        ("invoice_lines.csv", 6, "amount", "ten"),
        ("invoice_lines.csv", 7, "service_period_end", "2023-02-01"),
        ("invoice_lines.csv", 8, "service_period_start", "01/02/2024"),
    ]


def test_canonical_invalid_utf8_is_reported(loaded, tmp_path):
    folder = write_files(tmp_path / "bad", BASE)
    latin1 = "customer_id,name\nc3,Müller\n".encode("latin-1")
    (folder / "customers.csv").write_bytes(latin1)

    with pytest.raises(revaxis.ImportRejected, match="cannot be read as CSV") as caught:
        loaded.import_path(folder)

    assert problem_tuples(caught.value) == [("customers.csv", None, None, None)]


def test_canonical_rejection_message_lists_problems(loaded, tmp_path):
    lines = LINES + "i3,1,c1,EURO,10,2024-01-01,2024-02-01\n"
    folder = write_files(tmp_path / "bad", {**BASE, "invoice_lines.csv": lines})

    with pytest.raises(revaxis.ImportRejected) as caught:
        loaded.import_path(folder)

    assert str(caught.value).splitlines() == [
        "Import rejected: 1 problem(s) in 6 row(s) read; nothing was changed in "
        "the workspace.",
        "  invoice_lines.csv:5: field 'currency', value 'EURO': unknown currency; "
        "use an ISO 4217 code such as USD or EUR",
    ]


def test_write_failure_rolls_back(loaded, tmp_path, monkeypatch):
    files = {**FULL_FOLDER, "invoice_lines.csv": LINES.replace("1200", "2400")}
    folder = write_files(tmp_path / "in", files)
    before = snapshot(loaded)
    original = _staging.Staging._write_table
    written: list[str] = []

    def fail_on_lines(self, name, mode):
        if name == "invoice_lines":
            raise RuntimeError("disk full")
        written.append(name)
        return original(self, name, mode)

    monkeypatch.setattr(_staging.Staging, "_write_table", fail_on_lines)

    with pytest.raises(RuntimeError, match="disk full"):
        loaded.import_path(folder)

    assert written == ["products", "plans", "customers", "subscriptions"]
    assert snapshot(loaded) == before


def test_staging_tables_are_dropped(loaded, tmp_path):
    lines = LINES + "i3,1,c1,EURO,10,2024-01-01,2024-02-01\n"
    folder = write_files(tmp_path / "bad", {**BASE, "invoice_lines.csv": lines})

    with pytest.raises(revaxis.ImportRejected, match="unknown currency"):
        loaded.import_path(folder)

    temp = loaded.con.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary "
        "AND table_name LIKE '_revaxis_import_%'"
    ).fetchall()
    assert temp == []


def test_import_progress_bar_runs(ws, tmp_path):
    report = ws.import_path(write_files(tmp_path / "in", BASE), progress=True)

    assert report.rows_read == 5


# Formats and paths ----------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "format", "mapping", "message"),
    [
        ("missing", None, None, r"Import path .* not found"),
        ("file", None, None, r"is a file, so the format is needed"),
        ("file", "csv", None, r"The csv format reads a folder"),
        ("folder", "periods", None, r"The periods format reads one file"),
        ("file", "stripe", None, r"Unknown import format 'stripe'"),
        ("file", "mapped", None, r"The mapped format needs a mapping"),
        ("folder", "csv", "displayr", r"A mapping is read only by the mapped format"),
        (
            "file",
            "mapped",
            "no-such-mapping",
            r"Mapping 'no-such-mapping' not found.*displayr",
        ),
    ],
    ids=[
        "missing-path",
        "file-without-format",
        "csv-on-file",
        "periods-on-folder",
        "unknown-format",
        "mapped-without-mapping",
        "mapping-with-csv",
        "unknown-mapping",
    ],
)
def test_import_path_rejects_bad_request(
    ws, tmp_path, target, format, mapping, message
):
    folder = write_files(tmp_path / "in", BASE)
    path = {
        "missing": tmp_path / "nothing",
        "file": folder / "customers.csv",
        "folder": folder,
    }[target]

    with pytest.raises(revaxis.InputError, match=message):
        ws.import_path(path, format=format, mapping=mapping)


# Subscription periods -------------------------------------------------------

PERIODS = """\
    customer_id,start_date,end_date,monthly_amount,subscription_id,currency
    a,2024-01-15,2024-03-10,100,s1,
    b,2024-01-31,2024-04-30,30,,EUR
    c,2024-02-01,2024-02-01,20,,
    """


def periods_file(tmp_path: Path, text: str = PERIODS) -> Path:
    path = tmp_path / "periods.csv"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_periods_become_monthly_lines(ws, tmp_path):
    report = ws.import_path(periods_file(tmp_path), format="periods")

    lines = ws.con.con.execute(
        "SELECT invoice_id, line_id, service_period_start, service_period_end, "
        "currency, round(amount, 6) FROM invoice_lines ORDER BY customer_id, line_id"
    ).fetchall()
    got = [tuple(row) for row in lines]
    assert got == [
        # [15 Jan, 15 Feb) is one whole month: 100.
        (
            "a/s1/2024-01-15/2024-03-10",
            "2024-01-15",
            dt.date(2024, 1, 15),
            dt.date(2024, 2, 15),
            "USD",
            100.0,
        ),
        # [15 Feb, 10 Mar) is 24 days: 100 x 24 / 30.4375 = 78.850103.
        (
            "a/s1/2024-01-15/2024-03-10",
            "2024-02-15",
            dt.date(2024, 2, 15),
            dt.date(2024, 3, 10),
            "USD",
            78.850103,
        ),
        # 31 Jan + 1 month is 29 Feb, one whole month by the clamp rule: 30.
        (
            "b//2024-01-31/2024-04-30",
            "2024-01-31",
            dt.date(2024, 1, 31),
            dt.date(2024, 2, 29),
            "EUR",
            30.0,
        ),
        # [29 Feb, 31 Mar): 29 February is its month's last day, so any end day
        # from the 29th on counts as the same day: one whole month, 30.
        (
            "b//2024-01-31/2024-04-30",
            "2024-02-29",
            dt.date(2024, 2, 29),
            dt.date(2024, 3, 31),
            "EUR",
            30.0,
        ),
        # [31 Mar, 30 Apr): 30 is April's last day, one whole month: 30.
        (
            "b//2024-01-31/2024-04-30",
            "2024-03-31",
            dt.date(2024, 3, 31),
            dt.date(2024, 4, 30),
            "EUR",
            30.0,
        ),
    ]
    assert report.rows_read == 3
    # c's period is empty, so c is a customer without lines.
    assert report.rows_changed == {"customers": 3, "invoice_lines": 5}


@pytest.mark.parametrize(
    ("customer", "currency", "start", "end", "monthly"),
    [
        ("a", "USD", dt.date(2024, 1, 15), dt.date(2024, 3, 10), 100.0),
        ("b", "EUR", dt.date(2024, 1, 31), dt.date(2024, 4, 30), 30.0),
    ],
    ids=["mid-month-start", "month-end-start"],
)
def test_periods_mrr_is_monthly_amount_every_day(
    ws, tmp_path, customer, currency, start, end, monthly
):
    ws.import_path(periods_file(tmp_path), format="periods")

    # In the line's own currency, the customer's only movements are new on the
    # first day and churn on the end day, so MRR is `monthly` on every day
    # between: the month boundaries of the lines net to zero.
    moves = ws.movements(currency=currency)
    own = moves[moves["customer_id"] == customer]
    changes = [
        (r.date, r.new, r.churn, r.expansion, r.contraction, r.fx)
        for r in own.itertuples()
    ]
    assert changes == [
        (start, monthly, 0.0, 0.0, 0.0, 0.0),
        (end, 0.0, monthly, 0.0, 0.0, 0.0),
    ]


def test_periods_import_twice_changes_nothing(ws, tmp_path):
    path = periods_file(tmp_path)
    ws.import_path(path, format="periods")
    before = snapshot(ws)

    report = ws.import_path(path, format="periods", chunk_size=1)

    assert report.rows_changed == {"customers": 0, "invoice_lines": 0}
    assert snapshot(ws) == before


def test_periods_keep_existing_customer_attributes(loaded, tmp_path):
    text = """\
        customer_id,start_date,end_date,monthly_amount
        c1,2024-01-01,2024-02-01,10
        """
    report = loaded.import_path(periods_file(tmp_path, text), format="periods")

    assert report.rows_changed["customers"] == 0
    name = loaded.con.con.execute(
        "SELECT name FROM customers WHERE customer_id = 'c1'"
    ).fetchone()
    assert name == ("Acme",)


def test_periods_default_currency_is_workspace_currency(ws, tmp_path):
    ws.set_setting("currency", "EUR")
    text = """\
        customer_id,start_date,end_date,monthly_amount
        a,2024-01-01,2024-02-01,10
        """
    ws.import_path(periods_file(tmp_path, text), format="periods")

    assert ws.con.con.execute("SELECT currency FROM invoice_lines").fetchall() == [
        ("EUR",)
    ]


@pytest.mark.parametrize(
    ("text", "message", "expected"),
    [
        pytest.param(
            """\
            customer_id,start_date,end_date,monthly_amount
            a,2024-03-01,2024-02-01,10
            """,
            r"the period ends before it starts",
            [("periods.csv", 2, "end_date", "2024-02-01")],
            id="end-before-start",
        ),
        pytest.param(
            """\
            customer_id,start_date,end_date,monthly_amount
            a,2024-01-01,2024-02-01,ten
            b,2024-13-01,2024-02-01,10
            """,
            r"invalid number",
            [
                ("periods.csv", 2, "monthly_amount", "ten"),
                ("periods.csv", 3, "start_date", "2024-13-01"),
            ],
            id="invalid-amount-and-date",
        ),
        pytest.param(
            """\
            customer_id,start_date,end_date,monthly_amount,currency
            a,2024-01-01,2024-02-01,10,XYZ
            """,
            r"unknown currency",
            [("periods.csv", 2, "currency", "XYZ")],
            id="unknown-currency",
        ),
        pytest.param(
            """\
            customer_id,start_date,end_date
            a,2024-01-01,2024-02-01
            """,
            r"missing required column\(s\) monthly_amount",
            [("periods.csv", 1, None, None)],
            id="missing-column",
        ),
        pytest.param(
            """\
            customer_id,start_date,end_date,monthly_amount
            a,2024-01-01,2024-03-01,10
            a,2024-01-01,2024-03-01,20
            """,
            r"give the two periods different subscription_id values",
            [
                (
                    "periods.csv",
                    2,
                    "customer_id/subscription_id/start_date/end_date",
                    "a//2024-01-01/2024-03-01",
                ),
                (
                    "periods.csv",
                    3,
                    "customer_id/subscription_id/start_date/end_date",
                    "a//2024-01-01/2024-03-01",
                ),
            ],
            id="same-dates-other-amount",
        ),
    ],
)
def test_periods_error_is_reported(ws, tmp_path, text, message, expected):
    with pytest.raises(revaxis.ImportRejected, match=message) as caught:
        ws.import_path(periods_file(tmp_path, text), format="periods", chunk_size=1)

    assert problem_tuples(caught.value) == expected
    assert ws.counts()["invoice_lines"] == 0


def test_periods_lines_staged_in_bounded_frames(ws, tmp_path, monkeypatch):
    # 36 monthly lines from one period, with frames of at most 5 lines.
    text = """\
        customer_id,start_date,end_date,monthly_amount
        a,2021-01-01,2024-01-01,10
        b,2021-01-01,2021-03-01,10
        """
    sizes: list[int] = []
    original = _importers._Run.stage

    def record(self, target, frame):
        if target.name == "invoice_lines":
            sizes.append(len(frame))
        original(self, target, frame)

    monkeypatch.setattr(_importers._Run, "stage", record)

    ws.import_path(periods_file(tmp_path, text), format="periods", chunk_size=5)

    # A single period's lines stay together; the next period starts a frame.
    assert sizes == [36, 2]
    assert ws.counts()["invoice_lines"] == 38


def test_periods_playbook_fixture_imports(ws):
    report = ws.import_path(PLAYBOOK_PERIODS, format="periods")

    periods = pd.read_csv(PLAYBOOK_PERIODS, parse_dates=["start_date", "end_date"])
    # Every period runs from a 1st to a 1st, so it gives one line per month.
    months = (periods["end_date"].dt.year - periods["start_date"].dt.year) * 12 + (
        periods["end_date"].dt.month - periods["start_date"].dt.month
    )
    assert report.rows_read == 121
    assert report.rows_changed == {"customers": 55, "invoice_lines": int(months.sum())}


@pytest.mark.realdata
@pytest.mark.skipif(
    not PLAYBOOK_DERIVED.exists(), reason="derived playbook table absent"
)
def test_periods_playbook_matches_derived_movements(ws):
    ws.import_path(PLAYBOOK_PERIODS, format="periods")
    report = ws.mrr(start="2018-01", end="2020-02", currency="USD").set_index("period")
    derived = pd.read_csv(PLAYBOOK_DERIVED)
    derived["period"] = derived["date_month"].str.slice(0, 7)
    derived = derived.set_index("period")
    # Months without any MRR or movement have no report row.
    got = report.reindex(derived.index).fillna(0)

    # The derived table samples MRR on the 1st of each month, and ws.mrr()
    # reports it at the end of each month's last day. One might expect month M's
    # mrr_end to equal the sample of M+1, but every playbook period starts and
    # ends (exclusive) on a 1st. A period covers the last day of M exactly when
    # it starts on or before the 1st of M and ends on or after the 1st of M+1.
    # That is exactly when it covers the 1st of M, so month M's mrr_end equals
    # the derived mrr of the same month M.
    assert got["mrr_end"].tolist() == derived["mrr"].tolist()
    assert got["customers_end"].tolist() == derived["active_customers"].tolist()
    # Movements fall in the month of their 1st in both: churn in the month
    # after the last paid month, new and reactivation in the first.
    assert got["new"].tolist() == derived["new_mrr"].tolist()
    assert got["reactivation"].tolist() == derived["reactivation_mrr"].tolist()
    assert got["expansion"].tolist() == derived["upgrade_mrr"].tolist()
    assert got["contraction"].tolist() == (-derived["downgrade_mrr"]).tolist()
    assert got["churn"].tolist() == (-derived["churn_mrr"]).tolist()


# Mapped exports -------------------------------------------------------------

EXPORT = textwrap.dedent("""\
    Invoice,Line,Account,Account name,Country,Owner,Cur,Total,From,To,State
    A-1,1,acc1,  Acme  ,France,Alice,EUR ,120,01/01/2024,01/01/2025,ok
    A-1,2,acc1,Acme,France,Alice,EUR,10,01/01/2024,01/02/2024,ok
    A-2,1,acc2,Beta,United States,,USD,50,01/02/2024,01/03/2024,draft
    A-3,1,acc2,Beta Inc,United States,Bob,USD,60,01/03/2024,01/04/2024,late
    """)
MAPPING = textwrap.dedent("""\
    [[filter]]
    column = "State"
    not_equals = "draft"

    [invoice_lines]
    invoice_id = {column = "Invoice"}
    line_id = {template = "{Invoice}-{Line}"}
    customer_id = {column = "Account"}
    currency = {column = "Cur"}
    amount = {column = "Total"}
    service_period_start = {column = "From", date_format = "%d/%m/%Y"}
    service_period_end = {column = "To", date_format = "%d/%m/%Y"}
    status = {column = "State", map = {"ok" = "paid"}, default = "open"}

    [customers]
    customer_id = {column = "Account"}
    name = {column = "Account name"}
    country = {column = "Country"}
    metadata.account_manager = {column = "Owner"}
    """)


def export_files(tmp_path: Path, export: str = EXPORT, mapping: str = MAPPING):
    write_files(tmp_path, {"export.csv": export, "mapping.toml": mapping})
    return tmp_path / "export.csv", tmp_path / "mapping.toml"


MAPPING_DECIMAL_COMMA = textwrap.dedent("""\
    [source]
    delimiter = ";"

    [invoice_lines]
    invoice_id = {column = "Invoice"}
    line_id = {column = "Line"}
    customer_id = {column = "Account"}
    currency = {column = "Cur"}
    amount = {column = "Total", decimal_comma = true}
    service_period_start = {column = "From", date_format = "%d/%m/%Y"}
    service_period_end = {column = "To", date_format = "%d/%m/%Y"}
    """)


def test_mapped_decimal_comma(ws, tmp_path):
    # A French export: ";" separates fields and "," marks the decimals, with
    # spaces, no-break spaces or dots grouping the thousands.
    export = (
        "Invoice;Line;Account;Cur;Total;From;To\n"
        "F-1;1;acc1;EUR;1 234,50;01/01/2024;01/02/2024\n"
        "F-2;1;acc1;EUR;1.000,25;01/02/2024;01/03/2024\n"
        "F-3;1;acc1;EUR;\u202f12,5;01/03/2024;01/04/2024\n"
        "F-4;1;acc1;EUR;99;01/04/2024;01/05/2024\n"
    )
    path, mapping_path = export_files(tmp_path, export, MAPPING_DECIMAL_COMMA)
    ws.import_path(path, mapping=mapping_path)
    amounts = ws.con.con.execute(
        "SELECT invoice_id, amount FROM invoice_lines ORDER BY invoice_id"
    ).fetchall()
    assert amounts == [("F-1", 1234.5), ("F-2", 1000.25), ("F-3", 12.5), ("F-4", 99.0)]


def test_mapped_decimal_comma_rejects_mixed(ws, tmp_path):
    # "1,234.50" is written the English way: with decimal_comma it stays as it
    # is and fails validation, rather than becoming 1.23450.
    export = (
        "Invoice;Line;Account;Cur;Total;From;To\n"
        "F-1;1;acc1;EUR;1,234.50;01/01/2024;01/02/2024\n"
    )
    path, mapping_path = export_files(tmp_path, export, MAPPING_DECIMAL_COMMA)
    with pytest.raises(
        revaxis.ImportRejected, match=r"field 'Total', value '1,234.50'"
    ):
        ws.import_path(path, mapping=mapping_path)
    assert ws.con.con.execute("SELECT count(*) FROM invoice_lines").fetchone() == (0,)


def test_mapped_csv_export_imports(ws, tmp_path):
    export, mapping = export_files(tmp_path)

    report = ws.import_path(export, mapping=mapping)

    assert (report.rows_read, report.rows_skipped, report.rows_imported) == (4, 1, 3)
    lines = ws.con.con.execute(
        "SELECT invoice_id, line_id, customer_id, currency, amount, "
        "service_period_start, service_period_end, status FROM invoice_lines "
        "ORDER BY ALL"
    ).fetchall()
    assert lines == [
        (
            "A-1",
            "A-1-1",
            "acc1",
            "EUR",
            120.0,
            dt.date(2024, 1, 1),
            dt.date(2025, 1, 1),
            "paid",
        ),
        (
            "A-1",
            "A-1-2",
            "acc1",
            "EUR",
            10.0,
            dt.date(2024, 1, 1),
            dt.date(2024, 2, 1),
            "paid",
        ),
        (
            "A-3",
            "A-3-1",
            "acc2",
            "USD",
            60.0,
            dt.date(2024, 3, 1),
            dt.date(2024, 4, 1),
            "open",
        ),
    ]


def test_mapped_csv_delimiter_and_encoding(ws, tmp_path):
    export = tmp_path / "export.csv"
    text = (
        "Invoice;Account;Name;Cur;Total;From;To\n"
        "A-1;acc1;Müller;EUR;12,5;2024-01-01;2024-02-01\n"
    )
    export.write_bytes(text.encode("latin-1"))
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        textwrap.dedent("""\
            [source]
            delimiter = ";"
            encoding = "latin-1"

            [invoice_lines]
            invoice_id = {column = "Invoice"}
            line_id = {value = "1"}
            customer_id = {column = "Account"}
            currency = {column = "Cur"}
            amount = {column = "Total"}
            service_period_start = {column = "From"}
            service_period_end = {column = "To"}

            [customers]
            customer_id = {column = "Account"}
            name = {column = "Name"}
            """),
        encoding="utf-8",
    )

    # "12,5" uses a decimal comma, which the amount check rejects.
    with pytest.raises(revaxis.ImportRejected, match="invalid number") as caught:
        ws.import_path(export, mapping=mapping)

    assert problem_tuples(caught.value) == [("export.csv", 2, "Total", "12,5")]
    export.write_bytes(text.replace("12,5", "12.5").encode("latin-1"))
    ws.import_path(export, mapping=mapping)
    name = ws.con.con.execute("SELECT name FROM customers").fetchone()
    assert name == ("Müller",)


def test_mapped_customers_take_last_row(ws, tmp_path):
    export, mapping = export_files(tmp_path)

    ws.import_path(export, mapping=mapping)

    # acc1's name is trimmed on line 2 and equal on line 3; acc2's draft line 4
    # is filtered out, so line 5 gives its name and account manager.
    customers = ws.con.con.execute(
        "SELECT customer_id, name, country FROM customers ORDER BY ALL"
    ).fetchall()
    assert customers == [
        ("acc1", "Acme", "France"),
        ("acc2", "Beta Inc", "United States"),
    ]
    metadata = ws.con.con.execute("SELECT * FROM metadata ORDER BY ALL").fetchall()
    assert metadata == [
        ("customer", "acc1", "account_manager", "Alice"),
        ("customer", "acc2", "account_manager", "Bob"),
    ]


def test_mapped_import_twice_changes_nothing(ws, tmp_path):
    export, mapping = export_files(tmp_path)
    ws.import_path(export, mapping=mapping)
    before = snapshot(ws)

    report = ws.import_path(export, mapping=mapping, chunk_size=1)

    assert set(report.rows_changed.values()) == {0}
    assert snapshot(ws) == before


def test_mapped_without_customers_adds_ids_only(loaded, tmp_path):
    mapping = MAPPING.split("[customers]")[0]
    export_text = EXPORT.replace("acc1", "c1")
    export, mapping_path = export_files(tmp_path, export_text, mapping)

    report = loaded.import_path(export, mapping=mapping_path)

    # c1 exists with the name Acme and stays as it is; acc2 is new.
    assert report.rows_changed["customers"] == 1
    rows = loaded.con.con.execute(
        "SELECT customer_id, name FROM customers ORDER BY ALL"
    ).fetchall()
    assert rows == [("acc2", None), ("c1", "Acme"), ("c2", "Beta")]


@pytest.mark.parametrize(
    ("export", "message", "expected"),
    [
        pytest.param(
            EXPORT + "A-4,1,acc3,Gamma,Spain,,EUR,5,31/02/2024,01/03/2024,ok\n",
            r"invalid date; expected the date_format '%d/%m/%Y' of the mapping",
            [("export.csv", 6, "From", "31/02/2024")],
            id="date-format",
        ),
        pytest.param(
            EXPORT + "A-4,1,acc3,Gamma,Spain,,EURO,5,01/02/2024,01/03/2024,ok\n",
            r"unknown currency",
            [("export.csv", 6, "Cur", "EURO")],
            id="unknown-currency",
        ),
        pytest.param(
            EXPORT + "A-1,1,acc1,Acme,France,Alice,EUR,999,01/01/2024,01/01/2025,ok\n",
            r"appears with other content on line\(s\) 6",
            [
                ("export.csv", 2, "line_id", "A-1-1"),
                ("export.csv", 6, "line_id", "A-1-1"),
            ],
            id="duplicate-line",
        ),
    ],
)
def test_mapped_error_is_reported(ws, tmp_path, export, message, expected):
    export_path, mapping = export_files(tmp_path, export)

    with pytest.raises(revaxis.ImportRejected, match=message) as caught:
        ws.import_path(export_path, mapping=mapping, chunk_size=2)

    assert problem_tuples(caught.value) == expected
    assert ws.counts()["invoice_lines"] == 0


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        pytest.param(
            MAPPING + '\n[invoices]\nid = {column = "Invoice"}\n',
            r"Mapping .*mapping\.toml: invoices is not a canonical table or a mapping "
            r"section; use one of: source, filter, products",
            id="unknown-table",
        ),
        pytest.param(
            MAPPING.replace("amount = ", "amout = "),
            r"Mapping .*mapping\.toml: invoice_lines\.amout is not a field of "
            r"invoice_lines; use one of invoice_id",
            id="unknown-field",
        ),
        pytest.param(
            MAPPING.replace('{column = "Total"}', '{column = "Totl"}'),
            r"Mapping .*mapping\.toml: invoice_lines\.amount reads column 'Totl', and "
            r"export\.csv has no such column\. Its columns are: Invoice, Line",
            id="missing-source-column",
        ),
        pytest.param(
            MAPPING.replace('column = "State"\n', 'column = "Status"\n', 1),
            r"filter 1 reads column 'Status'",
            id="missing-filter-column",
        ),
        pytest.param(
            MAPPING.replace('currency = {column = "Cur"}\n', ""),
            r"\[invoice_lines\] has no source for the required field\(s\) currency; "
            r"add for example currency = \{column = \"\.\.\.\"\}",
            id="missing-required-field",
        ),
        pytest.param(
            MAPPING.replace('{column = "Cur"}', '{column = "Cur", value = "EUR"}'),
            r"invoice_lines\.currency needs exactly one of column, value, template, "
            r"cases, found 2",
            id="two-sources",
        ),
        pytest.param(
            MAPPING.replace('{column = "Cur"}', '"Cur"'),
            r"invoice_lines\.currency is 'Cur', not a table",
            id="bare-string",
        ),
        pytest.param(
            MAPPING.replace(
                'not_equals = "draft"', 'not_equals = "draft"\nequals = "x"'
            ),
            r"filter 1 needs exactly one test, found 2",
            id="two-tests",
        ),
        pytest.param(
            MAPPING.replace('not_equals = "draft"', 'matches = "("'),
            r"filter 1\.matches is not a valid regular expression",
            id="bad-regex",
        ),
        pytest.param(
            MAPPING.replace(
                '{template = "{Invoice}-{Line}"}', '{template = "{Invoice!r}"}'
            ),
            r"invoice_lines\.line_id\.template is invalid",
            id="bad-template",
        ),
        pytest.param(
            MAPPING.replace(
                '{column = "Total"}', '{column = "Total", date_format = "%d"}'
            ),
            r"invoice_lines\.amount\.date_format applies only to a date field",
            id="date-format-on-number",
        ),
        pytest.param(
            MAPPING.replace(
                '{column = "Account"}\ncurrency',
                '{column = "Account", decimal_comma = true}\ncurrency',
            ),
            r"invoice_lines\.customer_id\.decimal_comma applies only to a number",
            id="decimal-comma-on-text",
        ),
        pytest.param(
            MAPPING + '\n[source]\nencoding = "klingon"\n',
            r"source\.encoding names the unknown encoding 'klingon'",
            id="unknown-encoding",
        ),
        pytest.param(
            MAPPING + '\n[source]\nseparator = ";"\n',
            r"source\.separator is not a source option",
            id="unknown-source-option",
        ),
        pytest.param(
            MAPPING + '\n[invoice_lines.metadata]\nowner = {column = "Owner"}\n',
            r"is a metadata field, and invoice_lines has no metadata",
            id="metadata-on-lines",
        ),
        pytest.param(
            "[invoice_lines\n",
            r"Mapping .*mapping\.toml is not valid TOML",
            id="invalid-toml",
        ),
    ],
)
def test_mapping_error_names_file_key_and_fix(ws, tmp_path, mapping, message):
    export, mapping_path = export_files(tmp_path, mapping=mapping)

    with pytest.raises(revaxis.InputError, match=message):
        ws.import_path(export, mapping=mapping_path)

    assert ws.counts()["customers"] == 0


def test_mapped_excel_export_imports(ws, tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.title = "Notes"
    sheet = workbook.create_sheet("Invoices")
    sheet.append(["Invoice", "Line", "Account", "Cur", "Total", "From", "To", "Paid"])
    sheet.append(
        [
            1001,
            1,
            "acc1",
            "EUR",
            120.5,
            dt.datetime(2024, 1, 1),
            dt.datetime(2025, 1, 1),
            1.0,
        ]
    )
    sheet.append([None] * 8)
    sheet.append(
        [
            1002,
            1,
            "acc2",
            "usd",
            30,
            dt.datetime(2024, 2, 1),
            dt.datetime(2024, 3, 1),
            0.0,
        ]
    )
    sheet.append(
        [
            1003,
            1,
            "acc2",
            "XXX1",
            30,
            dt.datetime(2024, 2, 1),
            dt.datetime(2024, 3, 1),
            0.0,
        ]
    )
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        textwrap.dedent("""\
            [source]
            sheet = "Invoices"

            [[filter]]
            column = "Cur"
            not_in = ["XXX1"]

            [invoice_lines]
            invoice_id = {template = "INV{Invoice}"}
            line_id = {column = "Line"}
            customer_id = {column = "Account"}
            currency = {column = "Cur"}
            amount = {column = "Total"}
            service_period_start = {column = "From"}
            service_period_end = {column = "To"}
            status = {cases = [
                {column = "Paid", equals = "1", value = "paid"},
            ], default = "open"}
            """),
        encoding="utf-8",
    )

    report = ws.import_path(path, mapping=mapping)

    # Sheet rows 2, 4 and 5 are read (row 3 is blank); row 5 is filtered out.
    assert (report.rows_read, report.rows_skipped, report.rows_imported) == (3, 1, 2)
    lines = ws.con.con.execute(
        "SELECT invoice_id, line_id, currency, amount, service_period_start, status "
        "FROM invoice_lines ORDER BY ALL"
    ).fetchall()
    assert lines == [
        ("INV1001", "1", "EUR", 120.5, dt.date(2024, 1, 1), "paid"),
        ("INV1002", "1", "USD", 30.0, dt.date(2024, 2, 1), "open"),
    ]


def test_mapped_excel_problem_names_sheet_row(ws, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Invoice", "Account", "Cur", "Total", "From", "To"])
    sheet.append(["A", "acc1", "EUR", 10, "2024-01-01", "2024-02-01"])
    sheet.append([None] * 6)
    sheet.append(["B", "acc1", "EUR", "ten", "2024-01-01", "2024-02-01"])
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        textwrap.dedent("""\
            [invoice_lines]
            invoice_id = {column = "Invoice"}
            line_id = {value = 1}
            customer_id = {column = "Account"}
            currency = {column = "Cur"}
            amount = {column = "Total"}
            service_period_start = {column = "From"}
            service_period_end = {column = "To"}
            """),
        encoding="utf-8",
    )

    with pytest.raises(revaxis.ImportRejected, match="invalid number") as caught:
        ws.import_path(path, mapping=mapping)

    assert problem_tuples(caught.value) == [("export.xlsx", 4, "Total", "ten")]


def test_mapped_excel_unknown_sheet(ws, tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["Invoice"])
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    _, mapping = export_files(tmp_path, mapping=MAPPING + '\n[source]\nsheet = "X"\n')

    with pytest.raises(revaxis.InputError, match=r"source\.sheet names the sheet 'X'"):
        ws.import_path(path, mapping=mapping)


def test_packaged_mappings_include_displayr():
    assert "displayr" in _mapping.packaged_mappings()


def test_displayr_mapping_parses():
    mapping = _mapping.load_mapping("displayr")

    assert sorted(mapping.tables) == ["customers", "invoice_lines"]
    assert [(f.column, f.operator, f.operand) for f in mapping.filters] == [
        ("cancelled", "equals", "0.0")
    ]


# Displayr's real invoice lines ----------------------------------------------


def displayr_frame() -> pd.DataFrame:
    """The Displayr lines kept by the shipped mapping, text trimmed."""
    frame = pd.read_csv(DISPLAYR_LINES, dtype=str, keep_default_na=False)
    frame = frame.apply(lambda column: column.str.strip())
    return frame[frame["cancelled"] == "0.0"]


@pytest.mark.realdata
@pytest.mark.skipif(not DISPLAYR_LINES.exists(), reason="Displayr data absent")
def test_displayr_mapping_counts(ws):
    report = ws.import_path(DISPLAYR_LINES, format="mapped", mapping="displayr")

    kept = displayr_frame()
    # 3,769 lines: 975 of cancelled invoices are skipped, 2,794 are imported.
    assert (report.rows_read, report.rows_skipped, report.rows_imported) == (
        3769,
        975,
        2794,
    )
    assert len(kept) == 2794
    # 778 CustOrgIDs in the file (Organization 182 has two, one only on a
    # cancelled invoice); the kept lines name 735.
    assert ws.counts()["customers"] == kept["CustOrgID"].nunique() == 735
    assert ws.counts()["invoice_lines"] == 2794
    status = dict(
        ws.con.con.execute(
            "SELECT status, count(*) FROM invoice_lines GROUP BY status"
        ).fetchall()
    )
    # Paid: 2,376 valid lines and 14 credit lines; open: 349 free and 55 unpaid.
    assert status == {"paid": 2390, "open": 404}
    managers = ws.con.con.execute(
        "SELECT count(*) FROM metadata WHERE key = 'account_manager'"
    ).fetchone()
    assert managers == (kept.loc[kept["salesman"] != "", "CustOrgID"].nunique(),)


def ecb_aud_rate(currency: str, day: pd.Timestamp) -> Fraction:
    """Units of `currency` per AUD on `day`, exactly: the ratio of the last ECB
    reference rates (published with at most 4 decimals) on or before it, at
    most MAX_FILL_DAYS days old, as the engine looks them up."""
    if currency == "AUD":
        return Fraction(1)
    table = ecb_rates()[[currency, "AUD"]].dropna()
    known = table[table.index <= day]
    assert (day - known.index[-1]).days <= MAX_FILL_DAYS
    row = known.iloc[-1]
    return Fraction(str(row[currency])) / Fraction(str(row["AUD"]))


def hand_year_end_mrr_by_country(year: int) -> dict[str, float]:
    """MRR in AUD at the end of 31 December of `year`, by country, from the CSV.

    A line counts when start <= day < end. Its MRR is Amount / months. The
    months are whole calendar months when ValidTo falls on ValidFrom's day of
    the month. That day is clamped to a shorter month, and any later day counts
    when ValidFrom is its month's last day. Other periods count
    days / (365.25 / 12). The MRR is converted at the ECB rate of the start day
    and rounded to the cent half away from zero. A customer's MRR is the sum of
    their lines, floored at zero.
    """
    lines = displayr_frame()
    day = pd.Timestamp(year, 12, 31)
    start = pd.to_datetime(lines["ValidFrom"])
    end = pd.to_datetime(lines["ValidTo"])
    lines = lines[(start <= day) & (end > day)].copy()
    start = pd.to_datetime(lines["ValidFrom"])
    end = pd.to_datetime(lines["ValidTo"])
    same_day = end.dt.day == np.minimum(start.dt.day, end.dt.days_in_month)
    # A start on its month's last day takes any end day from its own day on.
    month_end_start = (start.dt.day == start.dt.days_in_month) & (
        end.dt.day >= start.dt.day
    )
    same_day = same_day | month_end_start
    whole = (end.dt.year - start.dt.year) * 12 + end.dt.month - start.dt.month
    days = (end - start).dt.days
    rates = [
        ecb_aud_rate(cur, pd.Timestamp(s))
        for cur, s in zip(lines["currency"], lines["ValidFrom"], strict=True)
    ]
    # Exact fractions, so that a line worth exactly half a cent rounds away
    # from zero as the definition says (a double holds 5.575 as 5.57499...).
    # 365.25 / 12 days = 487 / 16.
    cents = []
    is_whole = same_day & (whole > 0)
    for amount, whole_months, day_count, whole_flag, rate in zip(
        lines["Amount"], whole, days, is_whole, rates, strict=True
    ):
        length = (
            Fraction(int(whole_months))
            if whole_flag
            else Fraction(int(day_count) * 16, 487)
        )
        value = Fraction(str(amount)) / length / rate * 100
        rounded = math.floor(abs(value) + Fraction(1, 2))
        cents.append(rounded if value >= 0 else -rounded)
    lines["cents"] = cents
    customers = lines.groupby("CustOrgID").agg(
        cents=("cents", "sum"), label=("country_cat", "first")
    )
    customers["cents"] = customers["cents"].clip(lower=0)
    customers["country"] = [
        normalize_country(label) or label for label in customers["label"]
    ]
    by_country = customers.groupby("country")["cents"].sum()
    return {c: v / 100 for c, v in by_country.items() if v > 0}


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not DISPLAYR_LINES.exists(), reason="Displayr data absent")
def test_displayr_country_mrr_matches_pandas(ws):
    ws.import_path(DISPLAYR_LINES, format="mapped", mapping="displayr")

    report = ws.mrr(by="country", interval="year", currency="AUD")
    year = report[(report["period"] == "2015") & (report["mrr_end"] != 0)]
    got = dict(zip(year["country"], year["mrr_end"], strict=True))

    # The file's AUD column converts at fixed rates of 11 June 2016, but the
    # engine converts each line at the ECB rate of its service-period start.
    # So the expected values use the ECB reference rates bundled with revaxis,
    # looked up the same way: the last published rate, at most 7 days back.
    expected = hand_year_end_mrr_by_country(2015)
    assert got.keys() == expected.keys()
    for country, mrr in expected.items():
        assert got[country] == pytest.approx(mrr, abs=0.005), country


# Command line ---------------------------------------------------------------


def test_cli_import_periods(tmp_path):
    db = str(tmp_path / "cli.duckdb")
    args = ["--db", db, "import", str(PLAYBOOK_PERIODS), "--format", "periods"]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    assert "121 rows read, 121 imported" in result.output


def test_cli_rejected_import_exits_1(tmp_path):
    folder = write_files(tmp_path / "bad", {"invoice_lines.csv": LINES})
    db = str(tmp_path / "cli.duckdb")

    result = CliRunner().invoke(app, ["--db", db, "import", str(folder)])

    assert result.exit_code == 1
    assert "missing required file customers.csv" in result.output


@pytest.mark.realdata
@pytest.mark.skipif(not DISPLAYR_LINES.exists(), reason="Displayr data absent")
def test_cli_import_shipped_mapping_by_name(tmp_path):
    db = str(tmp_path / "cli.duckdb")
    args = ["--db", db, "import", str(DISPLAYR_LINES), "--format", "mapped"]

    result = CliRunner().invoke(app, [*args, "--mapping", "displayr"])

    assert result.exit_code == 0, result.output
    assert "975 skipped by the mapping's filters" in result.output
