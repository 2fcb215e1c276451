"""Generate a realistic SaaS billing history in the canonical tables.

The history belongs to a company that sells two products (Analytics and Reports)
with Basic, Pro and Enterprise tiers on monthly and annual plans, plus a
Connectors add-on. Every customer signs up inside the history, so MRR starts at
zero and grows. Customers differ by country, acquisition channel, company size and
account manager, and churn depends on those segments: monthly plans churn more
than annual ones, SEO customers less than paid search, small companies pay less
but stay longer. The billing events are 14-day free trials, coupons, seat-based
quantities, mid-period plan changes with proration, cancellations at period end or
immediately, win-backs, add-on subscriptions, setup fees, taxes, and open,
uncollectible, void and refunded invoices.

Labels are messy on purpose ("US", "USA", "U.S.", "france ", "Adwords") so that
label rules have something to clean. The output is deterministic for a given seed
and end date.
"""

from __future__ import annotations

import datetime
import logging
import pathlib
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv

__all__ = ["generate_demo", "write_demo_csv"]

logger = logging.getLogger(__name__)

_DAY = np.timedelta64(1, "D")
_TRIAL_DAYS = 14

# Currencies, the list price of each currency relative to USD list prices, and the
# exchange rate (units per USD) on the first day of the history.
_CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD")
_PRICE_FACTOR = np.array([1.0, 1.0, 0.85, 1.35, 1.5])
_FX_START = np.array([1.0, 0.92, 0.79, 1.36, 1.52])
# Daily log-rate shocks, and the share of the distance to the starting rate that
# each day takes back. The stationary standard deviation is about 4.5 %, so rates
# mostly stay within 10 % of where they started.
_FX_DAILY_VOLATILITY = 0.004
_FX_MEAN_REVERSION = 0.004


@dataclass(frozen=True)
class _Country:
    share: float
    currency: int
    # VAT or GST on the net amount. Canada charges the federal 5 % GST only.
    tax_rate: float
    churn_factor: float
    labels: tuple[tuple[str, float], ...]
    cities: tuple[tuple[str, str | None], ...]
    domain_suffix: str
    legal_forms: tuple[str, ...]


_COUNTRIES = (
    _Country(
        0.40,
        0,
        0.0,
        1.0,
        (("US", 0.35), ("USA", 0.2), ("United States", 0.35), ("U.S.", 0.1)),
        (
            ("New York", "NY"),
            ("San Francisco", "CA"),
            ("Austin", "TX"),
            ("Chicago", "IL"),
            ("Seattle", "WA"),
            ("Boston", "MA"),
            ("Denver", "CO"),
            ("Miami", "FL"),
        ),
        ".com",
        ("Inc.", "LLC", "Corp."),
    ),
    _Country(
        0.10,
        1,
        0.20,
        0.9,
        (("FR", 0.4), ("France", 0.45), ("france ", 0.15)),
        (("Paris", None), ("Lyon", None), ("Bordeaux", None), ("Lille", None)),
        ".fr",
        ("SAS", "SARL"),
    ),
    _Country(
        0.10,
        1,
        0.19,
        0.85,
        (("DE", 0.4), ("Deutschland", 0.3), ("Allemagne", 0.1), ("Germany", 0.2)),
        (("Berlin", None), ("Munich", None), ("Hamburg", None), ("Cologne", None)),
        ".de",
        ("GmbH", "AG"),
    ),
    _Country(
        0.12,
        2,
        0.20,
        0.95,
        (("UK", 0.45), ("United Kingdom", 0.35), ("GB", 0.2)),
        (
            ("London", None),
            ("Manchester", None),
            ("Edinburgh", None),
            ("Bristol", None),
        ),
        ".co.uk",
        ("Ltd",),
    ),
    _Country(
        0.15,
        3,
        0.05,
        1.0,
        (("Canada", 0.6), ("CA", 0.4)),
        (("Toronto", "ON"), ("Vancouver", "BC"), ("Montreal", "QC"), ("Calgary", "AB")),
        ".ca",
        ("Inc.", "Ltd."),
    ),
    _Country(
        0.13,
        4,
        0.10,
        1.1,
        (("Australia               ", 0.4), ("Australia", 0.35), ("AU", 0.25)),
        (("Sydney", "NSW"), ("Melbourne", "VIC"), ("Brisbane", "QLD"), ("Perth", "WA")),
        ".com.au",
        ("Pty Ltd",),
    ),
)
_COUNTRY_SHARES = np.array([country.share for country in _COUNTRIES])
_COUNTRY_CURRENCY = np.array([country.currency for country in _COUNTRIES])
_COUNTRY_TAX_RATE = np.array([country.tax_rate for country in _COUNTRIES])
_COUNTRY_CHURN = np.array([country.churn_factor for country in _COUNTRIES])

# Clean channel name, share of signups, churn factor, raw labels with their shares,
# and the acquisition cost per new customer in USD (0 for Direct, which has no spend).
_CHANNELS = (
    ("SEO", 0.25, 0.6, (("SEO", 0.75), ("seo ", 0.25)), 300.0),
    ("Paid search", 0.25, 1.5, (("Paid search", 0.6), ("Adwords", 0.4)), 900.0),
    ("Referral", 0.15, 0.8, (("Referral", 1.0),), 150.0),
    ("Partner", 0.10, 0.9, (("Partner", 1.0),), 500.0),
    ("Direct", 0.25, 1.0, (("Direct", 1.0),), 0.0),
)
_PAID_SEARCH = 1
_CHANNEL_SHARES = np.array([channel[1] for channel in _CHANNELS])
_CHANNEL_CHURN = np.array([channel[2] for channel in _CHANNELS])

# Company size buckets with the employee range, churn factor, tier shares (Basic,
# Pro, Enterprise), annual plan share, account manager coverage, add-on take-up and
# seat range on per-seat plans.
_SIZES = ("1-10", "11-50", "51-250", "250+")
_SIZE_SHARES = np.array([0.40, 0.30, 0.20, 0.10])
_SIZE_EMPLOYEES = np.array([[1, 10], [11, 50], [51, 250], [251, 5000]])
_SIZE_CHURN = np.array([0.4, 0.7, 1.0, 1.1])
_SIZE_TIER_SHARES = np.array(
    [[0.65, 0.30, 0.05], [0.40, 0.50, 0.10], [0.20, 0.55, 0.25], [0.05, 0.45, 0.50]]
)
_SIZE_ANNUAL_SHARE = np.array([0.15, 0.25, 0.35, 0.50])
_SIZE_MANAGER_SHARE = np.array([0.15, 0.50, 0.85, 1.0])
_SIZE_ADDON_SHARE = np.array([0.12, 0.20, 0.30, 0.35])
_SIZE_SEATS = np.array([[1, 5], [3, 20], [10, 60], [25, 200]])

