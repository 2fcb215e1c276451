"""Acquisition cohorts: logo and net MRR retention by cohort and age.

A customer belongs to the cohort of the period of their new movement, under the
segment values their new movement had. Their MRR at later ages is read from
`Workspace.customer_mrr` (all segments together), so a customer who later
changes segment stays in the cells of the segment they were acquired in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from revaxis import _periods
from revaxis._kpis import ratio, split_axes

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

COHORT_COLUMNS = [
    "age",
    "customers",
    "customers_retained",
    "logo_retention",
    "mrr_initial",
    "mrr_retained",
    "net_mrr_retention",
]

_PER_YEAR = {"month": 12, "quarter": 4, "year": 1}


def period_index(day: dt.date, interval: _periods.Interval) -> int:
    """Number of whole periods since year 0, so that consecutive periods differ
    by 1."""
    per_year = _PER_YEAR[interval]
    return day.year * per_year + (day.month - 1) * per_year // 12


def period_from_index(index: int, interval: _periods.Interval) -> dt.date:
    per_year = _PER_YEAR[interval]
    return dt.date(index // per_year, (index % per_year) * 12 // per_year + 1, 1)


def acquisitions(
    ws: Workspace,
    keys: list[str],
    currency: str | None,
    as_of: dt.date | None,
    filter: str | None = None,
    whole: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """List each customer's segment values at acquisition: one row per customer
    and value with customer_id, the axis columns, acquired_on and `weight`, the
    value's share of the customer's new MRR (1 unless the customer started with
    lines in several segments).

    A filter keeps the customers acquired inside it, with the filtered share of
    their new MRR as weight. `whole` is `ws.movements()` for the whole business
    when the caller has read it already.
    """
    if whole is not None and not keys and not filter:
        moves = whole
    else:
        moves = ws.movements(keys, currency=currency, as_of=as_of, filter=filter)
    new = moves[moves["new"] > 0]
    if filter:
        if whole is None:
            whole = ws.movements(None, currency=currency, as_of=as_of)
        whole_new = whole[whole["new"] > 0].groupby("customer_id")["new"].sum()
        total = new["customer_id"].map(whole_new)
    else:
        total = new.groupby("customer_id")["new"].transform("sum")
    out = new[["customer_id", *keys]].assign(
        acquired_on=new["date"], weight=new["new"] / total
    )
    return out.reset_index(drop=True)


def last_report_day(ws: Workspace, as_of: dt.date | None) -> dt.date | None:
    """Day of the latest invoice, never after the report day; None without
    invoices."""
    latest = ws.table("invoice_lines").invoice_date.max().execute()
    if latest is None or pd.isna(latest):
        return None
    return min(pd.Timestamp(latest).date(), as_of or dt.date.today())


def cohorts(
    ws: Workspace,
    by: str | Sequence[str] | None = None,
    *,
    interval: str = "month",
    currency: str | None = None,
    as_of: dt.date | None = None,
    filter: str | None = None,
) -> pd.DataFrame:
    """Compute the retention of each acquisition cohort (and segment at
    acquisition) at every age it has reached, in long form."""
    keys = split_axes(by)
    period_interval = _periods.check_interval(interval)
    columns = ["cohort", *keys, *COHORT_COLUMNS]
    last_day = last_report_day(ws, as_of)
    acquired = acquisitions(ws, keys, currency, as_of, filter)
    if last_day is None or acquired.empty:
        return pd.DataFrame(columns=columns)
    last = period_index(last_day, period_interval)
    acquired["cohort_index"] = [
        period_index(day, period_interval) for day in acquired["acquired_on"]
    ]
    acquired = acquired[acquired["cohort_index"] <= last]

    values = ws.customer_mrr(
        None,
        end=_periods.label(period_from_index(last, period_interval), period_interval),
        interval=period_interval,
        currency=currency,
        as_of=as_of,
    )
    labels = {
        text: period_index(_periods.parse_label(text, period_interval), period_interval)
        for text in values["period"].unique()
    }
    values = values.assign(period_index=values["period"].map(labels))

    # Every paying period of every customer, with the cohort cells it feeds.
    paying = acquired.merge(
        values[["customer_id", "period_index", "mrr"]], on="customer_id"
    )
    paying["age"] = paying["period_index"] - paying["cohort_index"]
    paying = paying[paying["age"] >= 0]
    paying["weighted_mrr"] = paying["mrr"] * paying["weight"]
    cell = ["cohort_index", *keys, "age"]
    retained = paying.groupby(cell, as_index=False).agg(
        customers_retained=("customer_id", "nunique"),
        mrr_retained=("weighted_mrr", "sum"),
    )

    sizes = acquired.groupby(["cohort_index", *keys], as_index=False).agg(
        customers=("customer_id", "nunique")
    )
    # One row per age from 0 to the last period the cohort has reached.
    ages = last - sizes["cohort_index"] + 1
    grid = sizes.loc[sizes.index.repeat(ages)].reset_index(drop=True)
    grid["age"] = np.concatenate([np.arange(n) for n in ages]) if len(ages) else []
    grid = grid.merge(retained, on=cell, how="left")
    grid["customers_retained"] = grid["customers_retained"].fillna(0).astype("int64")
    grid["mrr_retained"] = grid["mrr_retained"].fillna(0.0)

    initial = grid[grid["age"] == 0][["cohort_index", *keys, "mrr_retained"]]
    grid = grid.merge(
        initial.rename(columns={"mrr_retained": "mrr_initial"}),
        on=["cohort_index", *keys],
        how="left",
    )
    grid["logo_retention"] = ratio(grid["customers_retained"], grid["customers"])
    grid["net_mrr_retention"] = ratio(grid["mrr_retained"], grid["mrr_initial"])
    grid["mrr_initial"] = grid["mrr_initial"].round(2)
    grid["mrr_retained"] = grid["mrr_retained"].round(2)
    grid["cohort"] = [
        _periods.label(period_from_index(int(i), period_interval), period_interval)
        for i in grid["cohort_index"]
    ]
    grid["customers"] = grid["customers"].astype("int64")
    grid["age"] = grid["age"].astype("int64")
    grid = grid.sort_values(
        ["cohort_index", *keys, "age"], kind="stable", key=ws._sort_key(keys)
    )
    return grid[columns].reset_index(drop=True)


def retention_matrix(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Pivot the long form into one row per cohort (and segment) with the cohort
    size and one column per age holding the logo retention."""
    index = ["cohort", *keys]
    if frame.empty:
        return pd.DataFrame(columns=[*index, "customers"])
    matrix = frame.pivot_table(
        index=index, columns="age", values="logo_retention", aggfunc="first"
    )
    matrix.columns = [str(age) for age in matrix.columns]
    sizes = frame[frame["age"] == 0].set_index(index)["customers"]
    matrix.insert(0, "customers", sizes.reindex(matrix.index))
    return matrix.reset_index()
