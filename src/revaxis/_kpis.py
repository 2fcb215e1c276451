"""Subscription KPIs per period and segment: ARR, ARPA, churn rates, quick ratio,
12-month NRR and GRR, LTV, lifetime, CAC and payback.

Every KPI is derived from two public reports of the workspace: the MRR bridge
(`Workspace.mrr`) and each customer's MRR at every month end
(`Workspace.customer_mrr`). The definitions, and the cases where a KPI is
undefined (null), are written out in docs/kpis.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from revaxis import _fx, _periods
from revaxis._errors import InputError

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

KPI_COLUMNS = [
    "mrr",
    "arr",
    "customers",
    "arpa",
    "new_customers",
    "churned_customers",
    "customer_churn_rate",
    "gross_mrr_churn_rate",
    "net_mrr_churn_rate",
    "quick_ratio",
    "nrr_12m",
    "grr_12m",
    "ltv",
    "lifetime_months",
    "cac",
    "ltv_cac",
    "payback_months",
]
COUNT_COLUMNS = ("customers", "new_customers", "churned_customers")
# Amounts in the reporting currency, rounded to the cent in the output.
MONEY_COLUMNS = ("mrr", "arr", "arpa", "ltv", "cac")
RATE_COLUMNS = (
    "customer_churn_rate",
    "gross_mrr_churn_rate",
    "net_mrr_churn_rate",
    "nrr_12m",
    "grr_12m",
)

_PERCENT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*%\s*$")


# Settings -----------------------------------------------------------------


def parse_gross_margin(text: str) -> float:
    """Parse a gross margin written as a fraction (0.8) or a percentage (80%)."""
    percent = _PERCENT.match(text)
    try:
        value = float(percent[1]) / 100 if percent else float(text)
    except ValueError:
        raise InputError(
            f"Invalid gross margin {text!r}: write a fraction such as 0.8 or a "
            "percentage such as 80%."
        ) from None
    if not 0 <= value <= 1:
        raise InputError(
            f"Invalid gross margin {text!r}: it must be between 0 and 1 (0 % and "
            "100 %); write 80 % as 0.8 or 80%."
        )
    return value


def parse_window_months(text: str) -> int:
    """Parse the number of months in the LTV churn window: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(
            f"Invalid number of months {text!r}: write a whole number such as 6."
        ) from None
    if value < 1:
        raise InputError(f"Invalid number of months {text!r}: it must be at least 1.")
    return value


def parse_axis_key(text: str) -> str:
    """Parse an axis key: any non-empty text, trimmed."""
    key = text.strip()
    if not key:
        raise InputError(
            "Invalid axis key '': write the key of an axis, such as channel."
        )
    return key


# Periods as month indexes -------------------------------------------------


def month_index(day: dt.date) -> int:
    """Number of months since year 0, so that consecutive months differ by 1."""
    return day.year * 12 + day.month - 1