_MANAGERS = ("Claire Martin", "James Wilson", "Sofia Rossi", "Daniel Kim", "Priya Shah")
# One churn factor per manager, then the factor for customers without a manager,
# which index -1 selects.
_MANAGER_CHURN = np.array([0.75, 0.9, 1.0, 1.1, 1.3, 1.05])

_REASONS = (
    "price",
    "poor adoption",
    "switched to competitor",
    "business closed",
    "missing feature",
)
_REASON_WEIGHTS = np.array([0.25, 0.30, 0.20, 0.10, 0.15])

_PRODUCTS = (
    ("prod_analytics", "Analytics"),
    ("prod_reports", "Reports"),
    ("prod_connectors", "Connectors add-on"),
)
_REPORTS = 1
_TIER_CHURN = np.array([1.25, 1.0, 0.7, 1.0])  # Basic, Pro, Enterprise, add-on (-1)
_PRODUCT_CHURN = np.array([1.0, 1.2, 1.0])


@dataclass(frozen=True)
class _Plan:
    plan_id: str
    product: int
    name: str
    interval_unit: str
    interval_count: int
    tier: int  # 0 Basic, 1 Pro, 2 Enterprise, -1 add-on
    usd_price: float  # per unit and billing period
    per_seat: bool


_PLANS = (
    _Plan("analytics-basic-monthly", 0, "Basic monthly", "month", 1, 0, 49, False),
    _Plan("analytics-pro-monthly", 0, "Pro monthly", "month", 1, 1, 19, True),
    _Plan(
        "analytics-enterprise-monthly", 0, "Enterprise monthly", "month", 1, 2, 39, True
    ),
    _Plan("analytics-basic-annual", 0, "Basic annual", "year", 1, 0, 490, False),
    _Plan("analytics-pro-annual", 0, "Pro (annual)", "year", 1, 1, 190, True),
    _Plan(
        "analytics-enterprise-annual", 0, "Enterprise Annual", "year", 1, 2, 390, True
    ),
    _Plan("reports-basic-monthly", 1, "basic-monthly", "month", 1, 0, 29, False),
    _Plan("reports-pro-monthly", 1, "pro-monthly ", "month", 1, 1, 99, False),
    _Plan(
        "reports-enterprise-monthly",
        1,
        "Reports Enterprise - Monthly",
        "month",
        1,
        2,
        449,
        False,
    ),
    _Plan("reports-basic-annual", 1, "Basic yearly", "year", 1, 0, 290, False),
    _Plan("reports-pro-annual", 1, "Pro (annual) v2", "year", 1, 1, 990, False),
    _Plan(
        "reports-enterprise-annual", 1, "ENTERPRISE ANNUAL", "year", 1, 2, 4490, False
    ),
    _Plan("reports-pro-quarterly", 1, "Pro quarterly", "month", 3, 1, 279, False),
    _Plan("connectors-monthly", 2, "Connectors monthly", "month", 1, -1, 39, False),
    _Plan("connectors-annual", 2, "Connectors annual", "year", 1, -1, 390, False),
)
_REPORTS_PRO_MONTHLY = 7
_REPORTS_PRO_QUARTERLY = 12
_CONNECTORS_MONTHLY = 13
_CONNECTORS_ANNUAL = 14
_PLAN_PRODUCT = np.array([plan.product for plan in _PLANS])
_PLAN_TIER = np.array([plan.tier for plan in _PLANS])
_PLAN_PER_SEAT = np.array([plan.per_seat for plan in _PLANS])
_PLAN_MONTHS = np.array(
    [
        plan.interval_count * (12 if plan.interval_unit == "year" else 1)
        for plan in _PLANS
    ]
)
# Unit price of each plan in each currency, rounded to whole currency units.
_PLAN_PRICE = np.round(
    np.array([plan.usd_price for plan in _PLANS])[:, None] * _PRICE_FACTOR[None, :]
)


def _index_plans_by_tier() -> np.ndarray:
    """Return the plan index for each product, billing interval and tier.

    Products are 0 Analytics and 1 Reports, intervals 0 monthly and 1 annual.
    """
    plans = np.zeros((2, 2, 3), dtype=np.int64)
    for index, plan in enumerate(_PLANS):
        if plan.tier >= 0 and plan.interval_count == 1:
            plans[plan.product, int(plan.interval_unit == "year"), plan.tier] = index
    return plans


_PLAN_BY_TIER = _index_plans_by_tier()

# Relative signup volume by calendar month (January first) and yearly growth rate.
_SEASONALITY = np.array(
    [1.15, 1.05, 1.1, 1.0, 1.0, 0.95, 0.85, 0.75, 1.1, 1.1, 1.0, 0.8]
)
_GROWTH_PER_YEAR = 0.5

_FIRST_NAMES = (
    "Emma Liam Olivia Noah Ava Lucas Mia Ethan Chloe Leo Sophie Hugo Hannah Felix "
    "Grace Oscar Ella Jack Lena Paul Alice Louis Clara Max Julia Tom Nina Sam Zoe "
    "Adam Maya Ryan Ines David Laura Jonas Amelia Nathan Isla Arthur"
).split()
_LAST_NAMES = (
    "Smith Martin Muller Brown Dubois Schmidt Wilson Bernard Taylor Fischer Thomas "
    "Roy Campbell Weber Lee Moreau Walker Wagner Clark Lefebvre Young Becker King "
    "Girard Scott Hoffmann Green Fontaine Baker Schulz Adams Tremblay Nelson Gagnon "
    "Hill Kelly Wright Murphy Evans Robinson"
).split()
_COMPANY_WORDS = (
    "Blue Bright North Silver Green Rapid Clever Urban Prime Bold Quiet Golden Red "
    "True Open Swift Lunar Coastal Summit Pixel"
).split()
_COMPANY_NOUNS = (
    "Harbor Leaf Peak Forge Wave Stone Pine Orbit Bridge Field River Spark Cloud "
    "Arrow Nest Grove Beacon Atlas Vista Maple"
).split()
_COMPANY_KINDS = (
    "Labs Agency Studio Digital Systems Media Consulting Software Group Analytics"
).split()

# Line statuses and kinds. The _ORDER_ values rank lines on an invoice: periods and
# trials first, then proration credits, proration charges and setup fees.
_STATUSES = np.array(
    ["paid", "open", "void", "uncollectible", "refunded"], dtype=object
)
_PAID, _OPEN, _VOID, _UNCOLLECTIBLE, _REFUNDED = range(5)
_KINDS = np.array(["subscription", "one_time"], dtype=object)
_ORDER_PERIOD, _ORDER_CREDIT, _ORDER_CHARGE, _ORDER_SETUP = range(4)

