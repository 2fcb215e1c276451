"""Cohort retention matrices: hand-built histories by month, quarter and segment
at acquisition, and a generated history against a naive computation."""

from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import revaxis
from conftest import AS_OF, line
from revaxis.cli import app
from revaxis.demo import generate_demo

runner = CliRunner()

PLANS = [
    {"plan_id": "basic", "name": "Basic", "interval_unit": "month"},
    {"plan_id": "pro", "name": "Pro", "interval_unit": "month"},
]

# MRR of each customer at the end of each month of 2024 (the latest invoice is
# dated 15 June, so June is the last period):
#
#        acquired  plan at acq.   Jan   Feb   Mar   Apr   May   Jun
#   a    10 Jan    Basic          100   100   100     -     -     -
#   b    20 Jan    Basic           50    50    80    80    80    80  (Pro from 20 Mar)
#   c    25 Jan    Basic            -     -     -     -     -     -  (left 30 Jan)
#   d     5 Feb    Pro              -   200     -     -   200     -  (back in May)
#   e    15 Jun    Basic            -     -     -     -     -    40
#   f     1 Jun    Basic 30 + Pro 70                             100
HISTORY = [
    line("a", "2024-01-10", "2024-04-10", 300, plan_id="basic"),
    line("b", "2024-01-20", "2024-03-20", 100, plan_id="basic"),
    line("b", "2024-03-20", "2024-07-20", 320, plan_id="pro"),
    line("c", "2024-01-25", "2024-01-30", 10, plan_id="basic"),
    line("d", "2024-02-05", "2024-03-05", 200, plan_id="pro"),
    line("d", "2024-05-01", "2024-06-01", 200, plan_id="pro"),
    line("e", "2024-06-15", "2024-07-15", 40, plan_id="basic"),
    line("f", "2024-06-01", "2024-07-01", 30, plan_id="basic"),
    line("f", "2024-06-01", "2024-07-01", 70, plan_id="pro"),
]


@pytest.fixture(scope="module")
def cohort_ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("cohorts") / "c.duckdb"
    ws = revaxis.Workspace(path)
    ws.load(
        {
            "plans": pd.DataFrame(PLANS),
            "customers": pd.DataFrame({"customer_id": list("abcdef")}),
            "invoice_lines": pd.DataFrame(HISTORY),
        }
    )
    yield ws
    ws.close()


def cells(frame: pd.DataFrame, *keys: str) -> dict[tuple[str, ...], dict[str, object]]:
    index = ["cohort", *keys, "age"]
    return {
        tuple(row[k] for k in index): row for row in frame.to_dict(orient="records")
    }


@pytest.fixture(scope="module")
def monthly(cohort_ws):
    return cells(cohort_ws.cohorts(as_of=AS_OF))


@pytest.fixture(scope="module")
def quarterly(cohort_ws):
    return cells(cohort_ws.cohorts(interval="quarter", as_of=AS_OF))


@pytest.fixture(scope="module")
def by_plan_frame(cohort_ws):
    return cohort_ws.cohorts(by="plan", as_of=AS_OF)


@pytest.fixture(scope="module")
def by_plan(by_plan_frame):
    return cells(by_plan_frame, "plan")


def test_columns_in_order(by_plan_frame):
    assert by_plan_frame.columns.tolist() == [
        "cohort",
        "plan",
        "age",
        "customers",
        "customers_retained",
        "logo_retention",
        "mrr_initial",
        "mrr_retained",
        "net_mrr_retention",
    ]


def test_monthly_cells_reached(monthly):
    # January reaches ages 0-5 by June, February 0-4, June only 0. March to May
    # acquired nobody.
    expected = {("2024-01", age) for age in range(6)}
    expected |= {("2024-02", age) for age in range(5)}
    expected |= {("2024-06", 0)}
    assert set(monthly) == expected


MONTHLY = [
    # January: a, b, c. c left before the month ended: 2 of 3 at age 0, with
    # a 100 + b 50 = 150, which is the cohort's initial MRR.
    ("2024-01", 0, 3, 2, 150.0, 150.0),
    # March: a 100 + b 80 (b moved to Pro, still in the cohort) = 180.
    ("2024-01", 2, 3, 2, 150.0, 180.0),
    # April: a has left; b 80.
    ("2024-01", 3, 3, 1, 150.0, 80.0),
    ("2024-01", 5, 3, 1, 150.0, 80.0),
    # February: d, 200, gone in March, back in May.
    ("2024-02", 0, 1, 1, 200.0, 200.0),
    ("2024-02", 1, 1, 0, 200.0, 0.0),
    ("2024-02", 3, 1, 1, 200.0, 200.0),
    # June: e 40 and f 100.
    ("2024-06", 0, 2, 2, 140.0, 140.0),
]


