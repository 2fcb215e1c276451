"""KPIs of docs/kpis.md: each checked on a hand-built history with the arithmetic
beside it, and on a generated history against a naive pandas computation."""

from __future__ import annotations

import datetime as dt
import io
import json
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import revaxis
from conftest import AS_OF, line
from revaxis._kpis import KPI_COLUMNS, MONEY_COLUMNS
from revaxis.cli import app
from revaxis.demo import generate_demo

runner = CliRunner()


def kpi_row(ws: revaxis.Workspace, period: str, **kwargs: object) -> dict[str, object]:
    """The KPI row of one period (no axis). The report runs up to that period
    without --from, which reads the engine once instead of twice."""
    frame = ws.kpis(end=period, as_of=AS_OF, **kwargs)
    rows = frame[frame["period"] == period]
    assert len(rows) == 1, frame
    return rows.iloc[0].to_dict()


def by_segment(
    ws: revaxis.Workspace, by: str, period: str, **kwargs: object
) -> dict[str, dict[str, object]]:
    frame = ws.kpis(by=by, end=period, as_of=AS_OF, **kwargs)
    rows = frame[frame["period"] == period]
    return {row[by]: row for row in rows.to_dict(orient="records")}


def is_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# Peers' documented examples -------------------------------------------------


def test_gross_and_net_mrr_churn(make_workspace):
    # January: a 10 + b 40 + c 50 = 100. February: a churns (10), b contracts
    # to 30 (10), c expands to 60 (10).
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 10),
            line("b", "2024-01-01", "2024-02-01", 40),
            line("b", "2024-02-01", "2024-03-01", 30),
            line("c", "2024-01-01", "2024-02-01", 50),
            line("c", "2024-02-01", "2024-03-01", 60),
        ]
    )
    february = kpi_row(ws, "2024-02")
    # (10 churn + 10 contraction) / 100 = 20 %.
    assert february["gross_mrr_churn_rate"] == pytest.approx(0.20)
    # (10 + 10 - 10 expansion) / 100 = 10 %.
    assert february["net_mrr_churn_rate"] == pytest.approx(0.10)
    # (0 new + 10 expansion + 0 reactivation) / (10 + 10) = 0.5.
    assert february["quick_ratio"] == pytest.approx(0.5)


def test_customer_churn_rate_excludes_returns_and_joiners(make_workspace):
    # 100 customers pay from January. In February 12 customers churn: c00-c09
    # for good, c10 comes back on the 20th, and n joined on the 5th and left on
    # the 25th. Only c00-c09 paid at the start and not at the end.
    lines = [line(f"c{i:02d}", "2024-01-01", "2024-02-15", 10) for i in range(10)]
    lines += [
        line("c10", "2024-01-01", "2024-02-10", 10),
        line("c10", "2024-02-20", "2024-03-01", 10),
        line("n", "2024-02-05", "2024-02-25", 10),
    ]
    lines += [line(f"c{i:02d}", "2024-01-01", "2024-03-01", 20) for i in range(11, 100)]
    ws = make_workspace(lines)
    february = kpi_row(ws, "2024-02")
    assert february["churned_customers"] == 10
    # 10 / 100 = 10 %.
    assert february["customer_churn_rate"] == pytest.approx(0.10)


def test_arpa_and_arr(make_workspace):
    # Five customers paying 100, 200, 300, 400 and 500: MRR 1,500.
    ws = make_workspace(
        [line(f"c{i}", "2024-01-01", "2024-02-01", 100 * i) for i in range(1, 6)]
    )
    january = kpi_row(ws, "2024-01")
    assert january["mrr"] == 1500
    assert january["customers"] == 5
    # 1,500 / 5 = 300.
    assert january["arpa"] == 300
    # 12 x 1,500 = 18,000.
    assert january["arr"] == 18000


