"""One test per MRR rule of docs/metrics.md, each with its expected value worked
out by hand beside it."""

from __future__ import annotations

import datetime as dt

import pytest

import revaxis
from conftest import AS_OF, line


def month(ws: revaxis.Workspace, period: str, **kwargs: object) -> dict[str, object]:
    """The report row of one month (no axis)."""
    frame = ws.mrr(start=period, end=period, as_of=AS_OF, **kwargs)
    assert len(frame) == 1, frame
    return frame.iloc[0].to_dict()


def moves(ws: revaxis.Workspace, **kwargs: object) -> list[dict[str, object]]:
    frame = ws.movements(as_of=AS_OF, **kwargs)
    return [
        {k: v for k, v in row.items() if v != 0}
        for row in frame.to_dict(orient="records")
    ]


@pytest.mark.parametrize(
    ("start", "end", "amount", "expected"),
    [
        # 1,200 over 12 whole months = 100.
        ("2024-01-01", "2025-01-01", 1200, 100.00),
        # 300 over 3 whole months = 100.
        ("2024-01-01", "2024-04-01", 300, 100.00),
        # 2,400 over 24 whole months = 100.
        ("2024-01-01", "2026-01-01", 2400, 100.00),
        # 1,000 over 12 months = 83.333... -> 83.33.
        ("2024-01-01", "2025-01-01", 1000, 83.33),
        # 10 over 7 days = 10 / (7 / 30.4375) = 43.482 -> 43.48.
        ("2024-01-01", "2024-01-08", 10, 43.48),
        # 31 January to 28 February: the end day is clamped to February's last
        # day, so this is one whole month: 100.
        ("2023-01-31", "2023-02-28", 100, 100.00),
        # 25 for 15 days = 25 / (15 / 30.4375) = 50.729 -> 50.73.
        ("2024-04-16", "2024-05-01", 25, 50.73),
        # 15th to 15th is one whole month: 50.
        ("2024-01-15", "2024-02-15", 50, 50.00),
    ],
    ids=[
        "annual",
        "quarterly",
        "two-year",
        "annual-1000",
        "weekly",
        "month-end",
        "prorated-half-month",
        "mid-month",
    ],
)
def test_line_mrr_by_period_length(make_workspace, start, end, amount, expected):
    ws = make_workspace([line("a", start, end, amount)])
    assert moves(ws)[0] == {
        "customer_id": "a",
        "date": dt.date.fromisoformat(start),
        "new": expected,
    }


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # 100 - 20 discount = 80.
        ({"discount": 20}, 80.0),
        # 100 - 100 = 0: a 100 % coupon, the customer is not paying.
        ({"discount": 100}, None),
        # A discount never takes a positive amount below zero: max(50 - 80, 0) = 0.
        ({"amount": 50, "discount": 80}, None),
        # Tax is never revenue: 100 stays 100.
        ({"tax": 20}, 100.0),
        ({"kind": "one_time"}, None),
        ({"status": "void"}, None),
        # Refunds are ignored by default: the refunded line counts.
        ({"status": "refunded"}, 100.0),
        # Open and uncollectible invoices count without delinquency_days.
        ({"status": "open"}, 100.0),
        ({"status": "uncollectible"}, 100.0),
    ],
    ids=[
        "discount",
        "full-discount",
        "discount-above-amount",
        "tax",
        "one-time",
        "void",
        "refunded",
        "open",
        "uncollectible",
    ],
)
def test_line_net_amount(make_workspace, extra, expected):
    row = line("a", "2024-01-01", "2024-02-01", 100)
    row.update(extra)
    ws = make_workspace([row])
    january = ws.mrr(start="2024-01", end="2024-01", as_of=AS_OF)
    if expected is None:
        assert january.empty
    else:
        assert january["mrr_end"].tolist() == [expected]
        assert january["customers_end"].tolist() == [1]


def test_refunds_removed_by_setting(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 100, status="refunded"),
            line("b", "2024-01-01", "2024-02-01", 40),
        ],
        settings={"refunds": "remove"},
    )
    # Only b's 40 remains.
    assert month(ws, "2024-01")["mrr_end"] == 40.0


def test_trial_then_first_paid_period_is_new(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-01-15", 0),
            line("a", "2024-01-15", "2024-02-15", 50),
        ]
    )
    # The 0-amount trial contributes nothing: the first movement is new 50 on
    # the first paid day.
    assert moves(ws)[0] == {"customer_id": "a", "date": dt.date(2024, 1, 15), "new": 50}
    assert month(ws, "2024-01")["new_customers"] == 1