_OPEN_SHARE = 0.06  # of paying invoices dated in the last 30 days
_UNCOLLECTIBLE_SHARE = 0.02  # of paying invoices dated 30 to 120 days before the end
_VOID_SHARE = 0.003  # of paying subscription lines, duplicated on a void invoice
_REFUND_SHARE = 0.002  # of paying subscription lines, refunded without cancelling


@dataclass
class _Customers:
    """Customer attributes as integer codes, one entry per customer."""

    ids: np.ndarray
    signup: np.ndarray  # datetime64[D]
    country: np.ndarray
    currency: np.ndarray
    channel: np.ndarray
    size: np.ndarray
    manager: np.ndarray  # -1 without an account manager
    seats: np.ndarray  # seats bought on a per-seat plan
    cohort_churn: np.ndarray  # churn factor of the signup quarter
    table: pd.DataFrame


@dataclass
class _Spec:
    """Subscriptions to simulate, one entry per subscription."""

    customer: np.ndarray
    plan: np.ndarray
    quantity: np.ndarray
    start: np.ndarray  # datetime64[D], the trial start for trials
    trial: np.ndarray
    trial_converts: np.ndarray
    hazard: np.ndarray  # probability of cancelling at each renewal
    early_churn: np.ndarray  # probability of cancelling after the first period
    coupon_percent: np.ndarray
    coupon_periods: np.ndarray
    change: np.ndarray  # whether the plan or seat count changes once
    cap: np.ndarray  # datetime64[D] when service must stop, NaT for none
    cap_reason: np.ndarray  # reason index used when the cap ends the subscription


@dataclass
class _Outcome:
    """Simulated subscriptions with their invoice lines."""

    plan: np.ndarray  # plan after the change, if any
    paid_start: np.ndarray
    paid_periods: np.ndarray
    ended: np.ndarray  # datetime64[D], NaT while active
    reason: np.ndarray  # index into _REASONS, -1 while active
    lines: dict[str, np.ndarray]


def generate_demo(
    customers: int = 1000,
    months: int = 36,
    seed: int = 42,
    end: datetime.date | None = None,
) -> dict[str, pd.DataFrame]:
    """Generate a billing history of `customers` customers over `months` months.

    The months are whole calendar months ending with the month of `end`, which
    defaults to today, and no invoice is dated after `end`. Every customer signs up
    inside the history. With 36 months there are about 9.6 invoice lines per customer
    (960,394 lines for 100,000 customers with seed 42 and end 2025-06-18).
    Returns the canonical tables keyed by name: customers, products, plans,
    subscriptions, invoice_lines, fx_rates and marketing_spend. Dates are
    datetime64[ns] day values, ids and labels are strings, missing values are None
    or NaT. A subscription's plan_id is its plan after the last plan change.

    Raises TypeError when `customers` or `months` is not an integer or `end` is not
    a date, and ValueError when `customers` or `months` is below 1.
    """
    end = _validate_arguments(customers, months, end)
    started = time.perf_counter()
    logger.info(
        "Generating demo history: %d customers, %d months to %s.",
        customers,
        months,
        end,
    )
    rng = np.random.default_rng(seed)
    end_month = np.datetime64(end, "M")
    first_day = (end_month - (months - 1)).astype("datetime64[D]")
    end_day = np.datetime64(end, "D")

    people = _generate_customers(rng, customers, first_day, end_day)
    subscriptions, lines = _simulate_history(rng, people, end_day)
    tables = {
        "customers": people.table,
        "products": pd.DataFrame(_PRODUCTS, columns=["product_id", "name"]),
        "plans": _plans_table(),
        "subscriptions": subscriptions,
        "invoice_lines": _invoice_lines_table(
            rng, lines, people, subscriptions, end_day
        ),
        "fx_rates": _fx_rates_table(rng, people.currency, first_day, end_day),
        "marketing_spend": _marketing_spend_table(rng, people, first_day, months),
    }
    logger.info(
        "Generated demo history in %.1f s: %d subscriptions, %d invoice lines.",
        time.perf_counter() - started,
        len(tables["subscriptions"]),
        len(tables["invoice_lines"]),
    )
    return tables


def write_demo_csv(tables: dict[str, pd.DataFrame], folder: pathlib.Path) -> None:
    """Write each table to `<folder>/<name>.csv` in the canonical CSV import format.

    Dates are written as ISO 8601 days (times of day are dropped), missing values as
    empty fields, and the folder is created when missing.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    options = pa_csv.WriteOptions(quoting_style="needed")
    for name, frame in tables.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for position, field in enumerate(table.schema):
            if pa.types.is_timestamp(field.type):
                days = pa_compute.cast(table.column(position), pa.date32(), safe=False)
                table = table.set_column(position, field.name, days)
        pa_csv.write_csv(table, folder / f"{name}.csv", options)


def _validate_arguments(
    customers: int, months: int, end: datetime.date | None
) -> datetime.date:
    for name, value in (("customers", customers), ("months", months)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be a positive integer, got {value!r}.")
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if end is None:
        return datetime.date.today()
    if isinstance(end, datetime.datetime):
        return end.date()
    if not isinstance(end, datetime.date):
        raise TypeError(
            f"end must be a datetime.date or None, got {type(end).__name__} {end!r}."
        )
    return end


def _add_months(dates: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Shift day dates by whole months, clamping the day to the target month's end."""
    month_start = dates.astype("datetime64[M]")
    day = (dates - month_start.astype("datetime64[D]")).astype(np.int64)
    target = month_start + months
    target_start = target.astype("datetime64[D]")
    month_length = ((target + 1).astype("datetime64[D]") - target_start).astype(
        np.int64
    )
    return target_start + np.minimum(day, month_length - 1)