def test_large_mrr_churn_and_contraction(make_workspace):
    # Starting MRR 50,000: a (2,000) churns, b contracts from 10,000 to 9,000,
    # c stays at 38,000.
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 2000),
            line("b", "2024-01-01", "2024-02-01", 10000),
            line("b", "2024-02-01", "2024-03-01", 9000),
            line("c", "2024-01-01", "2024-03-01", 76000),
        ]
    )
    february = kpi_row(ws, "2024-02")
    bridge = ws.mrr(start="2024-02", end="2024-02", as_of=AS_OF).iloc[0]
    # Churn alone: 2,000 / 50,000 = 4 %.
    assert bridge["churn"] / bridge["mrr_start"] == pytest.approx(0.04)
    # Gross: (2,000 + 1,000) / 50,000 = 6 %. Net is the same without expansion.
    assert february["gross_mrr_churn_rate"] == pytest.approx(0.06)
    assert february["net_mrr_churn_rate"] == pytest.approx(0.06)


def _ltv_history() -> list[dict[str, object]]:
    # 20 customers pay 100 a month from January 2024. Two of them stop on 1
    # March, so February churns 0 of 20 (0 %) and March 2 of 20 (10 %). At the
    # end of March 18 customers pay 1,800: ARPA 100.
    lines = [line(f"s{i:02d}", "2024-01-01", "2024-04-01", 300) for i in range(18)]
    lines += [line(f"g{i}", "2024-01-01", "2024-03-01", 200) for i in range(2)]
    return lines


@pytest.mark.parametrize(
    ("settings", "ltv", "lifetime"),
    [
        # Window of 1 month: March alone, 10 %: 100 / 0.10 = 1,000; 1 / 0.10 = 10.
        ({"ltv_window_months": 1}, 1000, 10),
        # Window of 2 months: (0 % + 10 %) / 2 = 5 %, the 0 % month counting as
        # 0: 100 / 0.05 = 2,000; 1 / 0.05 = 20.
        ({"ltv_window_months": 2}, 2000, 20),
        # Default 6 months (October to March): October to January have no
        # customers at their start, so no rate. The mean is over February and
        # March: 5 %.
        ({}, 2000, 20),
        # Gross margin 80 %: 100 x 0.8 / 0.05 = 1,600.
        ({"gross_margin": "80%"}, 1600, 20),
        ({"gross_margin": "0.5"}, 1000, 20),
    ],
    ids=[
        "one-month",
        "zero-month-counts",
        "default-window",
        "margin-percent",
        "margin-fraction",
    ],
)
def test_ltv_and_lifetime(make_workspace, settings, ltv, lifetime):
    ws = make_workspace(_ltv_history(), settings=settings)
    march = kpi_row(ws, "2024-03")
    assert march["arpa"] == 100
    assert march["ltv"] == pytest.approx(ltv)
    assert march["lifetime_months"] == pytest.approx(lifetime)


def test_ltv_window_ends_at_last_complete_month(make_workspace):
    ws = make_workspace(_ltv_history(), settings={"ltv_window_months": 1})
    # On 15 March, March is not complete: the window is February alone, whose
    # churn is 0 %, so LTV is undefined. Customers are counted on 15 March,
    # after the two who stopped on 1 March: 18.
    frame = ws.kpis(end="2024-03", as_of=dt.date(2024, 3, 15))
    march = frame.set_index("period").loc["2024-03"]
    assert march["customers"] == 18
    assert is_null(march["ltv"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5", "between 0 and 1"),
        ("120%", "between 0 and 1"),
        ("high", "Invalid gross margin 'high'"),
    ],
    ids=["above-one", "above-100-percent", "not-a-number"],
)
def test_bad_gross_margin_is_rejected(tmp_path, value, message):
    with (
        revaxis.Workspace(tmp_path / "m.duckdb") as ws,
        pytest.raises(revaxis.InputError, match=message),
    ):
        ws.set_setting("gross_margin", value)


def test_bad_window_is_rejected(tmp_path):
    with (
        revaxis.Workspace(tmp_path / "w.duckdb") as ws,
        pytest.raises(revaxis.InputError, match="at least 1"),
    ):
        ws.set_setting("ltv_window_months", "0")


def test_kpi_settings_defaults(tmp_path):
    with revaxis.Workspace(tmp_path / "d.duckdb") as ws:
        settings = ws.settings
    assert settings["gross_margin"] == "1.0"
    assert settings["ltv_window_months"] == "6"
    assert settings["channel_axis"] == "channel"


