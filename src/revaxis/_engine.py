"""The MRR engine: Ibis expressions that turn invoice lines into MRR movements.

Each step is a function named for the table it builds, with the grain of that
table stated. The steps work on change events (one row where something changes)
and never on a dense customer x day panel, so their cost grows with the number
of changes and not with the length of the calendar. Amounts are integers:
`*_cents` in the reporting currency and `*_micros` (millionths of a unit) in
the line's own currency, so every sum is exact.

Service periods are half-open, `[start, end)`: a line counts from the start of
its first day to the start of its end day. The rules are written out in
docs/metrics.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

# Days per month for periods that are not a whole number of calendar months.
DAYS_PER_MONTH = 365.25 / 12

MOVEMENTS = (
    "new",
    "expansion",
    "contraction",
    "churn",
    "reactivation",
    "transfer_in",
    "transfer_out",
    "fx",
)


@dataclass(frozen=True)
class EngineSettings:
    """Settings that change which lines count and when MRR stops."""

    grace_days: int = 0
    delinquency_days: int | None = None
    refunds: str = "ignore"
    as_of: dt.date | None = None


def months_between(start: ir.DateValue, end: ir.DateValue) -> ir.FloatingValue:
    """Length of [start, end) in months: whole calendar months when the end falls
    on the start's day of the month (clamped to a shorter month's last day),
    otherwise days / (365.25 / 12)."""
    end_month_last_day = (
        end.truncate("M") + ibis.interval(months=1) - ibis.interval(days=1)
    ).day()
    same_day = end.day() == ibis.least(start.day(), end_month_last_day)
    whole = (end.year() - start.year()) * 12 + (end.month() - start.month())
    days = end.delta(start, unit="day")
    return ibis.ifelse(same_day & (whole > 0), whole.cast("float64"), days / DAYS_PER_MONTH)


def line_mrr(
    lines: ir.Table,
    subscriptions: ir.Table,
    rates: ir.Table,
    settings: EngineSettings,
) -> ir.Table:
    """One row per invoice line that carries MRR, with its effective period
    [start, end), `mrr_cents` in the reporting currency and `mrr_micros` in its
    own currency. Lines whose rate is missing keep a null `rate`."""
    counted = lines.kind.isin(["subscription", "usage"]) & (lines.status != "void")
    if settings.refunds == "remove":
        counted &= lines.status != "refunded"
    lines = lines.filter(counted)

    net = ibis.ifelse(
        lines.amount >= 0,
        ibis.greatest(lines.amount - lines.discount, 0),
        lines.amount - lines.discount,
    )
    start = lines.service_period_start
    end = lines.service_period_end
    if settings.delinquency_days is not None and settings.as_of is not None:
        # An unpaid line older than delinquency_days ends MRR at its start.
        cutoff = settings.as_of - dt.timedelta(days=settings.delinquency_days)
        delinquent = lines.status.isin(["open", "uncollectible"]) & (
            lines.invoice_date.fill_null(start) <= cutoff
        )
        end = ibis.ifelse(delinquent, start, end)
    lines = lines.mutate(
        net=net,
        months=months_between(start, lines.service_period_end),
        start=start,
        end=end,
    ).filter(lambda t: t.service_period_end > t.service_period_start)

    # A subscription's ended_at cuts every line of it that runs past that day.
    subs = subscriptions.select(
        sub_id=subscriptions.subscription_id,
        sub_plan_id=subscriptions.plan_id,
        ended_at=subscriptions.ended_at,
    )
    lines = lines.left_join(subs, lines.subscription_id == subs.sub_id)
    lines = lines.mutate(
        end=ibis.ifelse(
            lines.ended_at.notnull() & (lines.ended_at < lines.end),
            lines.ended_at,
            lines.end,
        ),
        plan_id=lines.plan_id.fill_null(lines.sub_plan_id),
    )
    lines = lines.left_join(
        rates,
        [lines.currency == rates.currency, lines.service_period_start == rates.day],
    )
    monthly = lines.net / lines.months
    return lines.select(
        "customer_id",
        "invoice_id",
        "line_id",
        "currency",
        "subscription_id",
        "plan_id",
        "product_id",
        "service_period_start",
        "service_period_end",
        "start",
        "end",
        "rate",
        mrr_cents=(monthly / lines.rate * 100).round().cast("int64"),
        mrr_micros=(monthly * 1_000_000).round().cast("int64"),
    ).filter(lambda t: t.end > t.start)


def events(lines: ir.Table, axes: Sequence[str]) -> ir.Table:
    """One row per customer, segment, currency and day on which the segment's MRR
    changes: `d_cents` and `d_micros` are the net change that day."""
    keys = ["customer_id", *axes, "currency"]
    starts = lines.select(
        *keys, day=lines.start, d_cents=lines.mrr_cents, d_micros=lines.mrr_micros
    )
    ends = lines.select(
        *keys, day=lines.end, d_cents=-lines.mrr_cents, d_micros=-lines.mrr_micros
    )
    both = starts.union(ends)
    grouped = both.group_by([*keys, "day"]).aggregate(
        d_cents=both.d_cents.sum(), d_micros=both.d_micros.sum()
    )
    return grouped.filter((grouped.d_cents != 0) | (grouped.d_micros != 0))


def customer_days(ev: ir.Table) -> ir.Table:
    """One row per customer and change day: the raw sum of their lines before
    (`raw0_cents`) and after (`raw1_cents`) the day's changes."""
    per_day = ev.group_by(["customer_id", "day"]).aggregate(d_cents=ev.d_cents.sum())
    running = ibis.cumulative_window(group_by="customer_id", order_by="day")
    per_day = per_day.mutate(raw1_cents=per_day.d_cents.sum().over(running))
    return per_day.mutate(raw0_cents=per_day.raw1_cents - per_day.d_cents)


