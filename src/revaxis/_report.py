"""The MRR report: movements summed per period and segment, with MRR and customer
counts at each period's start and end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from revaxis import _periods
from revaxis._engine import MOVEMENTS

# Amount columns of the MRR bridge, in the reporting currency.
MRR_AMOUNTS = [
    "mrr_start",
    "new",
    "expansion",
    "contraction",
    "churn",
    "reactivation",
    "transfer_in",
    "transfer_out",
    "fx",
    "mrr_end",
]
MRR_COLUMNS = [
    *MRR_AMOUNTS,
    "customers_start",
    "customers_end",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
]

_TRUNCATE = {"month": "M", "quarter": "Q", "year": "Y"}


def _net(t: ir.Table) -> ir.IntegerValue:
    return (
        t.new
        + t.reactivation
        + t.expansion
        - t.contraction
        - t.churn
        + t.transfer_in
        - t.transfer_out
        + t.fx
    )


def period_table(
    movements: ir.Table,
    states: ir.Table,
    axes: Sequence[str],
    interval: _periods.Interval,
    periods: list[dt.date],
) -> ir.Table:
    """Sum the movements per period (start day `period`) and segment, from the
    first period with a movement to the last of `periods`, in cents."""
    unit = _TRUNCATE[interval]
    mv = movements.mutate(period=movements.day.truncate(unit))
    keys = [*axes, "period"]
    sums = mv.group_by(keys).aggregate(
        **{name: mv[name].sum() for name in MOVEMENTS},
        count_change=mv.count_change.sum(),
        new_customers=mv.customer_id.nunique(where=(mv.kind == "new") & (mv.new != 0)),
        reactivated_customers=mv.customer_id.nunique(
            where=(mv.kind == "reactivation") & (mv.reactivation != 0)
        ),
    )

    # Churned customers pay at the period's start and not at its end. They count
    # in the segments they left on the last day they stopped paying. Later
    # changes that keep them at zero, such as a line worth 0 cents, do not
    # move that day.
    st = states.mutate(period=states.day.truncate(unit))
    per_customer = st.group_by(["customer_id", "period"]).aggregate(
        first_m0=st.m0_cents.argmin(st.day),
        last_m1=st.m1_cents.argmax(st.day),
        last_day=st.day.max(where=st.kind == "churn"),
    )
    churned = per_customer.filter(
        (per_customer.first_m0 > 0) & (per_customer.last_m1 == 0)
    ).select(c_customer="customer_id", c_day="last_day")
    left = mv.join(
        churned, [mv.customer_id == churned.c_customer, mv.day == churned.c_day]
    )
    left = left.filter(left.v0_cents > 0)
    churn_counts = left.group_by(keys).aggregate(
        churned_customers=left.customer_id.nunique()
    )

    first = movements.day.min().execute()
    if first is None or pd.isna(first):
        return None  # type: ignore[return-value]
    first_start = _periods.period_start(pd.Timestamp(first).date(), interval)
    spine_days = _periods.period_starts(first_start, periods[-1], interval)
    spine = ibis.memtable(pd.DataFrame({"period": pd.to_datetime(spine_days)})).mutate(
        period=ibis._.period.cast("date")
    )
    if axes:
        segments = mv.select(*axes).distinct()
        grid = segments.cross_join(spine)
    else:
        grid = spine
    grid = grid.left_join(sums, [grid[k] == sums[k] for k in keys]).drop(
        *[f"{k}_right" for k in keys]
    )
    grid = grid.left_join(
        churn_counts, [grid[k] == churn_counts[k] for k in keys]
    ).drop(*[f"{k}_right" for k in keys])
    fill = {
        name: 0
        for name in [
            *MOVEMENTS,
            "count_change",
            "new_customers",
            "reactivated_customers",
            "churned_customers",
        ]
    }
    grid = grid.fill_null(fill)
    running = ibis.cumulative_window(group_by=list(axes) or None, order_by="period")
    net = _net(grid)
    grid = grid.mutate(
        mrr_end=net.sum().over(running),
        customers_end=grid.count_change.sum().over(running),
        net=net,
    )
    grid = grid.mutate(
        mrr_start=grid.mrr_end - grid.net,
        customers_start=grid.customers_end - grid.count_change,
    )
    return grid.select(*axes, "period", *MRR_COLUMNS)


def to_frame(
    table: ir.Table | None,
    axes: Sequence[str],
    axis_keys: Sequence[str],
    interval: _periods.Interval,
    periods: list[dt.date],
    sort_key: Callable[[pd.Series], pd.Series] | None = None,
) -> pd.DataFrame:
    """Execute the period table for the requested periods and shape the output:
    labels, axis columns named by key, amounts in currency units. Rows run by
    period, then by segment, ordered with `sort_key` when given."""
    columns = ["period", *axis_keys, *MRR_COLUMNS]
    if table is None:
        return pd.DataFrame(columns=columns)
    first, last = periods[0], periods[-1]
    table = table.filter((table.period >= first) & (table.period <= last))
    frame = table.execute()
    frame = frame.rename(columns=dict(zip(axes, axis_keys, strict=True)))
    amounts = [
        c
        for c in MRR_COLUMNS
        if not c.endswith("customers") and not c.startswith("customers")
    ]
    counts = [c for c in MRR_COLUMNS if c not in amounts]
    # A segment without any activity in a period has no row; the whole business
    # keeps every period of the range, also one with no MRR.
    if axis_keys:
        activity = frame[MRR_COLUMNS].abs().sum(axis=1) > 0
        frame = frame[activity].copy()
    frame["period"] = [
        _periods.label(pd.Timestamp(day).date(), interval) for day in frame["period"]
    ]
    for name in amounts:
        frame[name] = frame[name].astype("int64") / 100
    for name in counts:
        frame[name] = frame[name].astype("int64")
    frame = frame.sort_values(["period", *axis_keys], kind="stable", key=sort_key)
    return frame[columns].reset_index(drop=True)


def customer_period_values(
    movements: ir.Table,
    axes: Sequence[str],
    interval: _periods.Interval,
    periods: list[dt.date],
) -> ir.Table:
    """Build one row per customer, segment and period in which the customer pays
    in the segment at the period's end, with `mrr_cents` at the end of the
    period's last day.

    Built from runs of constant value between change days, so its size is the
    number of paying customer-periods, never customers x all periods.
    """
    keys = ["customer_id", *axes]
    following = ibis.window(group_by=keys, order_by="day")
    runs = movements.select(*keys, "day", "v1_cents").mutate(
        next_day=movements.day.lead().over(following)
    )
    runs = runs.filter(runs.v1_cents > 0)
    ends = [_periods.next_start(p, interval) for p in periods]
    spine = ibis.memtable(
        pd.DataFrame(
            {"p_start": pd.to_datetime(periods), "p_end": pd.to_datetime(ends)}
        )
    ).mutate(p_start=ibis._.p_start.cast("date"), p_end=ibis._.p_end.cast("date"))
    # The run [day, next_day) covers the period's last day, p_end - 1.
    joined = runs.join(
        spine,
        [
            runs.day < spine.p_end,
            runs.next_day.isnull() | (runs.next_day >= spine.p_end),
        ],
    )
    return joined.select(*keys, period=joined.p_start, mrr_cents=joined.v1_cents)


def paying_segments(
    movements: ir.Table, column: str, end_exclusive: dt.date
) -> ir.Table:
    """Return one row per customer and value of `column` in which the customer
    pays at the end of the day before `end_exclusive`: `mrr_cents`, the
    segment's value after its last change before then."""
    done = movements.filter(movements.day < end_exclusive)
    last = done.group_by(["customer_id", column]).aggregate(
        mrr_cents=done.v1_cents.argmax(done.day)
    )
    return last.filter(last.mrr_cents > 0)
