from __future__ import annotations

import csv
import datetime
import pathlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from revaxis.demo import generate_demo, write_demo_csv

END = datetime.date(2025, 6, 18)
FIRST_DAY = pd.Timestamp("2023-07-01")  # first day of 24 months ending June 2025

COLUMNS = {
    "customers": [
        "customer_id",
        "name",
        "email",
        "company",
        "country",
        "state",
        "city",
        "created_at",
        "metadata.channel",
        "metadata.company_size",
        "metadata.account_manager",
        "metadata.employees",
    ],
    "products": ["product_id", "name"],
    "plans": ["plan_id", "product_id", "name", "interval_unit", "interval_count"],
    "subscriptions": [
        "subscription_id",
        "customer_id",
        "plan_id",
        "started_at",
        "ended_at",
        "cancellation_reason",
    ],
    "invoice_lines": [
        "invoice_id",
        "line_id",
        "customer_id",
        "invoice_date",
        "currency",
        "kind",
        "subscription_id",
        "plan_id",
        "product_id",
        "service_period_start",
        "service_period_end",
        "quantity",
        "amount",
        "discount",
        "tax",
        "status",
    ],
    "fx_rates": ["date", "currency", "rate"],
    "marketing_spend": ["month", "channel", "currency", "amount"],
}

REASONS = {
    "price",
    "poor adoption",
    "switched to competitor",
    "business closed",
    "missing feature",
}

Tables = dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def demo() -> Tables:
    return generate_demo(customers=300, months=24, seed=7, end=END)


@pytest.fixture(scope="module")
def large_demo() -> Tables:
    return generate_demo(customers=4000, months=36, seed=11, end=END)


def _proration_mask(lines: pd.DataFrame) -> pd.Series:
    """Mark credit lines and the charge lines billed with them."""
    subscription = lines[lines["kind"] == "subscription"]
    credits = subscription.loc[
        subscription["amount"] < 0, ["invoice_id", "subscription_id"]
    ]
    keys = pd.MultiIndex.from_frame(lines[["invoice_id", "subscription_id"]])
    return pd.Series(keys.isin(pd.MultiIndex.from_frame(credits)), index=lines.index)


