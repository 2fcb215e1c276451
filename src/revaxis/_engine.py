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

from revaxis import _periods

# Days per month for periods that are not a whole number of calendar months.
DAYS_PER_MONTH = 365.25 / 12

# Doubles hold 4.46 / 0.8 as 5.574999..., so an exact half cent would round
# down. Scaling by 1 + 1e-12 before rounding (half away from zero) moves such
# values past the half, and is far too small to move any other value: amounts
# carry at most a few decimals and stay below 1e12.
HALF_NUDGE = 1 + 1e-12

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

    def __post_init__(self) -> None:
        # Every report builds its settings, so a report day out of range stops
        # here before pandas overflows on it.
        if self.as_of is not None:
            _periods.check_day(self.as_of)


def _without(table: ir.Table, *names: str) -> ir.Table:
    """`table` without the named columns, keeping the order of the rest (ibis'
    drop() emits them in set order, which changes the generated SQL from run to
    run)."""
    return table.select(*[c for c in table.columns if c not in names])


def months_between(start: ir.DateValue, end: ir.DateValue) -> ir.FloatingValue:
    """Return the length of [start, end) in months.

    The length is a whole number of calendar months when the end falls on the
    start's day of the month, clamped to a shorter month's last day. When the
    start is its month's last day, any later end day counts too. Other periods
    measure days / (365.25 / 12)."""
    end_month_last_day = (
        end.truncate("M") + ibis.interval(months=1) - ibis.interval(days=1)
    ).day()
    start_month_last_day = (
        start.truncate("M") + ibis.interval(months=1) - ibis.interval(days=1)
    ).day()
    # A start on the last day of its month may be a billing day clamped from a
    # later one (30 January, 28 February, 30 March), so any end day from the
    # start's day on counts as the same day.
    same_day = (end.day() == ibis.least(start.day(), end_month_last_day)) | (
        (start.day() == start_month_last_day) & (end.day() >= start.day())
    )
    whole = (end.year() - start.year()) * 12 + (end.month() - start.month())
    days = end.delta(start, unit="day")
    return ibis.ifelse(
        same_day & (whole > 0), whole.cast("float64"), days / DAYS_PER_MONTH
    )


def line_mrr(
    lines: ir.Table,
    subscriptions: ir.Table,
    rates: ir.Table,
    settings: EngineSettings,
) -> ir.Table:
    """Build one row per invoice line that carries MRR, with its effective
    period [start, end), `mrr_cents` in the reporting currency and `mrr_micros`
    in its own currency. Lines whose rate is missing keep a null `rate`."""
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
        mrr_cents=(monthly / lines.rate * 100 * HALF_NUDGE).round().cast("int64"),
        mrr_micros=(monthly * 1_000_000 * HALF_NUDGE).round().cast("int64"),
    ).filter(lambda t: t.end > t.start)


EVENT_AMOUNTS = (
    "d_cents",
    "d_micros",
    "end_cents",
    "end_micros",
    "new_cents",
    "new_micros",
)


def events(lines: ir.Table, axes: Sequence[str]) -> ir.Table:
    """Build one row per customer, segment, currency and day on which the
    segment's MRR changes.

    `d_cents` and `d_micros` are the net change that day. `end_cents` and
    `end_micros` are the MRR of the lines that end that day, and `new_cents` and
    `new_micros` that of the positive lines that start, because fx revalues the
    first at the rate of the second."""
    keys = ["customer_id", *axes, "currency"]
    zero = ibis.literal(0, "int64")
    starts = lines.select(
        *keys,
        day=lines.start,
        d_cents=lines.mrr_cents,
        d_micros=lines.mrr_micros,
        end_cents=zero,
        end_micros=zero,
        new_cents=ibis.ifelse(lines.mrr_micros > 0, lines.mrr_cents, zero),
        new_micros=ibis.ifelse(lines.mrr_micros > 0, lines.mrr_micros, zero),
    )
    ends = lines.select(
        *keys,
        day=lines.end,
        d_cents=-lines.mrr_cents,
        d_micros=-lines.mrr_micros,
        end_cents=lines.mrr_cents,
        end_micros=lines.mrr_micros,
        new_cents=zero,
        new_micros=zero,
    )
    both = starts.union(ends)
    grouped = both.group_by([*keys, "day"]).aggregate(
        **{name: both[name].sum() for name in EVENT_AMOUNTS}
    )
    return grouped.filter((grouped.d_cents != 0) | (grouped.d_micros != 0))


def customer_days(ev: ir.Table) -> ir.Table:
    """Build one row per customer and change day with the raw sum of their lines
    before (`raw0_cents`) and after (`raw1_cents`) the day's changes."""
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
    moved = _without(
        joined.mutate(day=joined.resume_day.fill_null(joined.day)),
        "gap_customer",
        "gap_day",
        "resume_day",
    )
    keys = [c for c in ev.columns if c not in EVENT_AMOUNTS]
    regrouped = moved.group_by(keys).aggregate(
        **{name: moved[name].sum() for name in EVENT_AMOUNTS}
    )
    return regrouped.filter((regrouped.d_cents != 0) | (regrouped.d_micros != 0))


def customer_states(ev: ir.Table) -> ir.Table:
    """Build one row per customer and change day with MRR before (`m0_cents`)
    and after (`m1_cents`), floored at zero, and the day's `kind`: new,
    reactivation, churn, change (paying before and after) or none."""
    cust = customer_days(ev)
    before = ibis.window(group_by="customer_id", order_by="day", rows=(None, -1))
    cust = cust.mutate(
        paid_before=(cust.raw1_cents > 0).cast("int8").max().over(before).fill_null(0)
    )
    m0 = ibis.greatest(cust.raw0_cents, 0)
    m1 = ibis.greatest(cust.raw1_cents, 0)
    kind = ibis.cases(
        ((m0 == 0) & (m1 > 0) & (cust.paid_before == 0), "new"),
        ((m0 == 0) & (m1 > 0), "reactivation"),
        ((m0 > 0) & (m1 == 0), "churn"),
        ((m0 > 0) & (m1 > 0), "change"),
        else_="none",
    )
    return cust.select("customer_id", "day", m0_cents=m0, m1_cents=m1, kind=kind)