def test_gross_margin_percent_is_stored_as_fraction(tmp_path):
    with revaxis.Workspace(tmp_path / "g.duckdb") as ws:
        ws.set_setting("gross_margin", "80%")
        assert ws.settings["gross_margin"] == "0.8"


# Undefined values ------------------------------------------------------------


def _undefined_tables() -> tuple[list[dict[str, object]], dict[str, object]]:
    # a pays 100 in January and February 2024 and stops on 1 March. Marketing
    # spend: 300 in January (1 new customer), 200 in February (no new customer).
    lines = [line("a", "2024-01-01", "2024-03-01", 200)]
    spend = [
        {"month": "2024-01-01", "channel": "SEO", "currency": "USD", "amount": 300},
        {"month": "2024-02-01", "channel": "SEO", "currency": "USD", "amount": 200},
    ]
    return lines, {"marketing_spend": spend}


@pytest.fixture(scope="module")
def undefined_ws(tmp_path_factory):
    lines, tables = _undefined_tables()
    path = tmp_path_factory.mktemp("undefined") / "u.duckdb"
    ws = revaxis.Workspace(path)
    ws.load(
        {
            "customers": pd.DataFrame([{"customer_id": "a"}]),
            "invoice_lines": pd.DataFrame(lines),
            **{name: pd.DataFrame(rows) for name, rows in tables.items()},
        }
    )
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def undefined_kpis(undefined_ws):
    # The latest invoice is dated January, so the report is extended to March.
    frame = undefined_ws.kpis(end="2024-03", as_of=AS_OF)
    return frame.set_index("period")


UNDEFINED = [
    # January: MRR at the start is 0 and so are customers at the start.
    ("2024-01", "customer_churn_rate"),
    ("2024-01", "gross_mrr_churn_rate"),
    ("2024-01", "net_mrr_churn_rate"),
    # No churn or contraction in January or February.
    ("2024-01", "quick_ratio"),
    ("2024-02", "quick_ratio"),
    # Nobody paid 12 months earlier.
    ("2024-01", "nrr_12m"),
    ("2024-01", "grr_12m"),
    # January has no month with customers at its start in its window.
    ("2024-01", "ltv"),
    ("2024-01", "lifetime_months"),
    # February's window: January (no rate) and February (0 %): mean 0.
    ("2024-02", "ltv"),
    ("2024-02", "lifetime_months"),
    ("2024-01", "ltv_cac"),
    # Spend in February but no new customer.
    ("2024-02", "cac"),
    ("2024-02", "payback_months"),
    # March: no spend, and no customer left, so no ARPA.
    ("2024-03", "cac"),
    ("2024-03", "arpa"),
    ("2024-03", "ltv"),
]


@pytest.mark.parametrize(
    ("period", "column"), UNDEFINED, ids=[f"{p}-{c}" for p, c in UNDEFINED]
)
def test_undefined_is_null(undefined_kpis, period, column):
    assert is_null(undefined_kpis.loc[period, column])


@pytest.mark.parametrize(
    ("period", "column", "expected"),
    [
        # One customer at the start of February, none churned: 0 / 1 = 0.
        ("2024-02", "customer_churn_rate", 0.0),
        ("2024-02", "gross_mrr_churn_rate", 0.0),
        # March: 1 / 1 churned.
        ("2024-03", "customer_churn_rate", 1.0),
        # 300 spent / 1 new customer in January.
        ("2024-01", "cac", 300.0),
        # 300 / (ARPA 100 x margin 1) = 3 months.
        ("2024-01", "payback_months", 3.0),
    ],
    ids=["zero-churn", "zero-gross", "all-churned", "cac", "payback"],
)
def test_defined_values_next_to_nulls(undefined_kpis, period, column, expected):
    assert undefined_kpis.loc[period, column] == pytest.approx(expected)


def test_undefined_is_empty_in_csv(undefined_ws):
    result = runner.invoke(
        app,
        ["--db", str(undefined_ws.path), "kpis", "--to", "2024-03", "--format", "csv"],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0].split(",")
    january = dict(zip(header, lines[1].split(","), strict=True))
    assert january["period"] == "2024-01"
    assert january["gross_mrr_churn_rate"] == ""
    assert january["cac"] == "300.0"