def _regular_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Return non-void subscription lines that are neither trials nor prorations."""
    keep = (
        (lines["kind"] == "subscription")
        & (lines["status"] != "void")
        & (lines["amount"] > 0)
        & ~_proration_mask(lines)
    )
    return lines[keep]


@pytest.mark.parametrize("table", list(COLUMNS), ids=list(COLUMNS))
def test_table_columns_exact(demo: Tables, table: str) -> None:
    assert list(demo[table].columns) == COLUMNS[table]


def test_table_names_canonical(demo: Tables) -> None:
    assert sorted(demo) == sorted(COLUMNS)


def test_same_seed_same_tables() -> None:
    first = generate_demo(customers=120, months=12, seed=3, end=END)
    second = generate_demo(customers=120, months=12, seed=3, end=END)
    for name in COLUMNS:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)


def test_other_seed_other_lines() -> None:
    first = generate_demo(customers=120, months=12, seed=3, end=END)
    second = generate_demo(customers=120, months=12, seed=4, end=END)
    assert not first["invoice_lines"].equals(second["invoice_lines"])


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("customers", ["customer_id"]),
        ("products", ["product_id"]),
        ("plans", ["plan_id"]),
        ("subscriptions", ["subscription_id"]),
        ("invoice_lines", ["invoice_id", "line_id"]),
        ("fx_rates", ["date", "currency"]),
        ("marketing_spend", ["month", "channel"]),
    ],
    ids=[
        "customers",
        "products",
        "plans",
        "subscriptions",
        "invoice_lines",
        "fx_rates",
        "marketing_spend",
    ],
)
def test_keys_unique(demo: Tables, table: str, key: list[str]) -> None:
    frame = demo[table]
    assert not frame.duplicated(key).any()
    assert frame[key].notna().all().all()


@pytest.mark.parametrize(
    ("table", "column", "target", "target_column"),
    [
        ("invoice_lines", "customer_id", "customers", "customer_id"),
        ("invoice_lines", "subscription_id", "subscriptions", "subscription_id"),
        ("invoice_lines", "plan_id", "plans", "plan_id"),
        ("invoice_lines", "product_id", "products", "product_id"),
        ("subscriptions", "customer_id", "customers", "customer_id"),
        ("subscriptions", "plan_id", "plans", "plan_id"),
        ("plans", "product_id", "products", "product_id"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_references_resolve(
    demo: Tables, table: str, column: str, target: str, target_column: str
) -> None:
    values = demo[table][column].dropna()
    assert values.isin(demo[target][target_column]).all()


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("customers", "customer_id"),
        ("customers", "metadata.employees"),
        ("subscriptions", "subscription_id"),
        ("invoice_lines", "invoice_id"),
        ("invoice_lines", "line_id"),
        ("invoice_lines", "customer_id"),
        ("invoice_lines", "subscription_id"),
        ("plans", "plan_id"),
        ("products", "product_id"),
    ],
    ids=lambda value: value,
)
def test_ids_are_strings(demo: Tables, table: str, column: str) -> None:
    values = demo[table][column].dropna()
    assert values.map(type).eq(str).all()


def test_line_ids_number_each_invoice(demo: Tables) -> None:
    lines = demo["invoice_lines"]
    numbers = lines["line_id"].astype(int)
    expected = lines.groupby("invoice_id").cumcount() + 1
    assert (numbers == expected).all()


def test_invoice_has_one_customer_and_date(demo: Tables) -> None:
    per_invoice = demo["invoice_lines"].groupby("invoice_id")
    assert (per_invoice["customer_id"].nunique() == 1).all()
    assert (per_invoice["invoice_date"].nunique() == 1).all()


def test_subscription_periods_positive(demo: Tables) -> None:
    lines = demo["invoice_lines"]
    subscription = lines[lines["kind"] == "subscription"]
    length = subscription["service_period_end"] - subscription["service_period_start"]
    assert (length > pd.Timedelta(0)).all()


def test_one_time_lines_have_no_period(demo: Tables) -> None:
    lines = demo["invoice_lines"]
    one_time = lines[lines["kind"] == "one_time"]
    assert one_time["service_period_start"].isna().all()
    assert one_time["service_period_end"].isna().all()
    assert one_time["subscription_id"].isna().all()


def test_invoice_dates_within_history(demo: Tables) -> None:
    dates = demo["invoice_lines"]["invoice_date"]
    assert dates.max() <= pd.Timestamp(END)
    assert dates.min() >= FIRST_DAY


def test_subscription_dates_within_history(demo: Tables) -> None:
    subscriptions = demo["subscriptions"]
    assert subscriptions["started_at"].min() >= FIRST_DAY
    assert subscriptions["ended_at"].max() <= pd.Timestamp(END)
    ended = subscriptions.dropna(subset=["ended_at"])
    assert (ended["ended_at"] > ended["started_at"]).all()


def test_invoice_dates_stop_at_end_mid_month() -> None:
    end = datetime.date(2024, 2, 10)
    lines = generate_demo(customers=200, months=6, seed=5, end=end)["invoice_lines"]
    assert lines["invoice_date"].max() <= pd.Timestamp(end)
    assert lines["invoice_date"].min() >= pd.Timestamp("2023-09-01")


def test_renewals_are_contiguous(demo: Tables) -> None:
    lines = demo["invoice_lines"]
    keep = (lines["kind"] == "subscription") & (lines["status"] != "void")
    chain = lines[keep & ~_proration_mask(lines)].sort_values(
        ["subscription_id", "service_period_start"]
    )
    same_subscription = chain["subscription_id"].eq(chain["subscription_id"].shift())
    previous_end = chain["service_period_end"].shift()
    follows = chain["service_period_start"] == previous_end
    assert follows[same_subscription].all()


@pytest.mark.parametrize(
    ("unit", "count", "min_days", "max_days"),
    [("month", 1, 28, 31), ("month", 3, 89, 92), ("year", 1, 365, 366)],
    ids=["monthly", "quarterly", "annual"],
)
def test_period_lengths_match_plan_interval(
    large_demo: Tables, unit: str, count: int, min_days: int, max_days: int
) -> None:
    plans = large_demo["plans"]
    chosen = plans[
        (plans["interval_unit"] == unit) & (plans["interval_count"] == count)
    ]
    lines = _regular_lines(large_demo["invoice_lines"])
    lines = lines[lines["plan_id"].isin(chosen["plan_id"])]
    days = (lines["service_period_end"] - lines["service_period_start"]).dt.days
    assert len(days) > 0
    assert days.between(min_days, max_days).all()


def test_annual_line_ends_same_day_next_year(large_demo: Tables) -> None:
    lines = _regular_lines(large_demo["invoice_lines"])
    plans = large_demo["plans"]
    annual = plans.loc[plans["interval_unit"] == "year", "plan_id"]
    lines = lines[lines["plan_id"].isin(annual)]
    start = lines["service_period_start"]
    expected = start + pd.DateOffset(years=1)
    not_leap_day = ~((start.dt.month == 2) & (start.dt.day == 29))
    assert (lines["service_period_end"] == expected)[not_leap_day].all()


def test_credit_lines_have_matching_charge(demo: Tables) -> None:
    lines = demo["invoice_lines"]
    key = [
        "invoice_id",
        "subscription_id",
        "service_period_start",
        "service_period_end",
    ]
    credits = lines[lines["amount"] < 0]
    charges = lines[(lines["amount"] > 0) & _proration_mask(lines)]
    assert len(credits) > 0
    merged = credits[key].merge(charges[key], on=key, how="left", indicator=True)
    assert (merged["_merge"] == "both").all()


@pytest.mark.parametrize(
    "column", ["amount", "discount", "tax"], ids=["amount", "discount", "tax"]
)
def test_amounts_have_two_decimals(demo: Tables, column: str) -> None:
    values = demo["invoice_lines"][column]
    assert values.dtype == np.float64
    assert (values.round(2) == values).all()


def test_discount_within_amount(demo: Tables) -> None:
    lines = demo["invoice_lines"]
    assert (lines["discount"] >= 0).all()
    assert (lines["discount"] <= lines["amount"].clip(lower=0)).all()


def test_us_lines_untaxed(demo: Tables) -> None:
    lines = demo["invoice_lines"]
    assert (lines.loc[lines["currency"] == "USD", "tax"] == 0).all()
    assert (lines.loc[lines["currency"] == "GBP", "tax"] != 0).any()


def test_customer_has_one_currency(demo: Tables) -> None:
    per_customer = demo["invoice_lines"].groupby("customer_id")["currency"].nunique()
    assert (per_customer == 1).all()


@pytest.mark.parametrize(
    ("column", "allowed"),
    [
        ("kind", {"subscription", "one_time"}),
        ("status", {"paid", "open", "void", "uncollectible", "refunded"}),
        ("currency", {"USD", "EUR", "GBP", "CAD", "AUD"}),
    ],
    ids=["kind", "status", "currency"],
)
def test_line_labels_known(demo: Tables, column: str, allowed: set[str]) -> None:
    assert set(demo["invoice_lines"][column]) == allowed


def test_fx_rates_cover_service_starts(demo: Tables) -> None:
    lines = demo["invoice_lines"].dropna(subset=["service_period_start"])
    rates = demo["fx_rates"]
    foreign = sorted(set(lines["currency"]) - {"USD"})
    assert sorted(set(rates["currency"])) == foreign
    for currency in foreign:
        starts = lines.loc[lines["currency"] == currency, ["service_period_start"]]
        starts = starts.drop_duplicates().sort_values("service_period_start")
        table = rates[rates["currency"] == currency].sort_values("date")
        matched = pd.merge_asof(
            starts,
            table,
            left_on="service_period_start",
            right_on="date",
            direction="backward",
            tolerance=pd.Timedelta(days=3),
        )
        assert matched["rate"].notna().all(), currency


def test_fx_rates_span_history(demo: Tables) -> None:
    dates = demo["fx_rates"]["date"]
    # 2023-07-01 is a Saturday, so the first rate is Friday 2023-06-30.
    assert dates.min() == pd.Timestamp("2023-06-30")
    # 2025-06-18 is a Wednesday and a business day.
    assert dates.max() == pd.Timestamp(END)


def test_fx_rates_on_business_days(demo: Tables) -> None:
    rates = demo["fx_rates"]
    assert (rates["date"].dt.dayofweek < 5).all()
    assert (rates["rate"].round(4) == rates["rate"]).all()
    assert "USD" not in set(rates["currency"])


@pytest.mark.parametrize(
    ("currency", "start", "low", "high"),
    [
        ("EUR", 0.92, 0.75, 1.1),
        ("GBP", 0.79, 0.65, 0.95),
        ("CAD", 1.36, 1.15, 1.6),
        ("AUD", 1.52, 1.3, 1.8),
    ],
    ids=["EUR", "GBP", "CAD", "AUD"],
)
def test_fx_rates_stay_plausible(
    large_demo: Tables, currency: str, start: float, low: float, high: float
) -> None:
    rates = large_demo["fx_rates"]
    series = rates.loc[rates["currency"] == currency].sort_values("date")["rate"]
    assert series.iloc[0] == start
    assert series.between(low, high).all()


def test_marketing_spend_monthly_usd(demo: Tables) -> None:
    spend = demo["marketing_spend"]
    assert (spend["month"].dt.day == 1).all()
    assert set(spend["currency"]) == {"USD"}
    assert spend["month"].nunique() == 24
    assert (spend["amount"] >= 0).all()


def test_employees_match_company_size(demo: Tables) -> None:
    customers = demo["customers"]
    employees = customers["metadata.employees"].astype(int)
    size = customers["metadata.company_size"]
    bounds = {"1-10": (1, 10), "11-50": (11, 50), "51-250": (51, 250)}
    for label, (low, high) in bounds.items():
        assert employees[size == label].between(low, high).all(), label
    assert (employees[size == "250+"] > 250).all()


def test_cancellation_reason_only_when_ended(demo: Tables) -> None:
    subscriptions = demo["subscriptions"]
    ended = subscriptions["ended_at"].notna()
    has_reason = subscriptions["cancellation_reason"].notna()
    assert (ended == has_reason).all()
    assert set(subscriptions["cancellation_reason"].dropna()) == REASONS


def _trial_lines(tables: Tables) -> pd.DataFrame:
    lines = tables["invoice_lines"]
    length = lines["service_period_end"] - lines["service_period_start"]
    trial = (lines["amount"] == 0) & (length == pd.Timedelta(days=14))
    return lines[trial & (lines["kind"] == "subscription")]


def _full_discounts(tables: Tables) -> pd.DataFrame:
    lines = tables["invoice_lines"]
    return lines[(lines["amount"] > 0) & (lines["discount"] == lines["amount"])]


def _partial_discounts(tables: Tables) -> pd.DataFrame:
    lines = tables["invoice_lines"]
    return lines[(lines["discount"] > 0) & (lines["discount"] < lines["amount"])]


def _credit_lines(tables: Tables) -> pd.DataFrame:
    lines = tables["invoice_lines"]
    return lines[lines["amount"] < 0]


def _annual_lines(tables: Tables) -> pd.DataFrame:
    plans = tables["plans"]
    annual = plans.loc[plans["interval_unit"] == "year", "plan_id"]
    return tables["invoice_lines"][tables["invoice_lines"]["plan_id"].isin(annual)]


def _seat_lines(tables: Tables) -> pd.DataFrame:
    lines = tables["invoice_lines"]
    return lines[lines["quantity"] > 1]


def _one_time_lines(tables: Tables) -> pd.DataFrame:
    lines = tables["invoice_lines"]
    return lines[lines["kind"] == "one_time"]


def _subscription_pairs(tables: Tables) -> pd.DataFrame:
    subscriptions = tables["subscriptions"]
    pairs = subscriptions.merge(subscriptions, on="customer_id")
    return pairs[pairs["subscription_id_x"] != pairs["subscription_id_y"]]


def _two_subscriptions(tables: Tables) -> pd.DataFrame:
    """Return pairs of one customer's subscriptions that were active together."""
    pairs = _subscription_pairs(tables)
    still_active = pd.Timestamp(END) + pd.Timedelta(days=1)
    first_end = pairs["ended_at_x"].fillna(still_active)
    starts_inside = pairs["started_at_y"] >= pairs["started_at_x"]
    return pairs[starts_inside & (pairs["started_at_y"] < first_end)]