def _gap_history() -> list[dict[str, object]]:
    # Paid January and March, nothing in February (29 days in 2024).
    return [
        line("a", "2024-01-01", "2024-02-01", 50),
        line("a", "2024-03-01", "2024-04-01", 50),
    ]


def test_gap_month_is_churn_then_reactivation(make_workspace):
    ws = make_workspace(_gap_history())
    assert moves(ws) == [
        {"customer_id": "a", "date": dt.date(2024, 1, 1), "new": 50},
        {"customer_id": "a", "date": dt.date(2024, 2, 1), "churn": 50},
        {"customer_id": "a", "date": dt.date(2024, 3, 1), "reactivation": 50},
        {"customer_id": "a", "date": dt.date(2024, 4, 1), "churn": 50},
    ]
    february = month(ws, "2024-02")
    assert february["churn"] == 50
    assert february["churned_customers"] == 1
    assert february["mrr_end"] == 0
    assert month(ws, "2024-03")["reactivated_customers"] == 1


@pytest.mark.parametrize(
    ("grace_days", "bridged"),
    # The gap runs from 2024-02-01 to 2024-03-01: 29 days.
    [(28, False), (29, True), (45, True)],
    ids=["shorter-than-gap", "equal-to-gap", "longer-than-gap"],
)
def test_grace_days_bridge_a_gap(make_workspace, grace_days, bridged):
    ws = make_workspace(_gap_history(), settings={"grace_days": grace_days})
    february = month(ws, "2024-02")
    if bridged:
        # The customer keeps January's 50 through February.
        assert february["mrr_end"] == 50
        assert february["churn"] == 0
        assert month(ws, "2024-03")["reactivation"] == 0
    else:
        assert february["mrr_end"] == 0
        assert february["churn"] == 50


def test_ended_at_stops_mrr_before_the_paid_period_ends(make_workspace):
    ws = make_workspace(
        [line("a", "2024-01-01", "2025-01-01", 1200, subscription_id="s1")],
        subscriptions=[
            {"subscription_id": "s1", "customer_id": "a", "ended_at": "2024-06-15"}
        ],
    )
    # 1,200 / 12 = 100 until the service really stopped on 15 June.
    assert month(ws, "2024-05")["mrr_end"] == 100
    june = month(ws, "2024-06")
    assert june["churn"] == 100
    assert june["mrr_end"] == 0


def test_cancelling_one_of_two_subscriptions_is_contraction(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 100, subscription_id="s1"),
            line("a", "2024-01-01", "2024-02-01", 50, subscription_id="s2"),
            line("a", "2024-02-01", "2024-03-01", 50, subscription_id="s2"),
        ]
    )
    february = month(ws, "2024-02")
    # 150 -> 50: a contraction of 100, the customer still pays.
    assert february["contraction"] == 100
    assert february["churn"] == 0
    assert february["churned_customers"] == 0
    assert february["mrr_end"] == 50


def _plan_switch() -> list[dict[str, object]]:
    return [
        line("a", "2024-01-01", "2024-02-01", 50, plan_id="basic"),
        line("a", "2024-02-01", "2024-03-01", 100, plan_id="pro"),
    ]


def test_plan_switch_is_expansion_for_the_customer(make_workspace):
    ws = make_workspace(_plan_switch())
    february = month(ws, "2024-02")
    # 50 -> 100 is an expansion of 50, with no transfer for the whole business.
    assert february["expansion"] == 50
    assert february["transfer_in"] == 0
    assert february["transfer_out"] == 0


def test_plan_switch_is_transfers_on_plan_axis(make_workspace):
    ws = make_workspace(_plan_switch())
    frame = ws.mrr(by="plan", start="2024-02", end="2024-02", as_of=AS_OF)
    rows = {r["plan"]: r for r in frame.to_dict(orient="records")}
    # Basic 50 -> 0 and Pro 0 -> 100: S = min(P=100, N=50) = 50 moved.
    assert rows["basic"]["transfer_out"] == 50
    assert rows["basic"]["churn"] == 0
    assert rows["basic"]["mrr_end"] == 0
    assert rows["pro"]["transfer_in"] == 50
    assert rows["pro"]["expansion"] == 50
    assert rows["pro"]["new"] == 0
    assert rows["pro"]["mrr_end"] == 100
    # The customer leaves Basic and joins Pro without churning.
    assert rows["basic"]["churned_customers"] == 0
    assert rows["basic"]["customers_end"] == 0
    assert rows["pro"]["customers_end"] == 1