@pytest.mark.parametrize(
    ("cohort", "age", "customers", "retained", "initial", "mrr"),
    MONTHLY,
    ids=[f"{c}-age{a}" for c, a, *_ in MONTHLY],
)
def test_monthly_cell(monthly, cohort, age, customers, retained, initial, mrr):
    row = monthly[(cohort, age)]
    assert row["customers"] == customers
    assert row["customers_retained"] == retained
    assert row["logo_retention"] == pytest.approx(retained / customers)
    assert row["mrr_initial"] == initial
    assert row["mrr_retained"] == mrr
    assert row["net_mrr_retention"] == pytest.approx(mrr / initial)


QUARTERLY = [
    # Q1: a, b, c, d. At the end of March a 100 and b 80 pay: 2 of 4, 180.
    ("2024-Q1", 0, 4, 2, 180.0, 180.0),
    # End of June: b 80 (d paid in May, not at the end of June): 1 of 4.
    ("2024-Q1", 1, 4, 1, 180.0, 80.0),
    ("2024-Q2", 0, 2, 2, 140.0, 140.0),
]


@pytest.mark.parametrize(
    ("cohort", "age", "customers", "retained", "initial", "mrr"),
    QUARTERLY,
    ids=[f"{c}-age{a}" for c, a, *_ in QUARTERLY],
)
def test_quarterly_cell(quarterly, cohort, age, customers, retained, initial, mrr):
    row = quarterly[(cohort, age)]
    assert row["customers"] == customers
    assert row["customers_retained"] == retained
    assert row["mrr_initial"] == initial
    assert row["mrr_retained"] == mrr
    assert row["net_mrr_retention"] == pytest.approx(mrr / initial)


def test_quarterly_cells_reached(quarterly):
    assert set(quarterly) == {("2024-Q1", 0), ("2024-Q1", 1), ("2024-Q2", 0)}


BY_PLAN = [
    # Basic in January: a, b, c; b's move to Pro keeps it here with its Pro
    # MRR: March = a 100 + b 80.
    ("2024-01", "Basic", 0, 3, 2, 150.0, 150.0),
    ("2024-01", "Basic", 2, 3, 2, 150.0, 180.0),
    ("2024-01", "Basic", 4, 3, 1, 150.0, 80.0),
    ("2024-02", "Pro", 0, 1, 1, 200.0, 200.0),
    # f started on Basic 30 and Pro 70: it counts once in each, with 30 % and
    # 70 % of its MRR. Basic: e 40 + 0.3 x 100 = 70. Pro: 0.7 x 100 = 70.
    ("2024-06", "Basic", 0, 2, 2, 70.0, 70.0),
    ("2024-06", "Pro", 0, 1, 1, 70.0, 70.0),
]


@pytest.mark.parametrize(
    ("cohort", "plan", "age", "customers", "retained", "initial", "mrr"),
    BY_PLAN,
    ids=[f"{c}-{p}-age{a}" for c, p, a, *_ in BY_PLAN],
)
def test_segment_at_acquisition(
    by_plan, cohort, plan, age, customers, retained, initial, mrr
):
    row = by_plan[(cohort, plan, age)]
    assert row["customers"] == customers
    assert row["customers_retained"] == retained
    assert row["mrr_initial"] == initial
    assert row["mrr_retained"] == mrr


def test_segment_switch_adds_no_cohort(by_plan):
    # b moved to Pro in March but was acquired on Basic: Pro has no January
    # cohort.
    assert ("2024-01", "Pro", 0) not in by_plan


def test_filter_matches_segment(cohort_ws, by_plan):
    # A filter keeps the customers acquired inside it, like one segment of
    # --by: the Basic cells, including f's 30 % share in June.
    frame = cohort_ws.cohorts(filter="plan = 'Basic'", as_of=AS_OF)
    filtered = cells(frame)
    basic = {
        (cohort, age): row
        for (cohort, plan, age), row in by_plan.items()
        if plan == "Basic"
    }
    assert set(filtered) == set(basic)
    for name in ["customers", "customers_retained", "mrr_initial", "mrr_retained"]:
        assert [filtered[k][name] for k in sorted(basic)] == [
            basic[k][name] for k in sorted(basic)
        ], name