def _returns(tables: Tables) -> pd.DataFrame:
    """Return pairs where a customer subscribes again at least 30 days after leaving."""
    pairs = _subscription_pairs(tables)
    gap = pairs["started_at_y"] - pairs["ended_at_x"]
    return pairs[gap >= pd.Timedelta(days=30)]


def _immediate_cancellations(tables: Tables) -> pd.DataFrame:
    """Return subscriptions that ended before the end of their last paid period."""
    lines = tables["invoice_lines"]
    last_end = lines.groupby("subscription_id")["service_period_end"].max()
    subscriptions = tables["subscriptions"].set_index("subscription_id")
    ended = subscriptions["ended_at"].dropna()
    return ended[ended < last_end.reindex(ended.index)].to_frame()


def _padded_countries(tables: Tables) -> pd.DataFrame:
    customers = tables["customers"]
    return customers[customers["country"] != customers["country"].str.strip()]


def _customers_without_manager(tables: Tables) -> pd.DataFrame:
    customers = tables["customers"]
    return customers[customers["metadata.account_manager"].isna()]


def _status(name: str) -> Callable[[Tables], pd.DataFrame]:
    def select(tables: Tables) -> pd.DataFrame:
        lines = tables["invoice_lines"]
        return lines[lines["status"] == name]

    return select