def bridge_grace_gaps(ev: ir.Table, grace_days: int) -> ir.Table:
    """Move the changes of a day on which a customer stops paying to the day they
    pay again, when that day is at most `grace_days` later. Same grain as `ev`."""
    if grace_days <= 0:
        return ev
    cust = customer_days(ev)
    following = ibis.window(group_by="customer_id", order_by="day")
    cust = cust.mutate(
        next_day=cust.day.lead().over(following),
        next_raw1=cust.raw1_cents.lead().over(following),
    )
    gaps = cust.filter(
        (cust.raw1_cents <= 0)
        & (cust.raw0_cents > 0)
        & cust.next_day.notnull()
        & (cust.next_raw1 > 0)
        & (cust.next_day.delta(cust.day, unit="day") <= grace_days)
    ).select(gap_customer="customer_id", gap_day="day", resume_day="next_day")
    joined = ev.left_join(
        gaps, [ev.customer_id == gaps.gap_customer, ev.day == gaps.gap_day]
    )
    moved = joined.mutate(day=joined.resume_day.fill_null(joined.day)).drop(
        "gap_customer", "gap_day", "resume_day"
    )
    keys = [c for c in ev.columns if c not in ("d_cents", "d_micros")]
    regrouped = moved.group_by(keys).aggregate(
        d_cents=moved.d_cents.sum(), d_micros=moved.d_micros.sum()
    )
    return regrouped.filter((regrouped.d_cents != 0) | (regrouped.d_micros != 0))


def customer_states(ev: ir.Table) -> ir.Table:
    """One row per customer and change day: MRR before (`m0_cents`) and after
    (`m1_cents`), floored at zero, whether they paid on any earlier day, and
    their movement type when they start or stop paying."""
    cust = customer_days(ev)
    before = ibis.window(group_by="customer_id", order_by="day", rows=(None, -1))
    cust = cust.mutate(
        paid_before=(cust.raw1_cents > 0).cast("int8").max().over(before).fill_null(0)
    )
    m0 = ibis.greatest(cust.raw0_cents, 0)
    m1 = ibis.greatest(cust.raw1_cents, 0)
    kind = (
        ibis.cases(
            ((m0 == 0) & (m1 > 0) & (cust.paid_before == 0), "new"),
            ((m0 == 0) & (m1 > 0), "reactivation"),
            ((m0 > 0) & (m1 == 0), "churn"),
            ((m0 > 0) & (m1 > 0), "change"),
            else_="none",
        )
    )
    return cust.select("customer_id", "day", m0_cents=m0, m1_cents=m1, kind=kind)