def acquisition_days(states: ir.Table) -> ir.Table:
    """Return one row per customer: `acquired_on`, the day of their new
    movement."""
    new = states.filter(states.kind == "new")
    return new.group_by("customer_id").aggregate(acquired_on=new.day.min())


def currency_fx(ev: ir.Table, states: ir.Table, report_currency: str) -> ir.Table:
    """Build one row per customer, currency and change day with `fx_cents`:
    the MRR of the lines that end that day revalued at the rate of the positive
    lines that start that day, minus its old value. Zero unless the customer
    pays before and after and lines both end and start in the currency, and
    always zero in the reporting currency, whose rate is 1."""
    per_cur = ev.group_by(["customer_id", "currency", "day"]).aggregate(
        **{name: ev[name].sum() for name in EVENT_AMOUNTS}
    )
    st = states.select(st_customer="customer_id", st_day="day", st_kind="kind")
    joined = per_cur.join(
        st, [per_cur.customer_id == st.st_customer, per_cur.day == st.st_day]
    )
    revalued = (
        (joined.end_micros.cast("float64") * joined.new_cents / joined.new_micros)
        .round()
        .cast("int64")
    )
    fx = ibis.ifelse(
        (joined.st_kind == "change")
        & (joined.currency != report_currency)
        & (joined.new_micros > 0)
        & (joined.end_micros != 0),
        revalued - joined.end_cents,
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


def segment_changes(ev: ir.Table, states: ir.Table, axes: Sequence[str]) -> ir.Table:
    """Build one row per customer, segment and day on which the segment's MRR
    changes, with its value before (`v0_cents`) and after (`v1_cents`) in all
    currencies. On a day the customer starts or stops paying, segments whose
    value did not change but is not zero get a row too, so that the floor at
    zero can apply to them."""
    seg = ["customer_id", *axes]
    per_seg = ev.group_by([*seg, "day"]).aggregate(d_cents=ev.d_cents.sum())
    running = ibis.cumulative_window(group_by=seg, order_by="day")
    per_seg = per_seg.mutate(v1_cents=per_seg.d_cents.sum().over(running))
    per_seg = per_seg.mutate(v0_cents=per_seg.v1_cents - per_seg.d_cents)
    changed = _without(per_seg, "d_cents")

    # Runs of constant value [day, next_day) that span a start or stop day.
    following = ibis.window(group_by=seg, order_by="day")
    runs = changed.mutate(next_day=changed.day.lead().over(following))
    runs = runs.filter(runs.v1_cents != 0)
    toggles = states.filter(states.kind.isin(["new", "reactivation", "churn"])).select(
        t_customer="customer_id", t_day="day"
    )
    spanning = runs.join(
        toggles,
        [
            runs.customer_id == toggles.t_customer,
            runs.day < toggles.t_day,
            runs.next_day.isnull() | (runs.next_day > toggles.t_day),
        ],
    )
    unchanged = spanning.select(
        *seg,
        day=spanning.t_day,
        v1_cents=spanning.v1_cents,
        v0_cents=spanning.v1_cents,
    )
    return changed.union(unchanged.select(*changed.columns))


def segment_fx(ev: ir.Table, cur_fx: ir.Table, axes: Sequence[str]) -> ir.Table:
    """Share each currency's fx between the segments whose lines in it ended that
    day, in proportion to the absolute MRR that ended: one row per customer,
    segment and day with a share."""
    fx = cur_fx.filter(cur_fx.fx_cents != 0).select(
        fx_customer="customer_id",
        fx_currency="currency",
        fx_day="day",
        fx_cents="fx_cents",
    )
    sc = ev.join(
        fx,
        [
            ev.customer_id == fx.fx_customer,
            ev.currency == fx.fx_currency,
            ev.day == fx.fx_day,
        ],
    )
    group = ibis.window(group_by=["customer_id", "currency", "day"])
    # Micros, not cents: a line too small to be worth a cent still ends.
    weight = sc.end_micros.abs().cast("float64")
    sc = sc.mutate(weight=weight)
    sc = sc.mutate(weight_sum=sc.weight.sum().over(group))
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
    """Classify each segment change: one row per customer, segment and change
    day with the movement amounts in cents (churn and contraction positive), the
    segment's value before and after, and its customer count change (+1, 0, -1)."""
    changes = segment_changes(ev, states, axes)
    fx = segment_fx(ev, cur_fx, axes)
    keys = ["customer_id", *axes, "day"]
    fx = fx.rename({f"fx_{k}": k for k in keys})
    changes = _without(
        changes.left_join(fx, [changes[k] == fx[f"fx_{k}"] for k in keys]),
        *[f"fx_{k}" for k in keys],
    )
    changes = changes.mutate(fx_cents=changes.fx_cents.fill_null(0))
    st = states.rename(st_customer="customer_id", st_day="day")
    m = _without(
        changes.join(
            st, [changes.customer_id == st.st_customer, changes.day == st.st_day]
        ),
        "st_customer",
        "st_day",
    )

    # A customer who is not paying has value 0 in every segment.
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
    m = m.mutate(
        moved=moved, cum_up=m.up.sum().over(cum_up), cum_down=m.down.sum().over(cum_up)
    )
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