FEATURES: dict[str, Callable[[Tables], pd.DataFrame]] = {
    "trials": _trial_lines,
    "full_discounts": _full_discounts,
    "partial_discounts": _partial_discounts,
    "credit_lines": _credit_lines,
    "annual_plans": _annual_lines,
    "seat_quantities": _seat_lines,
    "setup_fees": _one_time_lines,
    "two_subscriptions": _two_subscriptions,
    "returns": _returns,
    "immediate_cancellations": _immediate_cancellations,
    "padded_countries": _padded_countries,
    "no_account_manager": _customers_without_manager,
    "open_invoices": _status("open"),
    "uncollectible_invoices": _status("uncollectible"),
    "void_lines": _status("void"),
    "refunded_lines": _status("refunded"),
}


@pytest.mark.parametrize("feature", list(FEATURES), ids=list(FEATURES))
def test_feature_present(demo: Tables, feature: str) -> None:
    assert len(FEATURES[feature](demo)) > 0


@pytest.mark.parametrize(
    ("feature", "low", "high"),
    [
        ("trials", 0.25, 0.45),
        ("full_discounts", 0.005, 0.04),
        ("setup_fees", 0.03, 0.15),
        ("padded_countries", 0.02, 0.10),
        ("no_account_manager", 0.35, 0.65),
    ],
    ids=["trials", "full_discounts", "setup_fees", "padded_countries", "no_manager"],
)
def test_feature_customer_share(
    large_demo: Tables, feature: str, low: float, high: float
) -> None:
    customers = FEATURES[feature](large_demo)["customer_id"].nunique()
    share = customers / len(large_demo["customers"])
    assert low <= share <= high


