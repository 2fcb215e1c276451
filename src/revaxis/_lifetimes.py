"""Customer lifetimes: Kaplan-Meier survival from acquisition to first churn, per
segment at acquisition, with lifelines.

Each customer is followed from the day of their new movement to the day of
their first churn movement. A customer still paying on the report day is
censored at that day. Durations are in months of 365.25 / 12 days, the month
length the engine uses for periods that are not whole calendar months.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
from lifelines import KaplanMeierFitter

from revaxis._cohorts import acquisitions
from revaxis._engine import DAYS_PER_MONTH
from revaxis._kpis import split_axes

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

SUMMARY_COLUMNS = [
    "customers",
    "churned",
    "median_months",
    "median_ci_lower",
    "median_ci_upper",
]
CURVE_COLUMNS = ["months", "survival", "ci_lower", "ci_upper"]

# Confidence level of the intervals: lifelines' default alpha of 0.05, with its
# exponential Greenwood (log(-log S)) intervals.
ALPHA = 0.05


def durations(
    ws: Workspace,
    keys: list[str],
    currency: str | None,
    as_of: dt.date | None,
    filter: str | None = None,
) -> pd.DataFrame:
    """Measure each customer's lifetime: one row per customer and segment at
    acquisition with `months` from acquisition to first churn (or to the report
    day) and `churned` (1 when the churn was observed)."""
    report_day = as_of or dt.date.today()
    # The first churn is read for the whole business, so that a customer who
    # leaves a filter's segments and churns elsewhere is not censored.
    whole = ws.movements(None, currency=currency, as_of=as_of)
    acquired = acquisitions(ws, keys, currency, as_of, filter, whole=whole)
    churns = whole[whole["churn"] > 0].groupby("customer_id")["date"].min()
    churn_day = acquired["customer_id"].map(churns)
    churned = churn_day.notna()
    end_day = churn_day.where(churned, report_day)
    days = [
        (end - start).days
        for end, start in zip(end_day, acquired["acquired_on"], strict=True)
    ]
    return acquired[["customer_id", *keys]].assign(
        months=[d / DAYS_PER_MONTH for d in days],
        churned=churned.astype("int64").to_numpy(),
    )


# Survival products that are 0.5 in exact arithmetic can come out a few ulps
# above it in floating point (5/6 x 4/5 x 3/4), so the median test allows this.
_HALF = 0.5 + 1e-9


def first_time_at_or_below_half(curve: pd.Series) -> float:
    """First time at which a survival curve (indexed by time) is at most 0.5,
    NaN when it never gets there."""
    reached = curve.index[curve.to_numpy() <= _HALF]
    return float(reached[0]) if len(reached) else math.nan


def fit(group: pd.DataFrame) -> KaplanMeierFitter:
    fitter = KaplanMeierFitter(alpha=ALPHA)
    return fitter.fit(group["months"], event_observed=group["churned"])


def lifetimes(
    ws: Workspace,
    by: str | Sequence[str] | None = None,
    *,
    curve: bool = False,
    currency: str | None = None,
    as_of: dt.date | None = None,
    filter: str | None = None,
) -> pd.DataFrame:
    """Fit a Kaplan-Meier curve per segment at acquisition. Returns one row per
    segment with the median lifetime in months and its confidence interval, or
    with `curve` one row per segment and step of the survival curve."""
    keys = split_axes(by)
    columns = [*keys, *(CURVE_COLUMNS if curve else SUMMARY_COLUMNS)]
    sample = durations(ws, keys, currency, as_of, filter)
    if sample.empty:
        return pd.DataFrame(columns=columns)
    groups = sample.groupby(keys, sort=True) if keys else [((), sample)]
    rows = []
    for segment, group in groups:
        values = dict(zip(keys, segment, strict=True))
        fitter = fit(group)
        if curve:
            steps = pd.concat(
                [fitter.survival_function_, fitter.confidence_interval_], axis=1
            )
            steps.columns = ["survival", "ci_lower", "ci_upper"]
            steps = steps.rename_axis("months").reset_index()
            rows.append(steps.assign(**values))
            continue
        bounds = fitter.confidence_interval_
        rows.append(
            pd.DataFrame(
                [
                    {
                        **values,
                        "customers": len(group),
                        "churned": int(group["churned"].sum()),
                        "median_months": first_time_at_or_below_half(
                            fitter.survival_function_.iloc[:, 0]
                        ),
                        # The median's interval: where the lower and the upper
                        # bound of the curve reach 0.5.
                        "median_ci_lower": first_time_at_or_below_half(
                            bounds.iloc[:, 0]
                        ),
                        "median_ci_upper": first_time_at_or_below_half(
                            bounds.iloc[:, 1]
                        ),
                    }
                ]
            )
        )
    frame = pd.concat(rows, ignore_index=True)[columns]
    if keys:
        # Segments in their axes' order, bucket axes from the lowest edge up.
        # A stable sort keeps each curve's steps in time order.
        frame = frame.sort_values(keys, kind="stable", key=ws._sort_key(keys))
    return frame.reset_index(drop=True)