def test_same_day_changes_net_out(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-15", "2024-02-15", 50),
            line("a", "2024-02-15", "2024-03-15", 50),
            # Two lines that change on 1 March: +30 and -30 the same day.
            line("a", "2024-02-01", "2024-03-01", 30),
            line("a", "2024-03-01", "2024-03-15", 30 * 14 / 30.4375),
        ]
    )
    # 30 x 14 / 30.4375 over 14 days is again 30 a month, so the end of one
    # line and the start of the next cancel on 1 March; the renewal on 15
    # February cancels too.
    dates = [m["date"] for m in moves(ws)]
    assert dates == [dt.date(2024, 1, 15), dt.date(2024, 2, 1), dt.date(2024, 3, 15)]


def test_renewal_at_new_exchange_rate_is_fx(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 100, currency="EUR"),
            line("a", "2024-02-01", "2024-03-01", 100, currency="EUR"),
        ],
        fx_rates=[
            {"date": "2024-01-01", "currency": "EUR", "rate": 0.8},
            {"date": "2024-02-01", "currency": "EUR", "rate": 0.9},
        ],
    )
    # January: 100 EUR / 0.8 = 125.00 USD. February: 100 / 0.9 = 111.11 USD.
    # fx = round(L0 x V1 / L1) - V0 = 100 x 111.11 / 100 - 125.00 = -13.89,
    # and nothing is left for expansion or contraction.
    assert month(ws, "2024-01")["mrr_end"] == 125.00
    february = month(ws, "2024-02")
    assert february["fx"] == -13.89
    assert february["expansion"] == 0
    assert february["contraction"] == 0
    assert february["mrr_end"] == 111.11


def test_reporting_currency_converts_at_period_start(make_workspace):
    ws = make_workspace(
        [line("a", "2024-01-01", "2024-02-01", 100, currency="EUR")],
        fx_rates=[{"date": "2024-01-01", "currency": "EUR", "rate": 0.8}],
    )
    # In EUR no conversion: 100.
    assert month(ws, "2024-01", currency="EUR")["mrr_end"] == 100


def test_missing_rate_names_currency_and_day(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2024-02-01", 100, currency="XOF")])
    with pytest.raises(revaxis.MissingRateError, match="XOF on 2024-01-01"):
        ws.mrr(as_of=AS_OF)


@pytest.mark.parametrize(
    ("delinquency_days", "counts"),
    # AS_OF is 2025-06-30; the invoice is dated 2025-05-01, 60 days earlier.
    [(None, True), (90, True), (60, False), (30, False)],
    ids=["off", "not-yet-due", "exactly-due", "overdue"],
)
def test_open_invoice_counts_until_delinquency_days(
    make_workspace, delinquency_days, counts
):
    ws = make_workspace(
        [
            line(
                "a",
                "2025-05-01",
                "2025-06-01",
                100,
                status="open",
                invoice_date="2025-05-01",
            ),
            line("b", "2025-05-01", "2025-06-01", 10),
        ],
        settings={"delinquency_days": delinquency_days},
    )
    # b's paid 10 always counts; a's unpaid 100 only while not delinquent.
    assert month(ws, "2025-05")["mrr_end"] == (110 if counts else 10)


def test_line_without_period_takes_plan_interval(make_workspace):
    ws = make_workspace(
        [line("a", None, None, 1200, plan_id="yearly", invoice_date="2024-03-10")],
        plans=[{"plan_id": "yearly", "interval_unit": "year", "interval_count": 1}],
    )
    # 1,200 over 2024-03-10 .. 2025-03-10, twelve whole months: 100.
    assert moves(ws) == [
        {"customer_id": "a", "date": dt.date(2024, 3, 10), "new": 100},
        {"customer_id": "a", "date": dt.date(2025, 3, 10), "churn": 100},
    ]


def test_churned_customers_exclude_join_and_leave(make_workspace):
    ws = make_workspace(
        [
            # a pays through March and leaves on 1 April.
            line("a", "2024-01-01", "2024-04-01", 300),
            # b joins and leaves within April.
            line("b", "2024-04-05", "2024-04-12", 10),
            # c leaves on 10 April and comes back on 20 April.
            line("c", "2024-03-10", "2024-04-10", 50),
            line("c", "2024-04-20", "2024-05-20", 50),
        ]
    )
    april = month(ws, "2024-04")
    # Three churn movements in April (a, b, c) but only a was paying at the
    # start and is not at the end.
    assert april["churned_customers"] == 1
    assert april["customers_start"] == 2
    assert april["customers_end"] == 1
    assert april["new_customers"] == 1
    assert april["reactivated_customers"] == 1


@pytest.mark.parametrize(
    ("interval", "labels"),
    [
        ("month", ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]),
        ("quarter", ["2024-Q1", "2024-Q2"]),
        ("year", ["2024"]),
    ],
    ids=["month", "quarter", "year"],
)
def test_period_labels_and_default_range(make_workspace, interval, labels):
    ws = make_workspace(
        [line("a", "2024-01-10", "2024-05-10", 400, invoice_date="2024-01-10")]
    )
    # From the first period with MRR to the period of the last change (the
    # churn on 10 May), which is later than the latest invoice date.
    frame = ws.mrr(interval=interval, as_of=AS_OF)
    assert frame["period"].tolist() == labels