def test_open_and_uncollectible_near_end(demo: Tables) -> None:
    lines = demo["invoice_lines"]
    age = pd.Timestamp(END) - lines["invoice_date"]
    assert (age[lines["status"] == "open"] < pd.Timedelta(days=30)).all()
    assert (age[lines["status"] == "uncollectible"] < pd.Timedelta(days=120)).all()


def test_messy_labels_present(large_demo: Tables) -> None:
    customers = large_demo["customers"]
    countries = set(customers["country"])
    channels = set(customers["metadata.channel"])
    assert {"US", "USA", "United States", "U.S."} <= countries
    assert {"france ", "Allemagne", "Deutschland", "UK", "CA"} <= countries
    assert "Australia               " in countries
    assert {"SEO", "seo ", "Paid search", "Adwords"} <= channels


def test_cities_drawn_from_every_list(large_demo: Tables) -> None:
    customers = large_demo["customers"]
    # 8 United States cities and 4 in each of the 5 other countries.
    assert customers["city"].nunique() == 28
    us = customers["country"].isin(["US", "USA", "United States", "U.S."])
    assert customers.loc[us, "state"].notna().all()
    france = customers["country"].str.strip().str.lower().isin(["fr", "france"])
    assert customers.loc[france, "state"].isna().all()


def _main_subscriptions(tables: Tables) -> pd.DataFrame:
    """Return each customer's first subscription with customer and plan fields."""
    subscriptions = tables["subscriptions"].sort_values("started_at")
    first = subscriptions.drop_duplicates("customer_id")
    first = first.merge(tables["customers"], on="customer_id")
    return first.merge(tables["plans"], on="plan_id", suffixes=("", "_plan"))


