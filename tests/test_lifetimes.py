"""Kaplan-Meier lifetimes: a small censored sample worked out by hand, the segment
at acquisition, a generated history against a naive product-limit estimate, and
the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import math

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import revaxis
from conftest import AS_OF, line
from revaxis.cli import app
from revaxis.demo import generate_demo

runner = CliRunner()

MONTH = 365.25 / 12
# Two-sided 95 % normal quantile.
Z = 1.959963984540054

PLANS = [
    {"plan_id": "basic", "name": "Basic", "interval_unit": "month"},
    {"plan_id": "pro", "name": "Pro", "interval_unit": "month"},
]

# Report day 2025-06-30. Days from acquisition to first churn, or to the report
# day for a customer still paying (censored, +):
#
#   Basic  c1 91   c3 121+   c5 180+   c2 182   c4 274   c6 366
#   Pro    p1 335 (moved to Basic on 1 June, churned on 1 December)
#          p2 546+   p3 546+
#
# Product-limit table for Basic (n at risk, d churned, S = product of
# (1 - d / n), V = Greenwood sum of d / (n (n - d))):
#
#   days   n  d   S                    V
#     91   6  1   5/6      = 0.8333    1/30            = 0.0333
#    121   5  0   (censored)
#    180   4  0   (censored)
#    182   3  1   5/6 x 2/3 = 0.5556   1/30 + 1/6      = 0.2
#    274   2  1   0.5556 x 1/2 = 0.2778 0.2 + 1/2       = 0.7
#    366   1  1   0
#
# The median is the first time S <= 0.5: 274 days = 9.002 months. The 95 %
# bounds of S at each time are exp(-exp(log(-log S) +/- Z sqrt(V) / |log S|)):
#
#   days   lower    upper
#     91   0.2731   0.9747
#    182   0.0734   0.8761
#    274   0.0100   0.7004
#    366   0        0
#
# The lower curve is <= 0.5 from 91 days, the upper one from 366 days, so the
# median's interval is [91, 366] days = [2.990, 12.025] months.
HISTORY = [
    line("c1", "2024-01-01", "2024-04-01", 300, plan_id="basic"),
    line("c2", "2024-01-01", "2024-07-01", 600, plan_id="basic"),
    # c2 comes back: its first churn still ends its lifetime.
    line("c2", "2024-09-01", "2025-09-01", 1200, plan_id="basic"),
    line("c3", "2025-03-01", "2025-09-01", 600, plan_id="basic"),
    line("c4", "2024-01-01", "2024-10-01", 900, plan_id="basic"),
    line("c5", "2025-01-01", "2025-09-01", 800, plan_id="basic"),
    line("c6", "2024-01-01", "2025-01-01", 1200, plan_id="basic"),
    line("p1", "2024-01-01", "2024-06-01", 1000, plan_id="pro"),
    line("p1", "2024-06-01", "2024-12-01", 600, plan_id="basic"),
    line("p2", "2024-01-01", "2025-12-01", 4600, plan_id="pro"),
    line("p3", "2024-01-01", "2025-12-01", 4600, plan_id="pro"),
]


@pytest.fixture(scope="module")
def lifetime_ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("lifetimes") / "l.duckdb"
    ws = revaxis.Workspace(path)
    ws.load(
        {
            "plans": pd.DataFrame(PLANS),
            "customers": pd.DataFrame(
                {"customer_id": sorted({row["customer_id"] for row in HISTORY})}
            ),
            "invoice_lines": pd.DataFrame(HISTORY),
        }
    )
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def by_plan(lifetime_ws):
    frame = lifetime_ws.lifetimes(by="plan", as_of=AS_OF)
    return frame.set_index("plan")


def greenwood_bounds(survival: float, variance: float) -> tuple[float, float]:
    """Exponential Greenwood bounds of a survival estimate."""
    spread = Z * math.sqrt(variance) / abs(math.log(survival))
    centre = math.log(-math.log(survival))
    return math.exp(-math.exp(centre + spread)), math.exp(-math.exp(centre - spread))


def test_greenwood_bounds_of_the_table():
    # The bounds in the table above, from S and V.
    assert greenwood_bounds(5 / 6, 1 / 30) == pytest.approx((0.2731, 0.9747), abs=1e-4)
    assert greenwood_bounds(5 / 9, 0.2) == pytest.approx((0.0734, 0.8761), abs=1e-4)
    assert greenwood_bounds(5 / 18, 0.7) == pytest.approx((0.0100, 0.7004), abs=1e-4)


def test_summary_columns(by_plan):
    assert by_plan.reset_index().columns.tolist() == [
        "plan",
        "customers",
        "churned",
        "median_months",
        "median_ci_lower",
        "median_ci_upper",
    ]


def test_counts_by_segment_at_acquisition(by_plan):
    # p1 was acquired on Pro: it counts there, not on Basic where it churned.
    assert by_plan.loc["Basic", "customers"] == 6
    assert by_plan.loc["Basic", "churned"] == 4
    assert by_plan.loc["Pro", "customers"] == 3
    assert by_plan.loc["Pro", "churned"] == 1


def test_median_from_product_limit_table(by_plan):
    assert by_plan.loc["Basic", "median_months"] == pytest.approx(274 / MONTH)


def test_median_at_exactly_half(lifetime_ws):
    # On 1 January 2026 c3 and c5 have churned on 1 September 2025 (184 and
    # 243 days), so Basic's durations are 91, 182, 184, 243, 274 and 366 days,
    # all churned. S = 5/6, 4/6, then 3/6 = 0.5 at 184 days: the median is the
    # first time S <= 0.5, although 5/6 x 4/5 x 3/4 is a little above 0.5 in
    # floating point.
    frame = lifetime_ws.lifetimes(by="plan", as_of=dt.date(2026, 1, 1))
    basic = frame.set_index("plan").loc["Basic"]
    assert basic["median_months"] == pytest.approx(184 / MONTH)


def test_median_interval_from_greenwood(by_plan):
    assert by_plan.loc["Basic", "median_ci_lower"] == pytest.approx(91 / MONTH)
    assert by_plan.loc["Basic", "median_ci_upper"] == pytest.approx(366 / MONTH)


def test_median_null_above_half(by_plan):
    # Pro: S = 2/3 after p1 churns at 335 days, and p2, p3 are censored: the
    # curve never reaches 0.5, nor does its upper bound.
    assert pd.isna(by_plan.loc["Pro", "median_months"])
    assert pd.isna(by_plan.loc["Pro", "median_ci_upper"])


def test_lower_bound_defined_alone(by_plan):
    # Pro's lower bound at 335 days, with V = 1 / (3 x 2) = 1/6, is 0.054 <=
    # 0.5, so the interval has a lower end though the median is undefined.
    lower, _ = greenwood_bounds(2 / 3, 1 / 6)
    assert lower == pytest.approx(0.054, abs=1e-3)
    assert by_plan.loc["Pro", "median_ci_lower"] == pytest.approx(335 / MONTH)


def test_survival_curve_steps(lifetime_ws):
    curve = lifetime_ws.lifetimes(by="plan", curve=True, as_of=AS_OF)
    basic = curve[curve["plan"] == "Basic"]
    assert basic.columns.tolist() == [
        "plan",
        "months",
        "survival",
        "ci_lower",
        "ci_upper",
    ]
    days = [0, 91, 121, 180, 182, 274, 366]
    assert basic["months"].tolist() == pytest.approx([d / MONTH for d in days])
    assert basic["survival"].tolist() == pytest.approx(
        [1, 5 / 6, 5 / 6, 5 / 6, 5 / 9, 5 / 18, 0]
    )
    assert basic["ci_lower"].iloc[4] == pytest.approx(0.0734, abs=1e-4)


def test_filter_follows_churn_outside_it(lifetime_ws, by_plan):
    # Under a Pro filter, p1 left Pro for Basic in June and churned in
    # December: its churn still counts, as in the Pro row of --by plan.
    frame = lifetime_ws.lifetimes(filter="plan = 'Pro'", as_of=AS_OF)
    row = frame.iloc[0]
    assert row["customers"] == by_plan.loc["Pro", "customers"]
    assert row["churned"] == 1
    assert row["median_ci_lower"] == pytest.approx(335 / MONTH)


def test_whole_business_counts_everyone(lifetime_ws):
    frame = lifetime_ws.lifetimes(as_of=AS_OF)
    assert frame.columns.tolist() == [
        "customers",
        "churned",
        "median_months",
        "median_ci_lower",
        "median_ci_upper",
    ]
    assert frame.iloc[0]["customers"] == 9
    assert frame.iloc[0]["churned"] == 5


# Generated history against a naive product-limit estimate --------------------


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    tables = generate_demo(customers=80, months=14, seed=3, end=dt.date(2025, 6, 30))
    ws = revaxis.Workspace(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    ws.load(tables)
    yield ws
    ws.close()


def naive_survival(sample: list[tuple[float, int]], time: float) -> float:
    """Product-limit estimate at `time`: the product of (1 - d / n) over the
    churn times up to it."""
    survival = 1.0
    for churn_time in sorted({t for t, churned in sample if churned and t <= time}):
        at_risk = sum(1 for t, _ in sample if t >= churn_time)
        churned = sum(1 for t, c in sample if t == churn_time and c)
        survival *= 1 - churned / at_risk
    return survival


def naive_samples(ws: revaxis.Workspace) -> dict[str, list[tuple[float, int]]]:
    """(months, churned) per customer, by country at acquisition, from the
    movements."""
    moves = ws.movements(by="country", as_of=AS_OF)
    acquired: dict[str, tuple[str, dt.date]] = {}
    first_churn: dict[str, dt.date] = {}
    for row in moves.sort_values("date").to_dict(orient="records"):
        if row["new"] > 0:
            acquired[row["customer_id"]] = (row["country"], row["date"])
        if row["churn"] > 0:
            first_churn.setdefault(row["customer_id"], row["date"])
    samples: dict[str, list[tuple[float, int]]] = {}
    for customer, (country, day) in acquired.items():
        end = first_churn.get(customer, AS_OF)
        samples.setdefault(country, []).append(
            ((end - day).days / MONTH, int(customer in first_churn))
        )
    return samples


@pytest.fixture(scope="module")
def demo_samples(demo_ws):
    return naive_samples(demo_ws)


def test_demo_counts_match_naive(demo_ws, demo_samples):
    actual = demo_ws.lifetimes(by="country", as_of=AS_OF)
    expected = pd.DataFrame(
        [
            {
                "country": country,
                "customers": len(sample),
                "churned": sum(c for _, c in sample),
            }
            for country, sample in sorted(demo_samples.items())
        ]
    )
    columns = ["country", "customers", "churned"]
    assert actual[columns].to_dict("list") == expected[columns].to_dict("list")


def test_demo_curve_matches_naive(demo_ws, demo_samples):
    curve = demo_ws.lifetimes(by="country", curve=True, as_of=AS_OF)
    expected = [
        naive_survival(demo_samples[row.country], row.months)
        for row in curve.itertuples()
    ]
    assert curve["survival"].tolist() == pytest.approx(expected)
    # Some customers churned, so the comparison covers steps below 1.
    assert curve["survival"].min() < 1


# CLI ------------------------------------------------------------------------


def test_cli_lifetimes_csv_by_plan(lifetime_ws):
    result = runner.invoke(
        app,
        ["--db", str(lifetime_ws.path), "lifetimes", "--by", "plan", "--format", "csv"],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout)).set_index("plan")
    # The CLI reports as of today, after every line of the history has ended.
    assert frame.loc["Basic", "churned"] == 6
    assert frame.loc["Pro", "churned"] == 3


def test_cli_lifetimes_json_curve(lifetime_ws):
    result = runner.invoke(
        app, ["--db", str(lifetime_ws.path), "lifetimes", "--curve", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert list(rows[0]) == ["months", "survival", "ci_lower", "ci_upper"]
    assert rows[0]["survival"] == 1
    assert rows[-1]["survival"] == 0


def test_cli_lifetimes_xlsx_round_trip(lifetime_ws, tmp_path):
    target = tmp_path / "lifetimes.xlsx"
    result = runner.invoke(
        app,
        [
            "--db",
            str(lifetime_ws.path),
            "lifetimes",
            "--by",
            "plan",
            "--format",
            "xlsx",
            "--output",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(openpyxl.load_workbook(target)["lifetimes"].iter_rows(values_only=True))
    assert rows[0][:3] == ("plan", "customers", "churned")
    assert [r[0] for r in rows[1:]] == ["Basic", "Pro"]