def test_net_retention_null_without_initial_mrr(make_workspace):
    # g joins on 5 March and leaves on 20 March: the March cohort has one
    # customer and no MRR at the end of March.
    ws = make_workspace(
        [
            line("g", "2024-03-05", "2024-03-20", 50),
            line("h", "2024-01-01", "2024-05-01", 400, invoice_date="2024-04-01"),
        ]
    )
    frame = ws.cohorts(as_of=AS_OF)
    march = frame[frame["cohort"] == "2024-03"].iloc[0]
    assert march["customers"] == 1
    assert march["logo_retention"] == 0
    assert pd.isna(march["net_mrr_retention"])


# Generated history against a naive computation ------------------------------


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    tables = generate_demo(customers=80, months=14, seed=3, end=dt.date(2025, 6, 30))
    ws = revaxis.Workspace(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    ws.load(tables)
    yield ws
    ws.close()


def naive_cohorts(ws: revaxis.Workspace) -> pd.DataFrame:
    """Monthly cohort cells from per-customer rows with plain Python (whole
    business)."""

    def index(day: dt.date) -> int:
        return day.year * 12 + day.month - 1

    moves = ws.movements(as_of=AS_OF)
    acquired = {
        row["customer_id"]: index(row["date"])
        for row in moves.to_dict(orient="records")
        if row["new"] > 0
    }
    values = ws.customer_mrr(as_of=AS_OF)
    paying: dict[tuple[str, int], float] = {}
    for row in values.to_dict(orient="records"):
        year, month = row["period"].split("-")
        paying[(row["customer_id"], int(year) * 12 + int(month) - 1)] = row["mrr"]
    last = index(
        min(ws.table("invoice_lines").invoice_date.max().execute().date(), AS_OF)
    )
    rows = []
    for cohort in sorted(set(acquired.values())):
        members = [c for c, i in acquired.items() if i == cohort]
        initial = sum(paying.get((c, cohort), 0.0) for c in members)
        for age in range(last - cohort + 1):
            now = [
                paying[(c, cohort + age)]
                for c in members
                if (c, cohort + age) in paying
            ]
            rows.append(
                {
                    "age": age,
                    "customers": len(members),
                    "customers_retained": len(now),
                    "mrr_initial": initial,
                    "mrr_retained": sum(now),
                }
            )
    return pd.DataFrame(rows)


def test_demo_cohorts_match_naive(demo_ws):
    actual = demo_ws.cohorts(as_of=AS_OF)
    expected = naive_cohorts(demo_ws)
    columns = ["age", "customers", "customers_retained"]
    assert actual[columns].to_dict("list") == expected[columns].to_dict("list")
    for name in ["mrr_initial", "mrr_retained"]:
        pd.testing.assert_series_equal(
            actual[name], expected[name].round(2), check_exact=False, atol=0.005
        )


# CLI ------------------------------------------------------------------------


def test_cli_cohorts_csv_by_quarter(cohort_ws):
    result = runner.invoke(
        app,
        [
            "--db",
            str(cohort_ws.path),
            "cohorts",
            "--interval",
            "quarter",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    first = frame.iloc[0]
    assert (first["cohort"], first["age"], first["customers"]) == ("2024-Q1", 0, 4)
    assert first["logo_retention"] == 0.5


def test_cli_cohorts_json_by_plan(cohort_ws):
    result = runner.invoke(
        app,
        ["--db", str(cohort_ws.path), "cohorts", "--by", "plan", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["plan"] for row in rows} == {"Basic", "Pro"}
    february = [r for r in rows if r["cohort"] == "2024-02" and r["age"] == 1]
    assert february[0]["net_mrr_retention"] == 0


def test_cli_cohorts_xlsx_round_trip(cohort_ws, tmp_path):
    target = tmp_path / "cohorts.xlsx"
    result = runner.invoke(
        app,
        [
            "--db",
            str(cohort_ws.path),
            "cohorts",
            "--format",
            "xlsx",
            "--output",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(openpyxl.load_workbook(target)["cohorts"].iter_rows(values_only=True))
    assert rows[0][:3] == ("cohort", "age", "customers")
    # 12 cells (see test_monthly_cells_reached) under the header.
    assert len(rows) == 13


def test_cli_cohorts_table_is_a_matrix(cohort_ws):
    result = runner.invoke(app, ["--db", str(cohort_ws.path), "cohorts"])
    assert result.exit_code == 0, result.output
    header = next(r for r in result.stdout.splitlines() if "cohort" in r)
    assert "customers" in header
    # Ages 0 to 5 are columns.
    assert all(f" {age} " in header for age in range(6))
    # January at age 0: 2 of 3.
    assert "66.7%" in result.stdout