def month_from_index(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def last_complete_month(report_day: dt.date) -> int:
    """Month index of the last month whose last day is on or before `report_day`."""
    return month_index(report_day + dt.timedelta(days=1)) - 1


def month_indexes(labels: pd.Series) -> pd.Series:
    """Month index of each month label (`2024-03`)."""
    lookup = {
        text: month_index(_periods.parse_label(text, "month"))
        for text in labels.unique()
    }
    return labels.map(lookup).astype("int64")


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, null where the denominator is 0 or null."""
    numerator = numerator.astype("float64")
    denominator = denominator.astype("float64")
    defined = denominator.notna() & (denominator != 0)
    out = pd.Series(np.nan, index=numerator.index, dtype="float64")
    out[defined] = numerator[defined] / denominator[defined]
    return out


def split_axes(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [key.strip() for key in by.split(",") if key.strip()]
    return list(by)


# The report ---------------------------------------------------------------


def kpis(
    ws: Workspace,
    by: str | Sequence[str] | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    interval: str = "month",
    currency: str | None = None,
    as_of: dt.date | None = None,
    filter: str | None = None,
) -> pd.DataFrame:
    """Compute one row of KPIs per period and segment of the MRR report (the rows
    of `Workspace.mrr` with the same arguments)."""
    keys = split_axes(by)
    period_interval = _periods.check_interval(interval)
    report_day = as_of or dt.date.today()
    options = {"currency": currency, "as_of": as_of, "filter": filter}
    bridge = ws.mrr(keys, start=start, end=end, interval=period_interval, **options)
    columns = ["period", *keys, *KPI_COLUMNS]
    if bridge.empty:
        return pd.DataFrame(columns=columns)

    frame = bridge.copy()
    # Month index of each row's last month: the month whose end is the period end.
    starts = [_periods.parse_label(p, period_interval) for p in frame["period"]]
    frame["end_month"] = [
        month_index(_periods.next_start(s, period_interval)) - 1 for s in starts
    ]
    last_month = int(frame["end_month"].max())
    last_label = _periods.label(month_from_index(last_month), "month")
    if period_interval == "month" and start is None:
        # The bridge already contains every month from the first with MRR.
        monthly = bridge
    else:
        monthly = ws.mrr(keys, end=last_label, interval="month", **options)
    # Customer MRR is only read when some row has a month with MRR 12 months
    # before its end, because 12-month retention is null otherwise.
    values = totals = None
    if last_month - 12 >= month_indexes(monthly["period"]).min():
        values = ws.customer_mrr(keys, end=last_label, interval="month", **options)
        if filter:
            # A filter selects the base, and each customer's whole MRR counts.
            totals = ws.customer_mrr(
                None, end=last_label, interval="month", currency=currency, as_of=as_of
            )

    settings = ws.settings
    margin = float(settings["gross_margin"] or 1.0)
    window = int(settings["ltv_window_months"] or 6)
    channel_axis = settings["channel_axis"] or "channel"

    frame["mrr"] = frame["mrr_end"]
    frame["arr"] = 12 * frame["mrr_end"]
    frame["customers"] = frame["customers_end"]
    frame["arpa"] = ratio(frame["mrr_end"], frame["customers_end"])
    add_churn_rates(frame)
    frame = add_retention(frame, values, totals, keys)
    average_churn = trailing_churn(
        frame, monthly, keys, window, last_complete_month(report_day)
    )
    frame["ltv"] = ratio(frame["arpa"] * margin, average_churn)
    frame["lifetime_months"] = ratio(pd.Series(1.0, index=frame.index), average_churn)
    frame["cac"] = acquisition_cost(
        ws, frame, keys, channel_axis, period_interval, start, end, options
    )
    frame["ltv_cac"] = ratio(frame["ltv"], frame["cac"])
    frame["payback_months"] = ratio(frame["cac"], frame["arpa"] * margin)

    for name in COUNT_COLUMNS:
        frame[name] = frame[name].astype("int64")
    for name in KPI_COLUMNS:
        if name not in COUNT_COLUMNS:
            frame[name] = frame[name].astype("float64")
    for name in MONEY_COLUMNS:
        frame[name] = frame[name].round(2)
    return frame[columns].reset_index(drop=True)


def add_churn_rates(frame: pd.DataFrame) -> None:
    """Add the churn rates and the quick ratio of each row's period, over the MRR
    and customers at the period's start. Transfers between segments and fx
    count in none of them."""
    lost = frame["churn"] + frame["contraction"]
    regained = frame["expansion"] + frame["reactivation"]
    frame["customer_churn_rate"] = ratio(
        frame["churned_customers"], frame["customers_start"]
    )
    frame["gross_mrr_churn_rate"] = ratio(lost, frame["mrr_start"])
    frame["net_mrr_churn_rate"] = ratio(lost - regained, frame["mrr_start"])
    frame["quick_ratio"] = ratio(frame["new"] + regained, lost)


def add_retention(
    frame: pd.DataFrame,
    values: pd.DataFrame | None,
    totals: pd.DataFrame | None,
    keys: list[str],
) -> pd.DataFrame:
    """Add 12-month NRR and GRR: the customers paying at the end of the month 12
    months before each row's last month, with the segment they were in then.

    `values` is the customer MRR by segment at each month end (None when no row
    has 12 months of history). `totals` is each customer's whole MRR at each
    month end when `values` only covers a filter, else None. A customer who paid
    in several segments then (lines on two plans) is shared between them in
    proportion to their MRR in each, so segment numerators and denominators add
    up to the whole business.
    """
    if values is None:
        return frame.assign(nrr_12m=np.nan, grr_12m=np.nan)
    values = values.assign(month=month_indexes(values["period"]))
    whole = values if totals is None else totals
    whole = whole.assign(month=month_indexes(whole["period"]))
    customer_totals = {
        month: group.groupby("customer_id")["mrr"].sum()
        for month, group in whole.groupby("month")
    }
    empty = pd.Series(dtype="float64")
    rows = []
    for end_month in sorted(frame["end_month"].unique()):
        then = values[values["month"] == end_month - 12]
        if then.empty:
            continue
        then_total = customer_totals.get(end_month - 12, empty)
        now_total = customer_totals.get(end_month, empty)
        customer_then = then["customer_id"].map(then_total)
        customer_now = then["customer_id"].map(now_total).fillna(0.0)
        share = then["mrr"] / customer_then
        parts = then[keys].assign(
            mrr_then=then["mrr"],
            nrr_part=share * customer_now,
            grr_part=share * np.minimum(customer_now, customer_then),
        )
        if keys:
            sums = parts.groupby(keys, as_index=False)[
                ["mrr_then", "nrr_part", "grr_part"]
            ].sum()
        else:
            sums = parts[["mrr_then", "nrr_part", "grr_part"]].sum().to_frame().T
        rows.append(sums.assign(end_month=end_month))
    if rows:
        retention = pd.concat(rows, ignore_index=True)
        retention["nrr_12m"] = ratio(retention["nrr_part"], retention["mrr_then"])
        retention["grr_12m"] = ratio(retention["grr_part"], retention["mrr_then"])
        retention = retention[["end_month", *keys, "nrr_12m", "grr_12m"]]
    else:
        retention = pd.DataFrame(columns=["end_month", *keys, "nrr_12m", "grr_12m"])
        retention = retention.astype({"end_month": "int64"})
    return frame.merge(retention, on=["end_month", *keys], how="left")


def trailing_churn(
    frame: pd.DataFrame,
    monthly: pd.DataFrame,
    keys: list[str],
    window: int,
    last_complete: int,
) -> pd.Series:
    """Mean monthly customer churn rate of each row's segment over the `window`
    complete months that end with the row's last month (or with the last
    complete month, for a period that is not over yet).

    A month with 0 churned customers counts as 0 in the mean. A month without
    customers at its start has no rate and is left out. The result is null when
    no month of the window has a rate.
    """
    # Axis keys are read as columns, not attributes, because a custom axis key
    # need not be a Python identifier.
    with_customers = monthly[monthly["customers_start"] > 0]
    rates: dict[tuple[tuple[object, ...], int], float] = {}
    for segment, month, churned, customers in zip(
        segments(with_customers, keys),
        month_indexes(with_customers["period"]),
        with_customers["churned_customers"],
        with_customers["customers_start"],
        strict=True,
    ):
        rates[(segment, month)] = churned / customers

    means = []
    for segment, end_month in zip(
        segments(frame, keys), frame["end_month"], strict=True
    ):
        last = min(int(end_month), last_complete)
        found = [
            rates[(segment, month)]
            for month in range(last - window + 1, last + 1)
            if (segment, month) in rates
        ]
        means.append(sum(found) / len(found) if found else np.nan)
    return pd.Series(means, index=frame.index, dtype="float64")


def segments(frame: pd.DataFrame, keys: list[str]) -> list[tuple[object, ...]]:
    """Segment of each row: the tuple of its axis values, () without axes."""
    if not keys:
        return [()] * len(frame)
    return list(zip(*(frame[key] for key in keys), strict=True))


# CAC ----------------------------------------------------------------------


def acquisition_cost(
    ws: Workspace,
    frame: pd.DataFrame,
    keys: list[str],
    channel_axis: str,
    interval: _periods.Interval,
    start: str | None,
    end: str | None,
    options: dict[str, object],
) -> pd.Series:
    """CAC of each row: marketing spend of the period / new customers of the
    period, both for the row's channel when `keys` include the channel axis,
    else both for the whole business. Null without spend or new customers, and
    under a filter, because spend cannot be split by the filter's axes."""
    # NOTE: a filter on the channel axis alone could keep CAC defined; every
    # filter is treated alike for now.
    missing = pd.Series(np.nan, index=frame.index, dtype="float64")
    if options["filter"]:
        return missing
    report_currency = ws.report_currency(options["currency"])  # type: ignore[arg-type]
    spend = spend_by_period(ws, report_currency, interval)
    if spend.empty:
        return missing
    by_channel = channel_axis in keys
    group = [channel_axis] if by_channel else []
    if keys == group:
        acquired = frame[["period", *group, "new_customers"]]
    else:
        acquired = ws.mrr(group, start=start, end=end, interval=interval, **options)
        acquired = acquired[["period", *group, "new_customers"]]
    if by_channel:
        spent = spend.rename(columns={"channel": channel_axis})
        spent = spent.groupby(["period", channel_axis], as_index=False)["spend"].sum()
    else:
        spent = spend.groupby("period", as_index=False)["spend"].sum()
    cost = acquired.merge(spent, on=["period", *group], how="inner")
    cost["cac"] = ratio(cost["spend"], cost["new_customers"])
    merged = frame[["period", *group]].merge(
        cost[["period", *group, "cac"]], on=["period", *group], how="left"
    )
    return pd.Series(merged["cac"].to_numpy(), index=frame.index, dtype="float64")


