"""Computed axes: customer values that follow from the MRR timeline itself.

- `computed.mrr_band`: the band of the customer's MRR (in the reporting
  currency), with bucket edges such as 0,100,500,1000. A customer whose MRR
  crosses an edge moves to the next band by transfer.
- `computed.lifecycle`: `new` for the first N days after acquisition,
  `onboarding` until day M, then `established`. A customer is `up for renewal`
  in the R days before the end of a service period of a year or more. The
  thresholds N, M, R are the axis' three numbers (default 30, 90, 60).

Both give a history of values per customer, so lines are split on the days the
value changes, as for a value set by hand with `valid_from`.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from revaxis._axes import SENTINEL_END, SENTINEL_START, AxisContext, HistoryValue
from revaxis._engine import months_between

KINDS = ("mrr_band", "lifecycle")
LIFECYCLE_DEFAULTS = (30.0, 90.0, 60.0)
STAGES = {1: "new", 2: "onboarding", 3: "established"}
UP_FOR_RENEWAL = "up for renewal"


def _as_history(rows: ir.Table) -> ir.Table:
    """Turn (entity_id, valid_from, value) change rows into [valid_from,
    valid_to) intervals, with no value before an entity's first row."""
    first = rows.group_by("entity_id").aggregate(first_from=rows.valid_from.min())
    lead_in = first.select(
        "entity_id",
        valid_from=ibis.literal(SENTINEL_START, "date"),
        value=ibis.null("string"),
    )
    rows = rows.union(lead_in.select(*rows.columns))
    following = ibis.window(group_by="entity_id", order_by="valid_from")
    return rows.select(
        "entity_id",
        "valid_from",
        valid_to=rows.valid_from.lead().over(following).fill_null(SENTINEL_END),
        axis_value=rows.value,
    )


def band_expression(
    mrr_cents: ir.IntegerValue, edges: Sequence[float]
) -> ir.StringValue:
    """Return the band label of an MRR in cents: "e0-e1" for e0 <= MRR < e1 and
    "eN+" from the last edge on. Below the first edge there is no band."""
    text = [f"{e:g}" for e in edges]
    amount = mrr_cents.cast("float64") / 100
    cases = [
        ((amount >= lo) & (amount < hi), f"{text[i]}-{text[i + 1]}")
        for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False))
    ]
    cases.append((amount >= edges[-1], f"{text[-1]}+"))
    return ibis.cases(*cases, else_=ibis.null("string"))


def mrr_band_history(edges: Sequence[float]) -> HistoryValue:
    def history(ctx: AxisContext) -> ir.Table:
        st = ctx.states.filter(ctx.states.m1_cents > 0)
        rows = st.select(
            entity_id=st.customer_id.cast("string"),
            valid_from=st.day.cast("date"),
            value=band_expression(st.m1_cents, edges).cast("string"),
        )
        return _as_history(rows)

    return history


def lifecycle_history(thresholds: Sequence[float]) -> HistoryValue:
    new_days, onboarding_days, renewal_days = (int(t) for t in thresholds)

    def history(ctx: AxisContext) -> ir.Table:
        acq = ctx.acquisition
        zero = ibis.literal(0, "int64")
        stages = [
            acq.select(
                customer_id=acq.customer_id,
                day=(acq.acquired_on + ibis.interval(days=offset)).cast("date"),
                stage=ibis.literal(rank, "int64"),
                renewal=zero,
            )
            for rank, offset in ((1, 0), (2, new_days), (3, onboarding_days))
        ]
        lines = ctx.lines
        long = lines.filter(
            months_between(lines.service_period_start, lines.service_period_end) >= 11.9
        )
        renewal_starts = long.select(
            customer_id=long.customer_id,
            day=(long.service_period_end - ibis.interval(days=renewal_days)).cast(
                "date"
            ),
            stage=zero,
            renewal=ibis.literal(1, "int64"),
        )
        renewal_ends = long.select(
            customer_id=long.customer_id,
            day=long.service_period_end.cast("date"),
            stage=zero,
            renewal=ibis.literal(-1, "int64"),
        )
        points = ibis.union(*stages, renewal_starts, renewal_ends)
        points = points.group_by(["customer_id", "day"]).aggregate(
            stage=points.stage.max(), renewal=points.renewal.sum()
        )
        running = ibis.cumulative_window(group_by="customer_id", order_by="day")
        # Stages only move forward, so the stage in force is the running maximum.
        points = points.mutate(
            stage=points.stage.max().over(running),
            renewing=points.renewal.sum().over(running),
        )
        value = ibis.cases(
            (points.stage == 0, ibis.null("string")),
            (points.renewing > 0, UP_FOR_RENEWAL),
            (points.stage == 1, STAGES[1]),
            (points.stage == 2, STAGES[2]),
            else_=STAGES[3],
        )
        rows = points.select(
            entity_id=points.customer_id.cast("string"),
            valid_from=points.day,
            value=value.cast("string"),
        )
        return _as_history(rows)

    return history


def computed_history(kind: str, numbers: Sequence[float]) -> HistoryValue:
    if kind == "mrr_band":
        return mrr_band_history(numbers)
    return lifecycle_history(numbers or LIFECYCLE_DEFAULTS)