def _count_periods(
    start: np.ndarray, months: np.ndarray, limit: np.ndarray
) -> np.ndarray:
    """Count the billing periods anchored on `start` that begin on or before `limit`."""
    elapsed = (limit.astype("datetime64[M]") - start.astype("datetime64[M]")).astype(
        np.int64
    )
    elapsed -= _add_months(start, elapsed) > limit
    return np.where(elapsed >= 0, elapsed // months + 1, 0)


def _sample_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Draw one column index per row of a weight matrix."""
    cumulative = weights.cumsum(axis=1)
    draws = rng.random(len(weights)) * cumulative[:, -1]
    return np.minimum((draws[:, None] >= cumulative).sum(axis=1), weights.shape[1] - 1)


def _pick_labels(
    rng: np.random.Generator,
    groups: np.ndarray,
    labels: list[tuple[tuple[str, float], ...]],
) -> np.ndarray:
    """Draw a raw label for each row from the label shares of its group."""
    result = np.empty(len(groups), dtype=object)
    for group, choices in enumerate(labels):
        rows = np.flatnonzero(groups == group)
        names = np.array([name for name, _ in choices], dtype=object)
        shares = np.array([share for _, share in choices])
        result[rows] = names[rng.choice(len(names), size=len(rows), p=shares)]
    return result


def _generate_customers(
    rng: np.random.Generator, count: int, first_day: np.datetime64, end: np.datetime64
) -> _Customers:
    # Signups grow exponentially, follow the calendar season and halve on weekends.
    days = np.arange(first_day, end + _DAY, dtype="datetime64[D]")
    years = (days - first_day).astype(np.int64) / 365.25
    calendar_month = days.astype("datetime64[M]").astype(np.int64) % 12
    weekend = (days.astype(np.int64) + 3) % 7 >= 5  # 1970-01-01 was a Thursday
    weights = np.exp(_GROWTH_PER_YEAR * years) * _SEASONALITY[calendar_month]
    weights *= np.where(weekend, 0.5, 1.0)
    signup = np.sort(days[rng.choice(len(days), size=count, p=weights / weights.sum())])

    country = rng.choice(len(_COUNTRIES), size=count, p=_COUNTRY_SHARES)
    channel = rng.choice(len(_CHANNELS), size=count, p=_CHANNEL_SHARES)
    size = rng.choice(len(_SIZES), size=count, p=_SIZE_SHARES)
    has_manager = rng.random(count) < _SIZE_MANAGER_SHARE[size]
    manager = np.where(has_manager, rng.integers(0, len(_MANAGERS), count), -1)
    # Employees are uniform inside a size bucket, and log-uniform in "250+".
    low, high = _SIZE_EMPLOYEES[size].T
    log_uniform = np.exp(rng.uniform(np.log(low), np.log(high + 1))).astype(np.int64)
    employees = np.where(size == 3, log_uniform, rng.integers(low, high + 1))
    seat_low, seat_high = _SIZE_SEATS[size].T
    seats = rng.integers(seat_low, seat_high + 1)
    month_index = signup.astype("datetime64[M]") - first_day.astype("datetime64[M]")
    quarter = month_index.astype(np.int64) // 3
    quarter_churn = rng.lognormal(0.0, 0.2, size=int(quarter.max()) + 1)

    width = max(5, len(str(count)))
    ids = np.array([f"cus_{i:0{width}d}" for i in range(1, count + 1)], dtype=object)
    managers = np.array([*_MANAGERS, None], dtype=object)
    table = pd.DataFrame(
        {
            "customer_id": ids,
            **_contact_columns(rng, country),
            "created_at": signup.astype("datetime64[ns]"),
            "metadata.channel": _pick_labels(rng, channel, [c[3] for c in _CHANNELS]),
            "metadata.company_size": np.array(_SIZES, dtype=object)[size],
            "metadata.account_manager": managers[manager],
            "metadata.employees": employees.astype(str).astype(object),
        }
    )
    return _Customers(
        ids=ids,
        signup=signup,
        country=country,
        currency=_COUNTRY_CURRENCY[country],
        channel=channel,
        size=size,
        manager=manager,
        seats=seats,
        cohort_churn=quarter_churn[quarter],
        table=table,
    )


def _contact_columns(
    rng: np.random.Generator, country: np.ndarray
) -> dict[str, list[str | None] | np.ndarray]:
    """Draw name, email, company, country label, state and city per customer."""
    count = len(country)

    first = rng.integers(0, len(_FIRST_NAMES), count)
    last = rng.integers(0, len(_LAST_NAMES), count)
    word = rng.integers(0, len(_COMPANY_WORDS), count)
    noun = rng.integers(0, len(_COMPANY_NOUNS), count)
    kind = rng.integers(0, len(_COMPANY_KINDS), count)
    legal_draw = rng.random(count)
    city_draw = rng.random(count)

    names, emails, companies, states, cities = [], [], [], [], []
    for i in range(count):
        place = _COUNTRIES[country[i]]
        first_name, last_name = _FIRST_NAMES[first[i]], _LAST_NAMES[last[i]]
        brand = f"{_COMPANY_WORDS[word[i]]} {_COMPANY_NOUNS[noun[i]]}"
        legal_form = place.legal_forms[int(legal_draw[i] * len(place.legal_forms))]
        domain = brand.replace(" ", "").lower() + place.domain_suffix
        city, state = place.cities[int(city_draw[i] * len(place.cities))]
        names.append(f"{first_name} {last_name}")
        emails.append(f"{first_name}.{last_name}@{domain}".lower())
        companies.append(f"{brand} {_COMPANY_KINDS[kind[i]]} {legal_form}")
        states.append(state)
        cities.append(city)

    return {
        "name": names,
        "email": emails,
        "company": companies,
        "country": _pick_labels(rng, country, [c.labels for c in _COUNTRIES]),
        "state": states,
        "city": cities,
    }


def _churn_hazard(
    people: _Customers, customer: np.ndarray, plan: np.ndarray
) -> np.ndarray:
    """Return the probability that a subscription cancels at each renewal."""
    months = _PLAN_MONTHS[plan]
    base = np.select([months == 1, months == 3], [0.03, 0.08], 0.2)
    factor = (
        _CHANNEL_CHURN[people.channel[customer]]
        * _SIZE_CHURN[people.size[customer]]
        * _COUNTRY_CHURN[people.country[customer]]
        * _MANAGER_CHURN[people.manager[customer]]
        * people.cohort_churn[customer]
        * _TIER_CHURN[_PLAN_TIER[plan]]
        * _PRODUCT_CHURN[_PLAN_PRODUCT[plan]]
    )
    return np.clip(base * factor, 0.003, 0.9)


def _reason_weights(
    people: _Customers, customer: np.ndarray, plan: np.ndarray
) -> np.ndarray:
    """Return cancellation reason weights per subscription, shifted by segment."""
    weights = np.tile(_REASON_WEIGHTS, (len(customer), 1))
    tier = _PLAN_TIER[plan]
    weights[tier == 0, 0] *= 1.8
    weights[people.channel[customer] == _PAID_SEARCH, 1] *= 1.6
    weights[tier == 2, 2] *= 1.6
    weights[people.size[customer] == 0, 3] *= 2.5
    weights[_PLAN_PRODUCT[plan] == _REPORTS, 4] *= 2.0
    return weights


def _choose_plan(
    rng: np.random.Generator,
    people: _Customers,
    customer: np.ndarray,
    product: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose a plan and quantity by company size.

    Bigger companies buy higher tiers, annual plans and more seats.
    """
    size = people.size[customer]
    tier = _sample_rows(rng, _SIZE_TIER_SHARES[size])
    annual = rng.random(len(customer)) < _SIZE_ANNUAL_SHARE[size]
    plan = _PLAN_BY_TIER[product, annual.astype(np.int64), tier]
    quarterly = (plan == _REPORTS_PRO_MONTHLY) & (rng.random(len(customer)) < 0.15)
    plan = np.where(quarterly, _REPORTS_PRO_QUARTERLY, plan)
    return plan, _plan_quantity(plan, people.seats[customer])


def _plan_quantity(plan: np.ndarray, seats: np.ndarray) -> np.ndarray:
    # Enterprise per-seat plans sell at least 10 seats, flat plans one unit.
    minimum = np.where(_PLAN_TIER[plan] == 2, 10, 1)
    return np.where(_PLAN_PER_SEAT[plan], np.maximum(seats, minimum), 1)


def _coupons(
    rng: np.random.Generator, plan: np.ndarray, full_share: float, percent_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a coupon percentage and the number of periods it applies to.

    100 % coupons apply to monthly plans only. Without a coupon both values are 0.
    """
    count = len(plan)
    draw = rng.random(count)
    monthly = _PLAN_MONTHS[plan] == 1
    full = monthly & (draw < full_share)
    partial = ~full & (draw >= full_share) & (draw < full_share + percent_share)
    percent = rng.choice([10.0, 20.0, 25.0, 50.0], size=count, p=[0.3, 0.35, 0.2, 0.15])
    percent = np.where(full, 100.0, np.where(partial, percent, 0.0))
    periods = np.where(monthly, rng.choice([3, 6], size=count), 1)
    periods = np.where(full, rng.integers(1, 4, count), np.where(partial, periods, 0))
    return percent, periods


def _simulate_history(
    rng: np.random.Generator, people: _Customers, end: np.datetime64
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Simulate main, add-on and win-back subscriptions, plus setup fee lines."""
    count = len(people.ids)
    customer = np.arange(count)
    product = (rng.random(count) < 0.4).astype(np.int64)
    plan, quantity = _choose_plan(rng, people, customer, product)
    trial = rng.random(count) < 0.35
    percent, periods = _coupons(rng, plan, full_share=0.02, percent_share=0.15)
    wants_addon = rng.random(count) < _SIZE_ADDON_SHARE[people.size]
    changes = np.where(_PLAN_MONTHS[plan] == 1, 0.2, 0.08)
    main_spec = _Spec(
        customer=customer,
        plan=plan,
        quantity=quantity,
        start=people.signup,
        trial=trial,
        trial_converts=rng.random(count) < 0.8,
        # Customers who also use the add-on are more engaged and churn less.
        hazard=_churn_hazard(people, customer, plan) * np.where(wants_addon, 0.6, 1.0),
        early_churn=np.where(trial, 0.08, 0.03),
        coupon_percent=percent,
        coupon_periods=periods,
        change=(rng.random(count) < changes) & (plan != _REPORTS_PRO_QUARTERLY),
        cap=np.full(count, np.datetime64("NaT"), dtype="datetime64[D]"),
        cap_reason=np.full(count, -1),
    )
    main = _simulate(rng, people, main_spec, end, offset=0)

    addon_spec = _addon_spec(rng, people, main_spec, main, wants_addon, end)
    addon = _simulate(rng, people, addon_spec, end, offset=count)
    return_spec = _return_spec(rng, people, main_spec, main, end)
    returns = _simulate(
        rng, people, return_spec, end, offset=count + len(addon_spec.customer)
    )
    setup = _setup_fee_lines(rng, people, main_spec, main)

    specs = (main_spec, addon_spec, return_spec)
    outcomes = (main, addon, returns)
    subscriptions, ids_by_index = _subscriptions_table(people, specs, outcomes)
    lines = _concat_lines([main.lines, addon.lines, returns.lines, setup])
    # Setup fee lines have subscription index -1, which selects the trailing None.
    subscription_ids = np.append(ids_by_index, None)
    lines["subscription_id"] = subscription_ids[lines.pop("subscription")]
    return subscriptions, lines


def _addon_spec(
    rng: np.random.Generator,
    people: _Customers,
    main_spec: _Spec,
    main: _Outcome,
    wants_addon: np.ndarray,
    end: np.datetime64,
) -> _Spec:
    """Specify add-on subscriptions that start while the main one is paid."""
    start = main.paid_start + rng.integers(14, 240, len(wants_addon)) * _DAY
    before_main_ends = np.isnat(main.ended) | (start < main.ended)
    chosen = np.flatnonzero(
        wants_addon & (main.paid_periods > 0) & (start <= end) & before_main_ends
    )
    customer = main_spec.customer[chosen]
    annual = _PLAN_MONTHS[main.plan[chosen]] == 12
    plan = np.where(annual, _CONNECTORS_ANNUAL, _CONNECTORS_MONTHLY)
    count = len(chosen)
    return _Spec(
        customer=customer,
        plan=plan,
        quantity=np.ones(count, dtype=np.int64),
        start=start[chosen],
        trial=np.zeros(count, dtype=bool),
        trial_converts=np.ones(count, dtype=bool),
        hazard=_churn_hazard(people, customer, plan) * 1.2,
        early_churn=np.full(count, 0.05),
        coupon_percent=np.zeros(count),
        coupon_periods=np.zeros(count, dtype=np.int64),
        change=np.zeros(count, dtype=bool),
        # The add-on stops when the main subscription ends, for the same reason.
        cap=main.ended[chosen],
        cap_reason=main.reason[chosen],
    )


def _return_spec(
    rng: np.random.Generator,
    people: _Customers,
    main_spec: _Spec,
    main: _Outcome,
    end: np.datetime64,
) -> _Spec:
    """Specify win-back subscriptions of paying customers who cancelled."""
    count = len(main.ended)
    start = main.ended + rng.integers(45, 300, count) * _DAY
    returns = rng.random(count) < 0.2
    cancelled = (main.reason >= 0) & (main.paid_periods > 0)
    chosen = np.flatnonzero(returns & cancelled & (start <= end))
    customer = main_spec.customer[chosen]
    same_product = rng.random(len(chosen)) < 0.7
    previous_product = _PLAN_PRODUCT[main.plan[chosen]]
    product = np.where(same_product, previous_product, 1 - previous_product)
    plan, quantity = _choose_plan(rng, people, customer, product)
    percent, periods = _coupons(rng, plan, full_share=0.0, percent_share=0.3)
    count = len(chosen)
    return _Spec(
        customer=customer,
        plan=plan,
        quantity=quantity,
        start=start[chosen],
        trial=np.zeros(count, dtype=bool),
        trial_converts=np.ones(count, dtype=bool),
        hazard=np.clip(_churn_hazard(people, customer, plan) * 1.3, 0.0, 0.9),
        early_churn=np.full(count, 0.05),
        coupon_percent=percent,
        coupon_periods=periods,
        change=(rng.random(count) < 0.1) & (plan != _REPORTS_PRO_QUARTERLY),
        cap=np.full(count, np.datetime64("NaT"), dtype="datetime64[D]"),
        cap_reason=np.full(count, -1),
    )


def _simulate(
    rng: np.random.Generator,
    people: _Customers,
    spec: _Spec,
    end: np.datetime64,
    offset: int,
) -> _Outcome:
    """Simulate renewals, one plan change and cancellation for each subscription.

    A subscription renews every period until its sampled lifetime runs out, the cap
    date arrives or the next period would start after `end`. `offset` is the index
    of the first subscription in the whole history.
    """
    count = len(spec.customer)
    months = _PLAN_MONTHS[spec.plan]
    paid_start = spec.start + np.where(spec.trial, _TRIAL_DAYS, 0) * _DAY
    capped_limit = np.minimum(end, spec.cap - _DAY)
    limit = np.where(np.isnat(spec.cap), end, capped_limit)
    available = _count_periods(paid_start, months, limit)
    lost_trial = spec.trial & ~spec.trial_converts
    available[lost_trial] = 0

    lifetime = rng.geometric(spec.hazard)
    lifetime[rng.random(count) < spec.early_churn] = 1
    paid = np.minimum(lifetime, available)
    cancels = lifetime < available
    last_start = _add_months(paid_start, (paid - 1) * months)
    last_end = _add_months(paid_start, paid * months)
    # 30 % of cancellations stop service at once, inside the last paid period.
    immediate = cancels & (rng.random(count) < 0.3)
    last_days = (last_end - last_start).astype(np.int64)
    stop_day = last_start + (1 + (rng.random(count) * (last_days - 1))).astype(np.int64)
    ended = np.full(count, np.datetime64("NaT"), dtype="datetime64[D]")
    ended[cancels] = np.where(immediate, stop_day, last_end)[cancels]
    trial_lost = lost_trial & (paid_start <= end)
    ended[trial_lost] = paid_start[trial_lost]
    forced = ~cancels & ~np.isnat(spec.cap) & (spec.cap <= end) & (paid > 0)
    ended[forced] = spec.cap[forced]

    sampled = _sample_rows(rng, _reason_weights(people, spec.customer, spec.plan))
    reason = np.where(cancels | trial_lost, sampled, -1)
    reason[forced] = spec.cap_reason[forced]
    refund_last = immediate & (rng.random(count) < 0.4)

    change = _plan_change(rng, people, spec, paid_start, paid)
    lines = [
        _period_lines(spec, people, paid_start, paid, change, refund_last),
        _proration_lines(spec, people, change),
        _trial_lines(spec, paid_start),
    ]
    combined = _concat_lines(lines)
    combined["subscription"] = combined["subscription"] + offset
    final_plan = np.where(change["changed"], change["plan"], spec.plan)
    return _Outcome(final_plan, paid_start, paid, ended, reason, combined)


def _plan_change(
    rng: np.random.Generator,
    people: _Customers,
    spec: _Spec,
    paid_start: np.ndarray,
    paid: np.ndarray,
) -> dict[str, np.ndarray]:
    """Draw one upgrade, downgrade or seat change per selected subscription.

    The change day falls strictly inside one paid period, after the coupon periods
    and before the last paid period, and the later periods renew on the new plan.
    Subscriptions without a change get `period` = their number of paid periods.
    """
    count = len(spec.customer)
    months = _PLAN_MONTHS[spec.plan]
    first = spec.coupon_periods
    changed = spec.change & (paid - 2 >= first)
    period = first + (rng.random(count) * np.maximum(paid - 1 - first, 0)).astype(int)
    period = np.where(changed, period, paid)
    period_start = _add_months(paid_start, period * months)
    period_end = _add_months(paid_start, (period + 1) * months)
    period_days = (period_end - period_start).astype(np.int64)
    day = period_start + (1 + rng.random(count) * (period_days - 1)).astype(np.int64)

    # Change kinds are 0 upgrade, 1 downgrade, 2 more seats and 3 fewer seats. Seat
    # changes need a per-seat plan and tiers stop at Basic and Enterprise, so a
    # kind that the plan cannot take becomes the nearest kind that it can.
    kind = rng.choice(4, size=count, p=[0.45, 0.2, 0.25, 0.1])
    tier = _PLAN_TIER[spec.plan]
    per_seat = _PLAN_PER_SEAT[spec.plan]
    kind = np.where(~per_seat & (kind >= 2), 0, kind)
    kind = np.where((kind == 3) & (spec.quantity < 2), 2, kind)
    kind = np.where((kind == 0) & (tier == 2), np.where(per_seat, 2, 1), kind)
    kind = np.where((kind == 1) & (tier == 0), 0, kind)
    new_tier = np.clip(tier + (kind == 0) - (kind == 1), 0, 2)
    annual = (months == 12).astype(np.int64)
    product = np.minimum(_PLAN_PRODUCT[spec.plan], 1)
    new_plan = np.where(kind <= 1, _PLAN_BY_TIER[product, annual, new_tier], spec.plan)
    new_plan = np.where(changed, new_plan, spec.plan)
    more = spec.quantity + np.ceil(spec.quantity * rng.uniform(0.2, 1.0, count))
    fewer = spec.quantity - np.ceil(spec.quantity * rng.uniform(0.1, 0.5, count))
    fewer = np.maximum(fewer, 1)
    # A tier change keeps the seat count, or buys seats when moving to a seat plan.
    seats = np.where(per_seat, spec.quantity, people.seats[spec.customer])
    tier_quantity = _plan_quantity(new_plan, seats)
    quantity = np.select([kind == 2, kind == 3], [more, fewer], tier_quantity)
    quantity = np.where(changed, quantity, spec.quantity).astype(np.int64)
    return {
        "changed": changed,
        "period": period,
        "day": day,
        "period_end": period_end,
        "period_days": period_days,
        "plan": new_plan,
        "quantity": quantity,
    }


def _lines(**columns: np.ndarray) -> dict[str, np.ndarray]:
    size = len(columns["customer"])
    columns.setdefault("discount", np.zeros(size))
    columns.setdefault("refunded", np.zeros(size, dtype=bool))
    columns.setdefault("void", np.zeros(size, dtype=bool))
    return columns


def _concat_lines(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _period_lines(
    spec: _Spec,
    people: _Customers,
    paid_start: np.ndarray,
    paid: np.ndarray,
    change: dict[str, np.ndarray],
    refund_last: np.ndarray,
) -> dict[str, np.ndarray]:
    """Build one line per paid period: [start + k intervals, start + k + 1)."""
    sub = np.repeat(np.arange(len(paid)), paid)
    period = np.arange(len(sub)) - np.repeat(np.cumsum(paid) - paid, paid)
    months = _PLAN_MONTHS[spec.plan[sub]]
    start = _add_months(paid_start[sub], period * months)
    on_new_plan = period > change["period"][sub]
    plan = np.where(on_new_plan, change["plan"][sub], spec.plan[sub])
    quantity = np.where(on_new_plan, change["quantity"][sub], spec.quantity[sub])
    customer = spec.customer[sub]
    amount = _PLAN_PRICE[plan, people.currency[customer]] * quantity
    coupon = period < spec.coupon_periods[sub]
    discount = np.where(coupon, np.round(amount * spec.coupon_percent[sub] / 100, 2), 0)
    return _lines(
        customer=customer,
        subscription=sub,
        plan=plan,
        product=_PLAN_PRODUCT[plan],
        invoice_date=start,
        start=start,
        end=_add_months(paid_start[sub], (period + 1) * months),
        quantity=quantity,
        amount=amount,
        discount=discount,
        order=np.full(len(sub), _ORDER_PERIOD),
        refunded=refund_last[sub] & (period == paid[sub] - 1),
    )


def _proration_lines(
    spec: _Spec, people: _Customers, change: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Build the credit and charge lines of each plan change.

    Both lines cover [change day, end of the period that was paid on the old plan)
    and are priced at the share of that period's days that remain.
    """
    sub = np.flatnonzero(change["changed"])
    customer = spec.customer[sub]
    currency = people.currency[customer]
    day = change["day"][sub]
    period_end = change["period_end"][sub]
    remaining = (period_end - day).astype(np.int64) / change["period_days"][sub]
    old_plan, new_plan = spec.plan[sub], change["plan"][sub]
    old_quantity, new_quantity = spec.quantity[sub], change["quantity"][sub]
    credit = -np.round(_PLAN_PRICE[old_plan, currency] * old_quantity * remaining, 2)
    charge = np.round(_PLAN_PRICE[new_plan, currency] * new_quantity * remaining, 2)
    plan = np.concatenate([old_plan, new_plan])
    return _lines(
        customer=np.tile(customer, 2),
        subscription=np.tile(sub, 2),
        plan=plan,
        product=_PLAN_PRODUCT[plan],
        invoice_date=np.tile(day, 2),
        start=np.tile(day, 2),
        end=np.tile(period_end, 2),
        quantity=np.concatenate([old_quantity, new_quantity]),
        amount=np.concatenate([credit, charge]),
        order=np.repeat([_ORDER_CREDIT, _ORDER_CHARGE], len(sub)),
    )


def _trial_lines(spec: _Spec, paid_start: np.ndarray) -> dict[str, np.ndarray]:
    """Build a zero-amount line over each free trial [trial start, paid start)."""
    sub = np.flatnonzero(spec.trial)
    return _lines(
        customer=spec.customer[sub],
        subscription=sub,
        plan=spec.plan[sub],
        product=_PLAN_PRODUCT[spec.plan[sub]],
        invoice_date=spec.start[sub],
        start=spec.start[sub],
        end=paid_start[sub],
        quantity=spec.quantity[sub],
        amount=np.zeros(len(sub)),
        order=np.full(len(sub), _ORDER_PERIOD),
    )


def _setup_fee_lines(
    rng: np.random.Generator, people: _Customers, spec: _Spec, main: _Outcome
) -> dict[str, np.ndarray]:
    """Build one-time setup fees on the first paid invoice, mostly for Enterprise."""
    enterprise = _PLAN_TIER[spec.plan] == 2
    share = np.where(enterprise, 0.35, 0.04)
    sub = np.flatnonzero((main.paid_periods > 0) & (rng.random(len(share)) < share))
    customer = spec.customer[sub]
    usd_fee = np.where(enterprise[sub], 2500.0, 500.0)
    missing = np.full(len(sub), np.datetime64("NaT"), dtype="datetime64[D]")
    return _lines(
        customer=customer,
        subscription=np.full(len(sub), -1),
        plan=np.full(len(sub), -1),
        product=_PLAN_PRODUCT[spec.plan[sub]],
        invoice_date=main.paid_start[sub],
        start=missing,
        end=missing,
        quantity=np.ones(len(sub), dtype=np.int64),
        amount=np.round(usd_fee * _PRICE_FACTOR[people.currency[customer]]),
        order=np.full(len(sub), _ORDER_SETUP),
    )


def _subscriptions_table(
    people: _Customers, specs: tuple[_Spec, ...], outcomes: tuple[_Outcome, ...]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Build the subscriptions table with ids numbered by start date.

    Also returns the id of each subscription by its index in the simulation.
    """
    customer = np.concatenate([spec.customer for spec in specs])
    start = np.concatenate([spec.start for spec in specs])
    plan = np.concatenate([outcome.plan for outcome in outcomes])
    ended = np.concatenate([outcome.ended for outcome in outcomes])
    reason = np.concatenate([outcome.reason for outcome in outcomes])
    order = np.lexsort((np.arange(len(customer)), customer, start))
    width = max(6, len(str(len(order))))
    ids = np.array(
        [f"sub_{i:0{width}d}" for i in range(1, len(order) + 1)], dtype=object
    )
    ids_by_index = np.empty(len(order), dtype=object)
    ids_by_index[order] = ids
    plan_ids = np.array([p.plan_id for p in _PLANS], dtype=object)
    reasons = np.array([*_REASONS, None], dtype=object)
    table = pd.DataFrame(
        {
            "subscription_id": ids,
            "customer_id": people.ids[customer[order]],
            "plan_id": plan_ids[plan[order]],
            "started_at": start[order].astype("datetime64[ns]"),
            "ended_at": ended[order].astype("datetime64[ns]"),
            "cancellation_reason": reasons[reason[order]],
        }
    )
    return table, ids_by_index


def _invoice_lines_table(
    rng: np.random.Generator,
    lines: dict[str, np.ndarray],
    people: _Customers,
    subscriptions: pd.DataFrame,
    end: np.datetime64,
) -> pd.DataFrame:
    """Group lines into invoices and set each line's status.

    An invoice contains a customer's lines of one date, with void lines apart.
    """
    # A few paying lines are billed twice by mistake, and the duplicate invoice is void.
    paying = np.flatnonzero((lines["order"] == _ORDER_PERIOD) & (lines["amount"] > 0))
    duplicate = paying[rng.random(len(paying)) < _VOID_SHARE]
    copies = {key: values[duplicate] for key, values in lines.items()}
    copies["void"] = np.ones(len(duplicate), dtype=bool)
    copies["refunded"] = np.zeros(len(duplicate), dtype=bool)
    lines = _concat_lines([lines, copies])

    date = lines["invoice_date"].astype(np.int64)
    customer = lines["customer"]
    order = np.lexsort((lines["order"], lines["void"], customer, date))
    lines = {key: values[order] for key, values in lines.items()}
    date, customer = date[order], customer[order]
    count = len(date)
    first_line = np.ones(count, dtype=bool)
    first_line[1:] = (
        (date[1:] != date[:-1])
        | (customer[1:] != customer[:-1])
        | (lines["void"][1:] != lines["void"][:-1])
    )
    invoice = np.cumsum(first_line) - 1
    starts = np.flatnonzero(first_line)
    line_number = np.arange(count) - starts[invoice]

    net = lines["amount"] - lines["discount"]
    invoice_net = np.add.reduceat(net, starts) if count else np.zeros(0)
    age = (end - lines["invoice_date"][starts]).astype(np.int64)
    draw = rng.random(len(starts))
    invoice_status = np.full(len(starts), _PAID)
    recent = (age < 30) & (invoice_net > 0) & (draw < _OPEN_SHARE)
    overdue = (
        (age >= 30) & (age < 120) & (invoice_net > 0) & (draw < _UNCOLLECTIBLE_SHARE)
    )
    invoice_status[recent] = _OPEN
    invoice_status[overdue] = _UNCOLLECTIBLE
    invoice_status[lines["void"][starts]] = _VOID
    status = invoice_status[invoice]
    refunded = lines["refunded"] | (
        (lines["order"] == _ORDER_PERIOD)
        & (lines["amount"] > 0)
        & (rng.random(count) < _REFUND_SHARE)
    )
    status[refunded & (status == _PAID)] = _REFUNDED

    width = max(7, len(str(len(starts))))
    invoice_ids = [f"in_{i:0{width}d}" for i in range(1, len(starts) + 1)]
    line_ids = [str(i) for i in range(1, int(line_number.max(initial=0)) + 2)]
    plan_ids = np.array([*(p.plan_id for p in _PLANS), None], dtype=object)
    product_ids = np.array([*(p[0] for p in _PRODUCTS), None], dtype=object)
    currency = people.currency[customer]
    tax_rate = _COUNTRY_TAX_RATE[people.country[customer]]
    return pd.DataFrame(
        {
            "invoice_id": np.array(invoice_ids, dtype=object)[invoice],
            "line_id": np.array(line_ids, dtype=object)[line_number],
            "customer_id": people.ids[customer],
            "invoice_date": lines["invoice_date"].astype("datetime64[ns]"),
            "currency": np.array(_CURRENCIES, dtype=object)[currency],
            "kind": _KINDS[(lines["order"] == _ORDER_SETUP).astype(np.int64)],
            "subscription_id": lines["subscription_id"],
            "plan_id": plan_ids[lines["plan"]],
            "product_id": product_ids[lines["product"]],
            "service_period_start": lines["start"].astype("datetime64[ns]"),
            "service_period_end": lines["end"].astype("datetime64[ns]"),
            "quantity": lines["quantity"].astype(np.int64),
            "amount": lines["amount"],
            # Adding 0.0 turns the -0.0 that rounding leaves on credits into 0.0.
            "discount": lines["discount"] + 0.0,
            "tax": np.round(net * tax_rate, 2) + 0.0,
            "status": _STATUSES[status],
        }
    )


def _plans_table() -> pd.DataFrame:
    rows = [
        (
            plan.plan_id,
            _PRODUCTS[plan.product][0],
            plan.name,
            plan.interval_unit,
            plan.interval_count,
        )
        for plan in _PLANS
    ]
    columns = ["plan_id", "product_id", "name", "interval_unit", "interval_count"]
    return pd.DataFrame(rows, columns=columns)


def _fx_rates_table(
    rng: np.random.Generator,
    customer_currency: np.ndarray,
    first_day: np.datetime64,
    end: np.datetime64,
) -> pd.DataFrame:
    """Simulate a mean-reverting daily rate per non-USD currency on business days.

    The first row is the last business day on or before the first day of the
    history, so a weekend date can always take the previous business day's rate.
    """
    start = np.busday_offset(first_day, 0, roll="backward")
    days = np.arange(start, end + _DAY, dtype="datetime64[D]")
    days = days[np.is_busday(days)]
    shape = (len(_CURRENCIES) - 1, len(days))
    shocks = rng.normal(0.0, _FX_DAILY_VOLATILITY, size=shape)
    log_change = np.zeros(shape)
    for day in range(1, len(days)):
        previous = log_change[:, day - 1]
        log_change[:, day] = previous * (1 - _FX_MEAN_REVERSION) + shocks[:, day]
    rates = np.round(_FX_START[1:, None] * np.exp(log_change), 4)
    used = [c for c in range(1, len(_CURRENCIES)) if np.any(customer_currency == c)]
    return pd.DataFrame(
        {
            "date": np.tile(days, len(used)).astype("datetime64[ns]"),
            "currency": np.repeat(np.array(_CURRENCIES, dtype=object)[used], len(days)),
            "rate": np.concatenate([rates[c - 1] for c in used] or [np.zeros(0)]),
        }
    )


def _marketing_spend_table(
    rng: np.random.Generator, people: _Customers, first_day: np.datetime64, months: int
) -> pd.DataFrame:
    """Price each month's new customers per channel at a noisy acquisition cost."""
    first_month = first_day.astype("datetime64[M]")
    month_index = (people.signup.astype("datetime64[M]") - first_month).astype(np.int64)
    signups = np.zeros((months, len(_CHANNELS)))
    np.add.at(signups, (month_index, people.channel), 1)
    paid = [c for c, channel in enumerate(_CHANNELS) if channel[4] > 0]
    cost = np.array([_CHANNELS[c][4] for c in paid])
    noise = rng.lognormal(0.0, 0.15, size=(months, len(paid)))
    amount = np.round(signups[:, paid] * cost * noise, 2)
    month_starts = (first_month + np.arange(months)).astype("datetime64[D]")
    return pd.DataFrame(
        {
            "month": np.repeat(month_starts, len(paid)).astype("datetime64[ns]"),
            "channel": np.tile(
                np.array([_CHANNELS[c][0] for c in paid], dtype=object), months
            ),
            "currency": "USD",
            "amount": amount.ravel(),
        }
    )