def spend_by_period(
    ws: Workspace, report_currency: str, interval: _periods.Interval
) -> pd.DataFrame:
    """Convert the marketing spend to the reporting currency at the rate of each
    month's first day: one row per spend row with its period label, channel and
    `spend`."""
    raw = ws.table("marketing_spend").execute()
    if raw.empty:
        return pd.DataFrame(columns=["period", "channel", "spend"])

    raw = raw.copy()
    raw["month"] = [
        _periods.period_start(pd.Timestamp(day).date(), "month") for day in raw["month"]
    ]
    rates = _fx.daily_rates(
        set(raw["currency"]),
        report_currency,
        min(raw["month"]),
        max(raw["month"]),
        ws.table("fx_rates").execute(),
    )
    raw = raw.merge(
        rates.rename(columns={"day": "month"}), on=["month", "currency"], how="left"
    )
    absent = raw[raw["rate"].isna()]
    if not absent.empty:
        raise _fx.missing_rate_error(
            list(zip(absent["currency"], absent["month"], strict=True)),
            report_currency,
        )

    raw["spend"] = (raw["amount"] / raw["rate"]).round(2)
    raw["period"] = [
        _periods.label(_periods.period_start(day, interval), interval)
        for day in raw["month"]
    ]
    return raw[["period", "channel", "spend"]]