def _churn_per_year(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return cancellations per subscription-year by segment."""
    end = pd.Timestamp(END)
    years = (frame["ended_at"].fillna(end) - frame["started_at"]).dt.days / 365.25
    grouped = frame.assign(years=years, churned=frame["ended_at"].notna())
    totals = grouped.groupby(column).agg(
        churned=("churned", "sum"), years=("years", "sum")
    )
    return totals["churned"] / totals["years"]


def test_monthly_plans_churn_more_than_annual(large_demo: Tables) -> None:
    churn = _churn_per_year(_main_subscriptions(large_demo), "interval_unit")
    assert churn["month"] > 1.5 * churn["year"]


def test_seo_churns_less_than_paid_search(large_demo: Tables) -> None:
    main = _main_subscriptions(large_demo)
    channel = main["metadata.channel"].str.strip().str.lower()
    main = main.assign(channel=channel.replace({"adwords": "paid search"}))
    churn = _churn_per_year(main, "channel")
    assert churn["seo"] < 0.7 * churn["paid search"]


def test_small_companies_pay_less_and_stay(large_demo: Tables) -> None:
    main = _main_subscriptions(large_demo)
    churn = _churn_per_year(main, "metadata.company_size")
    assert churn["1-10"] < churn["51-250"]
    lines = large_demo["invoice_lines"].merge(
        large_demo["customers"][["customer_id", "metadata.company_size"]],
        on="customer_id",
    )
    paid = lines[(lines["kind"] == "subscription") & (lines["amount"] > 0)]
    average = paid.groupby("metadata.company_size")["amount"].mean()
    assert average["1-10"] < average["51-250"]


def test_signups_grow(large_demo: Tables) -> None:
    created = large_demo["customers"]["created_at"]
    first_year = (created < pd.Timestamp("2023-07-01")).sum()
    last_year = (created >= pd.Timestamp("2024-07-01")).sum()
    assert last_year > 1.5 * first_year


def test_single_customer_single_month() -> None:
    tables = generate_demo(customers=1, months=1, seed=1, end=datetime.date(2025, 3, 1))
    assert len(tables["customers"]) == 1
    assert len(tables["invoice_lines"]) >= 1
    for name, columns in COLUMNS.items():
        assert list(tables[name].columns) == columns, name


def test_end_defaults_to_today() -> None:
    tables = generate_demo(customers=20, months=2, seed=1)
    today = pd.Timestamp(datetime.date.today())
    assert tables["invoice_lines"]["invoice_date"].max() <= today


def test_datetime_end_uses_its_date() -> None:
    moment = datetime.datetime(2025, 6, 18, 23, 30)
    from_datetime = generate_demo(customers=50, months=3, seed=2, end=moment)
    from_date = generate_demo(customers=50, months=3, seed=2, end=END)
    pd.testing.assert_frame_equal(
        from_datetime["invoice_lines"], from_date["invoice_lines"]
    )


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"customers": 0}, ValueError, "customers must be a positive integer, got 0"),
        ({"customers": 2.5}, TypeError, "customers must be a positive integer"),
        ({"customers": True}, TypeError, "customers must be a positive integer"),
        ({"months": -1}, ValueError, "months must be a positive integer, got -1"),
        ({"end": "2025-06-18"}, TypeError, "end must be a datetime.date or None"),
    ],
    ids=[
        "zero_customers",
        "float_customers",
        "bool_customers",
        "negative_months",
        "str_end",
    ],
)
def test_invalid_arguments_raise(
    arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        generate_demo(**arguments)  # type: ignore[arg-type]


def _read_csv_rows(path: pathlib.Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_write_demo_csv_files_and_headers(demo: Tables, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "import"
    write_demo_csv(demo, folder)
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        f"{name}.csv" for name in COLUMNS
    )
    for name, columns in COLUMNS.items():
        with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
            assert next(csv.reader(handle)) == columns, name


def test_write_demo_csv_values(demo: Tables, tmp_path: pathlib.Path) -> None:
    write_demo_csv(demo, tmp_path)
    lines = _read_csv_rows(tmp_path / "invoice_lines.csv")
    assert len(lines) == len(demo["invoice_lines"])
    first = demo["invoice_lines"].iloc[0]
    assert lines[0]["invoice_date"] == first["invoice_date"].date().isoformat()
    assert float(lines[0]["amount"]) == first["amount"]
    one_time = [row for row in lines if row["kind"] == "one_time"]
    assert one_time[0]["subscription_id"] == ""
    assert one_time[0]["service_period_start"] == ""


def test_write_demo_csv_empty_for_missing(demo: Tables, tmp_path: pathlib.Path) -> None:
    write_demo_csv(demo, tmp_path)
    subscriptions = _read_csv_rows(tmp_path / "subscriptions.csv")
    active = [row for row in subscriptions if row["ended_at"] == ""]
    assert len(active) == demo["subscriptions"]["ended_at"].isna().sum()
    assert all(row["cancellation_reason"] == "" for row in active)
    ended = [row for row in subscriptions if row["ended_at"] != ""]
    assert all(datetime.date.fromisoformat(row["ended_at"]) for row in ended)


def test_write_demo_csv_keeps_padding(demo: Tables, tmp_path: pathlib.Path) -> None:
    write_demo_csv(demo, tmp_path)
    customers = _read_csv_rows(tmp_path / "customers.csv")
    assert [row["country"] for row in customers] == list(demo["customers"]["country"])