def currency_fx(ev: ir.Table, states: ir.Table) -> ir.Table:
    """One row per customer, currency and change day of that currency: `fx_cents`,
    the old amount in the currency revalued at the rate of the lines in force
    after the change, minus its old value. Zero unless the customer pays before
    and after and holds the currency before and after."""
    per_cur = ev.group_by(["customer_id", "currency", "day"]).aggregate(
        d_cents=ev.d_cents.sum(), d_micros=ev.d_micros.sum()
    )
    running = ibis.cumulative_window(
        group_by=["customer_id", "currency"], order_by="day"
    )
    per_cur = per_cur.mutate(
        v1=per_cur.d_cents.sum().over(running), l1=per_cur.d_micros.sum().over(running)
    )
    per_cur = per_cur.mutate(v0=per_cur.v1 - per_cur.d_cents, l0=per_cur.l1 - per_cur.d_micros)
    st = states.select(
        st_customer="customer_id", st_day="day", st_kind="kind"
    )
    joined = per_cur.join(
        st, [per_cur.customer_id == st.st_customer, per_cur.day == st.st_day]
    )
    revalued = (joined.l0.cast("float64") * joined.v1 / joined.l1).round().cast("int64")
    fx = ibis.ifelse(
        (joined.st_kind == "change") & (joined.l0 > 0) & (joined.l1 > 0),
        revalued - joined.v0,
        0,
    )
    return joined.select("customer_id", "currency", "day", fx_cents=fx)


def _telescoping_share(
    total: ir.IntegerValue,
    weight: ir.NumericValue,
    weight_sum: ir.NumericValue,
    cumulative: ir.NumericValue,
) -> ir.IntegerValue:
    """Integer shares of `total` in proportion to `weight` that add up to exactly
    `total`: each row takes round(total x cumulative / sum) less the same for the
    rows before it."""
    upto = (total * (cumulative / weight_sum)).round()
    before = (total * ((cumulative - weight) / weight_sum)).round()
    return (upto - before).cast("int64")


def segment_changes(ev: ir.Table, axes: Sequence[str]) -> ir.Table:
    """One row per customer, segment and day on which the segment's MRR changes:
    `v0_cents`, `v1_cents` (the segment's value before and after, all
    currencies) and `fx_cents` (its share of the customer's fx)."""
    seg = ["customer_id", *axes]
    # Value of each segment, all currencies together.
    per_seg = ev.group_by([*seg, "day"]).aggregate(d_cents=ev.d_cents.sum())
    running = ibis.cumulative_window(group_by=seg, order_by="day")
    per_seg = per_seg.mutate(v1_cents=per_seg.d_cents.sum().over(running))
    per_seg = per_seg.mutate(v0_cents=per_seg.v1_cents - per_seg.d_cents)
    return per_seg.drop("d_cents")


def segment_fx(ev: ir.Table, cur_fx: ir.Table, axes: Sequence[str]) -> ir.Table:
    """One row per customer, segment and day with a non-zero fx share: each
    currency's fx goes to the segments whose lines in it changed that day, in
    proportion to their value before the change (after it when none had one)."""
    seg_cur = [*axes, "currency"]
    running = ibis.cumulative_window(group_by=["customer_id", *seg_cur], order_by="day")
    sc = ev.mutate(v1=ev.d_cents.sum().over(running))
    sc = sc.mutate(v0=sc.v1 - sc.d_cents)
    fx = cur_fx.filter(cur_fx.fx_cents != 0).select(
        fx_customer="customer_id", fx_currency="currency", fx_day="day", fx_cents="fx_cents"
    )
    sc = sc.join(
        fx,
        [
            sc.customer_id == fx.fx_customer,
            sc.currency == fx.fx_currency,
            sc.day == fx.fx_day,
        ],
    )
    group = ibis.window(group_by=["customer_id", "currency", "day"])
    sc = sc.mutate(
        sum_v0=sc.v0.abs().sum().over(group),
        sum_v1=sc.v1.abs().sum().over(group),
        n=sc.v0.count().over(group),
    )
    weight = ibis.cases(
        (sc.sum_v0 > 0, sc.v0.abs().cast("float64")),
        (sc.sum_v1 > 0, sc.v1.abs().cast("float64")),
        else_=ibis.literal(1.0),
    )
    weight_sum = ibis.cases(
        (sc.sum_v0 > 0, sc.sum_v0.cast("float64")),
        (sc.sum_v1 > 0, sc.sum_v1.cast("float64")),
        else_=sc.n.cast("float64"),
    )
    sc = sc.mutate(weight=weight, weight_sum=weight_sum)
    ordered = ibis.cumulative_window(
        group_by=["customer_id", "currency", "day"], order_by=list(axes) or ["day"]
    )
    sc = sc.mutate(cum=sc.weight.sum().over(ordered))
    share = _telescoping_share(sc.fx_cents, sc.weight, sc.weight_sum, sc.cum)
    shares = sc.select("customer_id", *axes, "day", fx_cents=share)
    return shares.group_by(["customer_id", *axes, "day"]).aggregate(
        fx_cents=shares.fx_cents.sum()
    )


