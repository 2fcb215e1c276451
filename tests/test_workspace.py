"""Workspace file, settings, public API and the library pins the engine needs."""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import pandas as pd
import pytest

import revaxis
from conftest import AS_OF, line
from revaxis._schema import SCHEMA_VERSION


def test_public_names_are_sorted_and_exported():
    assert revaxis.__all__ == sorted(revaxis.__all__)
    for name in revaxis.__all__:
        assert hasattr(revaxis, name), name


def test_ibis_pins_support_table_round_trip(tmp_path):
    # ibis 12 with sqlglot >= 30.18 emits an empty DROP TABLE and duckdb 2
    # breaks list_tables: fail loudly if an upgrade brings either back.
    con = ibis.duckdb.connect(str(tmp_path / "pins.duckdb"))
    frame = pd.DataFrame({"a": [1, 2]})
    con.create_table("t", frame, overwrite=True)
    con.create_table("t", frame.assign(a=[3, 4]), overwrite=True)
    assert con.list_tables() == ["t"]
    assert con.table("t").a.sum().execute() == 7
    con.drop_table("t")
    assert con.list_tables() == []


def test_new_workspace_has_schema_version(tmp_path):
    path = tmp_path / "new.duckdb"
    revaxis.Workspace(path).close()
    with duckdb.connect(str(path)) as con:
        row = con.execute(
            "SELECT value FROM revaxis_meta WHERE key = 'schema_version'"
        ).fetchone()
    assert row == (str(SCHEMA_VERSION),)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.duckdb"
    revaxis.Workspace(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute(
            "UPDATE revaxis_meta SET value = '999' WHERE key = 'schema_version'"
        )
    with pytest.raises(revaxis.WorkspaceError, match="schema version 999, newer"):
        revaxis.Workspace(path)


def test_db_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("REVAXIS_DB", str(tmp_path / "env.duckdb"))
    with revaxis.Workspace() as ws:
        assert ws.path == tmp_path / "env.duckdb"
    assert (tmp_path / "env.duckdb").exists()


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("currency", "eur", "EUR"),
        ("grace_days", "7", "7"),
        ("delinquency_days", "30", "30"),
        ("refunds", "remove", "remove"),
    ],
    ids=["currency", "grace", "delinquency", "refunds"],
)
def test_settings_are_validated_and_stored(tmp_path, key, value, stored):
    path = tmp_path / "s.duckdb"
    with revaxis.Workspace(path) as ws:
        ws.set_setting(key, value)
    with revaxis.Workspace(path) as ws:
        assert ws.settings[key] == stored


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("currency", "EURO", "Unknown currency 'EURO'"),
        ("grace_days", "-1", "cannot be negative"),
        ("grace_days", "a week", "write a whole number"),
        ("refunds", "keep", "use ignore or remove"),
        ("colour", "red", "Unknown setting 'colour'"),
    ],
    ids=["currency", "negative", "not-a-number", "refunds", "unknown"],
)
def test_bad_setting_is_rejected(tmp_path, key, value, message):
    with (
        revaxis.Workspace(tmp_path / "s.duckdb") as ws,
        pytest.raises(revaxis.InputError, match=message),
    ):
        ws.set_setting(key, value)


def test_settings_have_defaults(tmp_path):
    with revaxis.Workspace(tmp_path / "d.duckdb") as ws:
        assert ws.settings == {
            "currency": "USD",
            "grace_days": "0",
            "delinquency_days": None,
            "refunds": "ignore",
            "gross_margin": "1.0",
            "ltv_window_months": "6",
            "channel_axis": "channel",
        }


def test_currency_environment_overrides_setting(make_workspace, monkeypatch):
    ws = make_workspace(
        [line("a", "2024-01-01", "2024-02-01", 100, currency="EUR")],
        fx_rates=[{"date": "2024-01-01", "currency": "EUR", "rate": 0.8}],
    )
    monkeypatch.setenv("REVAXIS_CURRENCY", "EUR")
    # In EUR no conversion: 100; an explicit currency wins over the variable.
    january = {"start": "2024-01", "end": "2024-01", "as_of": AS_OF}
    assert ws.mrr(**january)["mrr_end"].tolist() == [100.0]
    assert ws.mrr(currency="USD", **january)["mrr_end"].tolist() == [125.0]


def test_ecb_rates_used_without_imported_rates(make_workspace):
    ws = make_workspace([line("a", "2024-01-02", "2024-02-02", 100, currency="EUR")])
    # ECB reference rate of 2 January 2024: 1 EUR = 1.0956 USD, so 100 EUR is
    # 109.56 USD.
    assert ws.mrr(end="2024-01", as_of=AS_OF)["mrr_end"].tolist() == [109.56]