def test_undefined_is_null_in_json(undefined_ws):
    result = runner.invoke(
        app,
        ["--db", str(undefined_ws.path), "kpis", "--to", "2024-03", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    rows = {row["period"]: row for row in json.loads(result.stdout)}
    assert rows["2024-01"]["gross_mrr_churn_rate"] is None
    assert rows["2024-02"]["ltv"] is None
    assert rows["2024-02"]["customer_churn_rate"] == 0


# NRR and GRR ---------------------------------------------------------------


PLANS = [
    {"plan_id": "basic", "name": "Basic", "interval_unit": "month"},
    {"plan_id": "pro", "name": "Pro", "interval_unit": "month"},
]


@pytest.fixture(scope="module")
def retention_ws(tmp_path_factory):
    # MRR per customer at the end of January 2024 and of January 2025:
    #   a  Basic 100 -> Pro 150 from July 2024 (expansion, plan switch)
    #   b  Basic 100 -> Basic 60 from April 2024 (contraction)
    #   c  Pro 100   -> churned on 1 June 2024
    #   d  Pro 100   -> churned on 1 March 2024, back on Basic at 120 in September
    #   e  not paying -> Pro 500 from May 2024 (new: not in the base)
    #   f  Basic 30 + Pro 70 = 100 -> Basic 30 + Pro 170 = 200 from December
    lines = [
        line("a", "2024-01-01", "2024-07-01", 600, plan_id="basic"),
        line("a", "2024-07-01", "2025-07-01", 1800, plan_id="pro"),
        line("b", "2024-01-01", "2024-04-01", 300, plan_id="basic"),
        line("b", "2024-04-01", "2025-04-01", 720, plan_id="basic"),
        line("c", "2024-01-01", "2024-06-01", 500, plan_id="pro"),
        line("d", "2024-01-01", "2024-03-01", 200, plan_id="pro"),
        line("d", "2024-09-01", "2025-09-01", 1440, plan_id="basic"),
        line("e", "2024-05-01", "2025-05-01", 6000, plan_id="pro"),
        line("f", "2024-01-01", "2025-07-01", 540, plan_id="basic"),
        line("f", "2024-01-01", "2024-12-01", 770, plan_id="pro"),
        line("f", "2024-12-01", "2025-07-01", 1190, plan_id="pro"),
    ]
    path = tmp_path_factory.mktemp("retention") / "r.duckdb"
    ws = revaxis.Workspace(path)
    ws.load(
        {
            "plans": pd.DataFrame(PLANS),
            "customers": pd.DataFrame({"customer_id": list("abcdef")}),
            "invoice_lines": pd.DataFrame(lines),
        }
    )
    yield ws
    ws.close()


@pytest.mark.parametrize(
    ("period", "interval", "nrr", "grr"),
    [
        # Base at the end of January 2024: a, b, c, d, f, 100 each = 500.
        # Now: a 150 + b 60 + c 0 + d 120 + f 200 = 530 -> 530 / 500 = 1.06.
        # Capped: 100 + 60 + 0 + 100 + 100 = 360 -> 360 / 500 = 0.72.
        ("2025-01", "month", 530 / 500, 360 / 500),
        # Base at the end of March 2024 (end of 2024-Q1): a, b, c, f (d had
        # left) = 400. Now (end of March 2025): a 150 + b 60 + c 0 + f 200 =
        # 410. Capped: 100 + 60 + 0 + 100 = 260.
        ("2025-Q1", "quarter", 410 / 400, 260 / 400),
    ],
    ids=["month", "quarter"],
)
def test_nrr_and_grr_whole_business(retention_ws, period, interval, nrr, grr):
    frame = retention_ws.kpis(end=period, interval=interval, as_of=AS_OF)
    row = frame.set_index("period").loc[period]
    assert row["nrr_12m"] == pytest.approx(nrr)
    assert row["grr_12m"] == pytest.approx(grr)


@pytest.fixture(scope="module")
def retention_by_plan(retention_ws):
    return by_segment(retention_ws, "plan", "2025-01")


@pytest.mark.parametrize(
    ("plan", "nrr", "grr"),
    [
        # Basic at the end of January 2024: a 100, b 100, and f's 30 of 100
        # (30 %). Base 230. Now: a 150 + b 60 + 30 % of f's 200 = 60 -> 270.
        # Capped: 100 + 60 + 30 % of min(200, 100) = 30 -> 190.
        ("Basic", 270 / 230, 190 / 230),
        # Pro: c 100, d 100, and f's 70 (70 %). Base 270. Now: c 0 + d 120
        # (d came back on Basic, but counts where it was) + 70 % of 200 = 140
        # -> 260. Capped: 0 + 100 + 70 -> 170.
        ("Pro", 260 / 270, 170 / 270),
    ],
    ids=["basic", "pro"],
)
def test_nrr_and_grr_by_segment_then(retention_by_plan, plan, nrr, grr):
    assert retention_by_plan[plan]["nrr_12m"] == pytest.approx(nrr)
    assert retention_by_plan[plan]["grr_12m"] == pytest.approx(grr)


def test_nrr_under_filter_matches_segment(retention_ws, retention_by_plan):
    # A filter selects the base like a segment: Basic then (a, b, 30 % of f),
    # with each customer's whole MRR now, 270 / 230 and 190 / 230.
    frame = retention_ws.kpis(end="2025-01", filter="plan = 'Basic'", as_of=AS_OF)
    row = frame.set_index("period").loc["2025-01"]
    assert row["nrr_12m"] == pytest.approx(retention_by_plan["Basic"]["nrr_12m"])
    assert row["grr_12m"] == pytest.approx(retention_by_plan["Basic"]["grr_12m"])
    # MRR itself is the filter's: Basic is b 60 + d 120 + f 30 = 210.
    assert row["mrr"] == 210


def test_nrr_null_before_a_year_of_history(retention_ws):
    frame = retention_ws.kpis(end="2024-12", as_of=AS_OF)
    assert is_null(frame.set_index("period").loc["2024-12", "nrr_12m"])


# CAC ------------------------------------------------------------------------


CAC_CUSTOMERS = [
    {"customer_id": "a", "metadata.channel": "SEO"},
    {"customer_id": "b", "metadata.channel": "SEO"},
    {"customer_id": "c", "metadata.channel": "Ads"},
    {"customer_id": "d"},
]


@pytest.fixture(scope="module")
def cac_ws(tmp_path_factory):
    # a (SEO, Basic 100), c (Ads, Pro 200) and d (no channel, Basic 50) join in
    # January 2024, b (SEO, Basic 100) in February. Spend: January SEO 300 USD
    # and Ads 100 EUR, February SEO 150 USD. The imported rate is 0.8 EUR per
    # USD, so 100 EUR = 125 USD.
    lines = [
        line("a", "2024-01-01", "2024-04-01", 300, plan_id="basic"),
        line("c", "2024-01-01", "2024-04-01", 600, plan_id="pro"),
        line("d", "2024-01-01", "2024-04-01", 150, plan_id="basic"),
        line("b", "2024-02-01", "2024-04-01", 200, plan_id="basic"),
    ]
    spend = [
        {"month": "2024-01-01", "channel": "SEO", "currency": "USD", "amount": 300},
        {"month": "2024-01-01", "channel": "Ads", "currency": "EUR", "amount": 100},
        {"month": "2024-02-01", "channel": "SEO", "currency": "USD", "amount": 150},
    ]
    path = tmp_path_factory.mktemp("cac") / "c.duckdb"
    ws = revaxis.Workspace(path)
    ws.load(
        {
            "plans": pd.DataFrame(PLANS),
            "customers": pd.DataFrame(CAC_CUSTOMERS),
            "invoice_lines": pd.DataFrame(lines),
            "marketing_spend": pd.DataFrame(spend),
            "fx_rates": pd.DataFrame(
                [{"date": "2024-01-01", "currency": "EUR", "rate": 0.8}]
            ),
        }
    )
    ws.create_axis("channel", source="metadata.channel", level="customer")
    ws.create_axis("source", source="metadata.channel", level="customer")
    yield ws
    ws.close()


def test_cac_whole_business(cac_ws):
    rows = cac_ws.kpis(end="2024-02", as_of=AS_OF).set_index("period")
    # (300 + 125) / 3 new customers = 141.666... -> 141.67.
    assert rows.loc["2024-01", "cac"] == 141.67
    # ARPA (100 + 200 + 50) / 3 = 116.67: 141.67 / 116.67 = 1.2143 months.
    assert rows.loc["2024-01", "payback_months"] == pytest.approx(425 / 350)
    # February: 150 / 1 new customer.
    assert rows.loc["2024-02", "cac"] == 150


@pytest.fixture(scope="module")
def cac_by_channel(cac_ws):
    frame = cac_ws.kpis(by="channel", end="2024-02", as_of=AS_OF)
    return {(row["period"], row["channel"]): row for row in frame.to_dict("records")}


@pytest.mark.parametrize(
    ("period", "channel", "cac"),
    [
        # 300 / 1 new SEO customer (a).
        ("2024-01", "SEO", 300.0),
        # 100 EUR / 0.8 = 125 USD / 1 new Ads customer (c).
        ("2024-01", "Ads", 125.0),
        # No spend matches customers without a channel.
        ("2024-01", "(none)", None),
        # 150 / 1 new SEO customer (b).
        ("2024-02", "SEO", 150.0),
        # Ads spent nothing in February.
        ("2024-02", "Ads", None),
    ],
    ids=["seo-jan", "ads-eur", "none", "seo-feb", "no-spend"],
)
def test_cac_by_channel(cac_by_channel, period, channel, cac):
    row = cac_by_channel[(period, channel)]
    if cac is None:
        assert is_null(row["cac"])
    else:
        assert row["cac"] == pytest.approx(cac)


def test_cac_payback_and_ltv_cac_by_channel(cac_ws):
    cac_ws.set_setting("gross_margin", "50%")
    try:
        seo = by_segment(cac_ws, "channel", "2024-01")["SEO"]
    finally:
        cac_ws.set_setting("gross_margin", None)
    # 300 / (ARPA 100 x 0.5) = 6 months.
    assert seo["payback_months"] == pytest.approx(6)
    # No churn yet, so no LTV and no LTV/CAC.
    assert is_null(seo["ltv_cac"])


def test_cac_null_under_filter(cac_ws):
    # Spend cannot be split by a filter's axes.
    january = kpi_row(cac_ws, "2024-01", filter="channel = 'SEO'")
    assert january["new_customers"] == 1
    assert is_null(january["cac"])


def test_cac_axis_from_setting(cac_ws):
    cac_ws.set_setting("channel_axis", "source")
    try:
        rows = by_segment(cac_ws, "source", "2024-01")
    finally:
        cac_ws.set_setting("channel_axis", None)
    assert rows["Ads"]["cac"] == pytest.approx(125)


@pytest.fixture(scope="module")
def cac_by_plan(cac_ws):
    return cac_ws.kpis(by="plan", end="2024-01", as_of=AS_OF)


def test_columns_in_order(cac_by_plan):
    assert cac_by_plan.columns.tolist() == ["period", "plan", *KPI_COLUMNS]


def test_cac_blended_on_other_axes(cac_by_plan):
    rows = {row["plan"]: row for row in cac_by_plan.to_dict(orient="records")}
    # Spend cannot be split by plan: each plan shows the whole business CAC,
    # 425 / 3 = 141.67.
    assert rows["Basic"]["cac"] == 141.67
    assert rows["Pro"]["cac"] == 141.67
    # Pro ARPA 200: 141.67 / 200 = 0.708 months.
    assert rows["Pro"]["payback_months"] == pytest.approx(425 / 3 / 200)


def test_cac_by_channel_and_plan(cac_ws):
    frame = cac_ws.kpis(by="channel,plan", end="2024-01", as_of=AS_OF)
    rows = {(r.channel, r.plan): r.cac for r in frame.itertuples()}
    # The channel's CAC on each of its plans: SEO 300 / 1.
    assert rows[("SEO", "Basic")] == pytest.approx(300)
    assert rows[("Ads", "Pro")] == pytest.approx(125)


# Generated history against a naive computation ------------------------------


DEMO_END = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    tables = generate_demo(customers=80, months=14, seed=3, end=DEMO_END)
    ws = revaxis.Workspace(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    ws.load(tables)
    ws.create_axis("channel", source="metadata.channel", level="customer")
    ws.add_rule("channel", "map", "Adwords", "Paid search")
    ws.add_rule("channel", "map", "seo", "SEO")
    yield ws
    ws.close()


def _month(label: str) -> int:
    year, month = label.split("-")
    return int(year) * 12 + int(month) - 1


def _label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def naive_kpis(ws: revaxis.Workspace, key: str | None) -> pd.DataFrame:
    """Monthly KPIs from per-customer rows with plain Python, for the whole
    business (`key` None) or a customer-level axis."""
    by = [key] if key else []
    values = ws.customer_mrr(by or None, as_of=AS_OF)
    moves = ws.movements(by or None, as_of=AS_OF)
    spend = ws.table("marketing_spend").execute()
    window = int(ws.settings["ltv_window_months"])
    segment_of = (lambda row: row[key]) if key else (lambda row: "")

    paying: dict[tuple[str, int], dict[str, float]] = {}
    total: dict[int, dict[str, float]] = {}
    for row in values.to_dict(orient="records"):
        month = _month(row["period"])
        paying.setdefault((segment_of(row), month), {})[row["customer_id"]] = row["mrr"]
        customer_total = total.setdefault(month, {})
        customer_total[row["customer_id"]] = (
            customer_total.get(row["customer_id"], 0.0) + row["mrr"]
        )
    flows: dict[tuple[str, int], dict[str, float]] = {}
    new_customers: dict[tuple[str, int], set[str]] = {}
    for row in moves.to_dict(orient="records"):
        month = row["date"].year * 12 + row["date"].month - 1
        cell = flows.setdefault(
            (segment_of(row), month),
            dict.fromkeys(
                ["new", "expansion", "contraction", "churn", "reactivation"], 0.0
            ),
        )
        for name in cell:
            cell[name] += row[name]
        if row["new"] > 0:
            new_customers.setdefault((segment_of(row), month), set()).add(
                row["customer_id"]
            )
    spent: dict[tuple[str, int], float] = {}
    for row in spend.to_dict(orient="records"):
        month = row["month"].year * 12 + row["month"].month - 1
        cell_key = (row["channel"] if key else "", month)
        spent[cell_key] = spent.get(cell_key, 0.0) + row["amount"]

    segments = sorted({s for s, _ in paying} | {s for s, _ in flows})
    months = range(min(m for _, m in paying), _month("2025-06") + 1)

    def churn_rate(segment: str, month: int) -> float:
        before = paying.get((segment, month - 1), {})
        after = total.get(month, {})
        if not before:
            return math.nan
        return sum(1 for c in before if c not in after) / len(before)

    rows = []
    for segment in segments:
        for month in months:
            now = paying.get((segment, month), {})
            before = paying.get((segment, month - 1), {})
            flow = flows.get((segment, month))
            if not now and not before and flow is None:
                continue
            flow = flow or dict.fromkeys(
                ["new", "expansion", "contraction", "churn", "reactivation"], 0.0
            )
            mrr = sum(now.values())
            mrr_start = sum(before.values())
            lost = flow["churn"] + flow["contraction"]
            regained = flow["expansion"] + flow["reactivation"]
            then = paying.get((segment, month - 12), {})
            current = total.get(month, {})
            rates = [
                churn_rate(segment, m) for m in range(month - window + 1, month + 1)
            ]
            rates = [r for r in rates if not math.isnan(r)]
            mean_churn = sum(rates) / len(rates) if rates else math.nan
            arpa = mrr / len(now) if now else math.nan
            new = len(new_customers.get((segment, month), set()))
            spend_now = spent.get((segment, month), math.nan)
            cac = spend_now / new if new else math.nan
            rows.append(
                {
                    "period": _label(month),
                    **({key: segment} if key else {}),
                    "mrr": mrr,
                    "arr": 12 * mrr,
                    "customers": len(now),
                    "arpa": arpa,
                    "new_customers": new,
                    "churned_customers": sum(1 for c in before if c not in current),
                    "customer_churn_rate": churn_rate(segment, month),
                    "gross_mrr_churn_rate": lost / mrr_start if mrr_start else math.nan,
                    "net_mrr_churn_rate": (
                        (lost - regained) / mrr_start if mrr_start else math.nan
                    ),
                    "quick_ratio": (flow["new"] + regained) / lost
                    if lost
                    else math.nan,
                    "nrr_12m": (
                        sum(current.get(c, 0) for c in then) / sum(then.values())
                        if then
                        else math.nan
                    ),
                    "grr_12m": (
                        sum(min(current.get(c, 0), v) for c, v in then.items())
                        / sum(then.values())
                        if then
                        else math.nan
                    ),
                    "ltv": arpa / mean_churn if mean_churn else math.nan,
                    "lifetime_months": 1 / mean_churn if mean_churn else math.nan,
                    "cac": cac,
                    "ltv_cac": math.nan,
                    "payback_months": cac / arpa if arpa else math.nan,
                }
            )
    frame = pd.DataFrame(rows)
    frame["ltv_cac"] = frame["ltv"] / frame["cac"]
    return frame.sort_values(["period", *by]).reset_index(drop=True)


@pytest.fixture(scope="module", params=[None, "channel"], ids=["total", "channel"])
def demo_pair(request, demo_ws):
    key = request.param
    actual = demo_ws.kpis(by=key, as_of=AS_OF)
    return actual, naive_kpis(demo_ws, key)


def test_demo_rows_match_naive(demo_pair):
    actual, expected = demo_pair
    assert actual["period"].tolist() == expected["period"].tolist()


@pytest.mark.parametrize("column", KPI_COLUMNS)
def test_demo_kpi_matches_naive(demo_pair, column):
    actual, expected = demo_pair
    tolerance = 0.006 if column in MONEY_COLUMNS or column == "ltv_cac" else 1e-9
    # The money columns are rounded to the cent; LTV/CAC divides two of them
    # before rounding, so it gets the same tolerance.
    left = actual[column].to_numpy(dtype="float64")
    right = expected[column].to_numpy(dtype="float64")
    assert np.array_equal(np.isnan(left), np.isnan(right))
    defined = ~np.isnan(left)
    np.testing.assert_allclose(left[defined], right[defined], rtol=1e-6, atol=tolerance)


# CLI ------------------------------------------------------------------------


def test_cli_kpis_csv_by_quarter(cac_ws):
    result = runner.invoke(
        app,
        ["--db", str(cac_ws.path), "kpis", "--interval", "quarter", "--format", "csv"],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame.columns.tolist() == ["period", *KPI_COLUMNS]
    # 2024-Q1: (300 + 125 + 150) / 4 new customers = 143.75.
    assert frame.set_index("period").loc["2024-Q1", "cac"] == 143.75


def test_cli_kpis_json_by_channel(cac_ws):
    result = runner.invoke(
        app,
        [
            "--db",
            str(cac_ws.path),
            "kpis",
            "--by",
            "channel",
            "--from",
            "2024-01",
            "--to",
            "2024-01",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {row["channel"]: row for row in json.loads(result.stdout)}
    assert rows["SEO"]["cac"] == 300
    assert rows["(none)"]["cac"] is None


def test_cli_kpis_xlsx_round_trip(cac_ws, tmp_path):
    target = tmp_path / "kpis.xlsx"
    result = runner.invoke(
        app,
        ["--db", str(cac_ws.path), "kpis", "--format", "xlsx", "--output", str(target)],
    )
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(target)["kpis"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == ["period", *KPI_COLUMNS]
    january = dict(zip(rows[0], rows[1], strict=True))
    assert january["period"] == "2024-01"
    assert january["mrr"] == 350
    # Undefined values are empty cells.
    assert january["gross_mrr_churn_rate"] is None


def test_cli_kpis_table_shows_percentages(cac_ws):
    result = runner.invoke(app, ["--db", str(cac_ws.path), "kpis"])
    assert result.exit_code == 0, result.output
    assert "KPIs in USD" in result.stdout
    # February: 0 of 3 customers churned.
    assert "0.0%" in result.stdout


def test_cli_xlsx_needs_output(cac_ws):
    result = runner.invoke(app, ["--db", str(cac_ws.path), "kpis", "--format", "xlsx"])
    assert result.exit_code == 2
    assert "give its path with --output" in result.stderr