def segment_movements(
    ev: ir.Table, states: ir.Table, cur_fx: ir.Table, axes: Sequence[str]
) -> ir.Table:
    """One row per customer, segment and change day: the movement amounts in
    cents (churn and contraction positive), the segment's value before and after,
    and the customer count change of the segment (+1, 0, -1)."""
    changes = segment_changes(ev, axes)
    fx = segment_fx(ev, cur_fx, axes)
    keys = ["customer_id", *axes, "day"]
    fx = fx.rename({f"fx_{k}": k for k in keys})
    changes = changes.left_join(
        fx, [changes[k] == fx[f"fx_{k}"] for k in keys]
    ).drop(*[f"fx_{k}" for k in keys])
    changes = changes.mutate(fx_cents=changes.fx_cents.fill_null(0))
    st = states.rename(st_customer="customer_id", st_day="day")
    m = changes.join(
        st, [changes.customer_id == st.st_customer, changes.day == st.st_day]
    ).drop("st_customer", "st_day")

    # A customer who is not paying has value 0 in every segment.
    # NOTE: only segments that change that day are floored; a segment left
    # unchanged while credit lines pull the customer's total to zero or below
    # keeps its value. Flooring those needs every segment's state on that day.
    paying0 = m.m0_cents > 0
    paying1 = m.m1_cents > 0
    m = m.mutate(
        v0=ibis.ifelse(paying0, m.v0_cents, 0),
        v1=ibis.ifelse(paying1, m.v1_cents, 0),
    )
    m = m.mutate(rest=m.v1 - m.v0 - m.fx_cents)

    group = ibis.window(group_by=["customer_id", "day"])
    up = ibis.ifelse(m.rest > 0, m.rest, 0)
    down = ibis.ifelse(m.rest < 0, -m.rest, 0)
    m = m.mutate(up=up, down=down)
    m = m.mutate(p_sum=m.up.sum().over(group), n_sum=m.down.sum().over(group))
    moved = ibis.least(m.p_sum, m.n_sum)
    order = list(axes) or ["day"]
    cum_up = ibis.cumulative_window(group_by=["customer_id", "day"], order_by=order)
    m = m.mutate(moved=moved, cum_up=m.up.sum().over(cum_up), cum_down=m.down.sum().over(cum_up))
    is_change = m.kind == "change"
    transfer_in = ibis.ifelse(
        is_change & (m.up > 0),
        _telescoping_share(m.moved, m.up, m.p_sum, m.cum_up),
        0,
    )
    transfer_out = ibis.ifelse(
        is_change & (m.down > 0),
        _telescoping_share(m.moved, m.down, m.n_sum, m.cum_down),
        0,
    )
    zero = ibis.literal(0, "int64")
    out = m.mutate(
        new=ibis.ifelse(m.kind == "new", m.rest, zero),
        reactivation=ibis.ifelse(m.kind == "reactivation", m.rest, zero),
        churn=ibis.ifelse(m.kind == "churn", -m.rest, zero),
        transfer_in=transfer_in,
        transfer_out=transfer_out,
        expansion=ibis.ifelse(is_change, m.up - transfer_in, zero),
        contraction=ibis.ifelse(is_change, m.down - transfer_out, zero),
        fx=m.fx_cents,
        count_change=ibis.cases(
            ((m.v0 <= 0) & (m.v1 > 0), 1), ((m.v0 > 0) & (m.v1 <= 0), -1), else_=0
        ),
    )
    return out.select(
        "customer_id",
        *axes,
        "day",
        "kind",
        *MOVEMENTS,
        "count_change",
        v0_cents="v0",
        v1_cents="v1",
    )