def test_native_axes_on_customer_attributes(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-10", "2024-02-10", 100),
            line("b", "2024-02-05", "2024-03-05", 40),
            line("c", "2024-04-01", "2024-05-01", 10),
        ],
        customers=[
            {"customer_id": "a", "country": "  France "},
            {"customer_id": "b", "country": "Deutschland"},
            {"customer_id": "c", "country": "Narnia"},
        ],
    )
    frame = ws.movements(by="country,region,cohort_quarter", as_of=AS_OF)
    news = frame[frame["new"] > 0][
        ["customer_id", "country", "region", "cohort_quarter"]
    ]
    assert news.values.tolist() == [
        ["a", "FR", "Europe", "2024-Q1"],
        ["b", "DE", "Europe", "2024-Q1"],
        # An unknown label stays as written and has no region.
        ["c", "Narnia", "(none)", "2024-Q2"],
    ]


def test_interval_axis_from_plan_and_line(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2025-01-01", 1200, plan_id="y"),
            line("b", "2024-01-01", "2024-04-01", 300),
            line("c", "2024-01-01", "2024-01-08", 10),
        ],
        plans=[{"plan_id": "y", "interval_unit": "year", "interval_count": 1}],
    )
    frame = ws.movements(by="interval", as_of=dt.date(2024, 1, 31))
    assert dict(zip(frame["customer_id"], frame["interval"], strict=True)) == {
        "a": "annual",
        "b": "quarterly",
        "c": "weekly",
    }


def test_axes_list_reports_coverage(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-07-01", 600, plan_id="p"),
            line("b", "2024-01-01", "2024-07-01", 300),
        ],
        customers=[
            {"customer_id": "a", "country": "FR"},
            {"customer_id": "b"},
        ],
    )
    frame = ws.axes(as_of=dt.date(2024, 3, 15)).set_index("key")
    # a pays 100 with plan p and country FR; b pays 50 with neither.
    assert frame.loc["plan", "values"] == 1
    assert frame.loc["plan", "customers_coverage"] == 0.5
    assert frame.loc["plan", "mrr_coverage"] == round(100 / 150, 4)
    assert frame.loc["country", "customers_coverage"] == 0.5
    assert frame.loc["currency", "mrr_coverage"] == 1.0


def test_axes_coverage_with_history_and_credit(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-07-01", 600),
            line("b", "2024-01-01", "2024-07-01", 300),
            line("c", "2024-01-01", "2024-07-01", 720),
            # A credit line: c pays 120 - 20 = 100 a month.
            line("c", "2024-01-01", "2024-07-01", -120),
        ]
    )
    ws.create_axis("manager", source="manual")
    ws.set_axis_value("manager", "a", "Ann", valid_from="2024-03-01")
    ws.set_axis_value("manager", "b", "Bob", valid_from="2024-04-01")
    row = ws.axes(as_of=dt.date(2024, 3, 15)).set_index("key").loc["manager"]
    # On 15 March a pays 100 with Ann, b 50 and c 100 without a manager. Bob's
    # value starts after the report day, so only Ann is counted.
    assert row["values"] == 1
    assert row["customers_coverage"] == round(1 / 3, 4)
    assert row["mrr_coverage"] == round(100 / 250, 4)
    later = ws.axes(as_of=dt.date(2024, 4, 15)).set_index("key").loc["manager"]
    # On 15 April b has Bob too: 150 of 250.
    assert later["values"] == 2
    assert later["customers_coverage"] == round(2 / 3, 4)
    assert later["mrr_coverage"] == round(150 / 250, 4)


def test_line_of_unknown_customer_is_rejected(tmp_path):
    with revaxis.Workspace(tmp_path / "u.duckdb") as ws:
        ws.load({"customers": pd.DataFrame([{"customer_id": "a"}])})
        lines = pd.DataFrame(
            [
                line("a", "2024-01-01", "2024-02-01", 10),
                line("ab", "2024-01-01", "2024-02-01", 10),
            ]
        )
        with pytest.raises(
            revaxis.ImportRejected,
            match=r"invoice_lines.csv:3: field 'customer_id', value 'ab': unknown "
            "customer",
        ):
            ws.load({"invoice_lines": lines})
        assert ws.counts()["invoice_lines"] == 0
        # The customer given in the same import is known.
        ws.load(
            {"customers": pd.DataFrame([{"customer_id": "ab"}]), "invoice_lines": lines}
        )
        assert ws.counts()["invoice_lines"] == 2