def test_default_end_stops_at_report_day(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2025-01-01", 1200)])
    # The churn on 1 January 2025 lies after the report day, 15 March 2024.
    frame = ws.mrr(as_of=dt.date(2024, 3, 15))
    assert frame["period"].tolist() == ["2024-01", "2024-02", "2024-03"]
    assert frame["mrr_end"].tolist() == [100, 100, 100]


def test_quarter_uses_start_of_quarter(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-07-01", 600),
            line("b", "2024-02-01", "2024-03-01", 20),
        ]
    )
    q1, q2 = ws.mrr(interval="quarter", end="2024-Q2", as_of=AS_OF).to_dict(
        orient="records"
    )
    # Q1 starts at 0; a (100) and b (20) are new, b churns on 1 March.
    assert (q1["mrr_start"], q1["new"], q1["churn"], q1["mrr_end"]) == (0, 120, 20, 100)
    assert (q2["mrr_start"], q2["mrr_end"]) == (100, 100)


def test_bad_period_label_is_clear(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2024-02-01", 10)])
    with pytest.raises(revaxis.PeriodError, match="write a month as 2024-03"):
        ws.mrr(start="March 2024", as_of=AS_OF)


@pytest.mark.parametrize(
    "option", [{"start": "0000-01"}, {"end": "2263"}, {"end": "9999-Q4"}]
)
def test_period_year_out_of_range(make_workspace, option):
    ws = make_workspace([line("a", "2024-01-01", "2024-02-01", 10)])
    with pytest.raises(revaxis.PeriodError, match="year must be from 1900 to 2200"):
        ws.mrr(as_of=AS_OF, **option)


@pytest.mark.parametrize("day", [dt.date(1, 1, 1), dt.date(9999, 12, 31)])
def test_report_day_out_of_range(make_workspace, day):
    ws = make_workspace([line("a", "2024-01-01", "2024-02-01", 10)])
    with pytest.raises(revaxis.PeriodError, match=f"Invalid report day {day}"):
        ws.kpis(as_of=day)


def test_period_range_too_long(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2024-02-01", 10)])
    # 2024-01 to 2124-12 is 101 years, 1,212 months.
    with pytest.raises(revaxis.PeriodError, match="covers 1,212 months, and a"):
        ws.mrr(end="2124-12", as_of=AS_OF)
    # The same years in quarters are 404 periods.
    assert len(ws.mrr(end="2124-Q4", interval="quarter", as_of=AS_OF)) == 404


def test_empty_period_range(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2024-02-01", 10)])
    with pytest.raises(revaxis.PeriodError, match="first period 2030-01 is after"):
        ws.mrr(start="2030-01", as_of=AS_OF)


def test_unknown_axis_is_clear(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2024-02-01", 10)])
    with pytest.raises(revaxis.UnknownAxisError, match="Unknown axis 'planet'"):
        ws.mrr(by="planet", as_of=AS_OF)


def test_month_end_anchor_counts_whole_months(make_workspace):
    ws = make_workspace(
        [
            # Billing day 30: 30 January, 29 February (clamped), 30 March.
            line("a", "2024-01-30", "2024-02-29", 100),
            line("a", "2024-02-29", "2024-03-30", 100),
        ]
    )
    # Both periods are one whole month, so MRR stays at 100 with no change on
    # 29 February (30 days / 30.4375 would have given 101.46).
    assert moves(ws) == [
        {"customer_id": "a", "date": dt.date(2024, 1, 30), "new": 100},
        {"customer_id": "a", "date": dt.date(2024, 3, 30), "churn": 100},
    ]


def _two_eur_subscriptions(extra):
    return [
        line("a", "2024-01-01", "2024-03-01", 200, currency="EUR", plan_id="m"),
        line("a", "2024-01-01", "2025-01-01", 1200, currency="EUR", plan_id="y"),
        *extra,
    ]


EUR_RATES = [
    {"date": "2024-01-01", "currency": "EUR", "rate": 0.8},
    {"date": "2024-02-01", "currency": "EUR", "rate": 0.9},
]


def test_fx_only_on_lines_that_renew(make_workspace):
    ws = make_workspace(_two_eur_subscriptions([]), fx_rates=EUR_RATES)
    # m: 200 EUR over 2 months = 100 EUR a month = 125.00 USD at 0.8.
    # y: 1,200 EUR over 12 months = 100 EUR = 125.00 USD. Nothing renews on
    # 1 February, so there is no fx although the rate moved.
    assert month(ws, "2024-02")["fx"] == 0
    assert month(ws, "2024-02")["mrr_end"] == 250.00


def test_fx_revalues_ending_lines_at_new_lines_rate(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 100, currency="EUR", plan_id="m"),
            line("a", "2024-02-01", "2024-03-01", 120, currency="EUR", plan_id="m"),
            line("a", "2024-01-01", "2025-01-01", 1200, currency="EUR", plan_id="y"),
        ],
        fx_rates=EUR_RATES,
    )
    february = month(ws, "2024-02")
    # The 100 EUR line (125.00 USD at 0.8) ends and a 120 EUR line starts at
    # 0.9. fx = 100 / 0.9 - 125.00 = 111.11 - 125.00 = -13.89; the rest,
    # 120 / 0.9 - 111.11 = 133.33 - 111.11 = 22.22, is expansion. The annual
    # line keeps its value.
    assert february["fx"] == -13.89
    assert february["expansion"] == 22.22
    # 125.00 (annual line) + 133.33.
    assert february["mrr_end"] == 258.33
    by_plan = {
        r["plan"]: r
        for r in ws.mrr(by="plan", start="2024-02", end="2024-02", as_of=AS_OF).to_dict(
            orient="records"
        )
    }
    assert by_plan["m"]["fx"] == -13.89
    assert by_plan["y"]["fx"] == 0


def test_new_subscription_at_other_rate_is_not_fx(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2025-01-01", 1200, currency="EUR"),
            line("a", "2024-02-01", "2024-03-01", 90, currency="EUR"),
        ],
        fx_rates=EUR_RATES,
    )
    february = month(ws, "2024-02")
    # Nothing ends on 1 February: the new 90 EUR (100.00 USD at 0.9) is all
    # expansion.
    assert february["fx"] == 0
    assert february["expansion"] == 100.00


def test_reporting_currency_has_no_fx(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 10.005),
            line("a", "2024-02-01", "2024-03-01", 10.004),
        ]
    )
    # 10.005 and 10.004 both round to 10.01 and 10.00 cents apart in micros;
    # in the reporting currency every change is expansion or contraction.
    assert month(ws, "2024-02")["fx"] == 0


def test_credit_below_zero_churns_every_segment(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 100, plan_id="A"),
            line("a", "2024-01-01", "2024-02-01", 30, plan_id="B"),
            # A credit on A from 16 January worth -200 a month:
            # -200 x 16 / 30.4375 = -105.13 for those 16 days.
            line("a", "2024-01-16", "2024-02-01", -105.13, plan_id="A"),
        ]
    )
    # On 16 January the customer's lines sum to 100 + 30 - 200 = -70: not
    # paying, so MRR 130 churns, 100 from A and 30 from B although B's lines
    # did not change; 1 February brings no movement.
    by_plan = {
        r["plan"]: r
        for r in ws.mrr(by="plan", start="2024-01", end="2024-01", as_of=AS_OF).to_dict(
            orient="records"
        )
    }
    assert by_plan["A"]["churn"] == 100
    assert by_plan["B"]["churn"] == 30
    assert by_plan["A"]["mrr_end"] == 0
    assert by_plan["B"]["mrr_end"] == 0
    total = month(ws, "2024-01")
    assert total["churn"] == 130
    assert total["churned_customers"] == 0
    assert month(ws, "2024-02")["churn"] == 0
    assert month(ws, "2024-02")["mrr_end"] == 0
