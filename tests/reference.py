"""Naive day-by-day reference implementation of the MRR rules in docs/metrics.md.

It exists only to check the engine. It walks every calendar day, rebuilds each
customer's set of active lines from scratch and classifies the change from one
day to the next, with exact arithmetic (``Fraction``) and one rounding per
stated rule. It is written for clarity, not speed, and uses no pandas, Ibis or
SQL so that it shares no code or idiom with the engine.

Inputs are the canonical tables as lists of dicts: invoice lines, and
subscriptions for their ``ended_at``. A rate function ``rate(currency, day)``
returns units of ``currency`` per one unit of the reporting currency.
``Settings`` carries the workspace settings, and a segment function
``segment(line)`` returns the line's segment value as a tuple (``()`` for no
axis). Amounts come out as integer cents of the reporting currency.

Where docs/metrics.md leaves a choice open, this module takes the reading below.

- Lines "end" and "start" on a day when they leave or join the customer's set
  of lines in force, so the lines kept through a grace gap end on the day the
  new lines start. A "positive" starting line has a positive MRR in its own
  currency.
- fx is shared in proportion to the absolute MRR, in the line currency, that
  ended in each segment, so the shares stay bounded when a segment's ended
  lines sum below zero (credits). Weights that sum to 0 share it equally.
- A customer who stopped paying more than once in a period is counted as
  churned in the segments left on the last of those days.
- Grace gaps are bridged with every line, also lines that start after the
  report day, and the days after the report day then keep its state.
- The default report end is never after the period of the report day.
- Rates are read as their decimal text (``0.8`` is exactly 8/10), so a line
  whose exact MRR lies on half a cent rounds away from zero.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

MOVEMENT_TYPES = (
    "new",
    "expansion",
    "contraction",
    "churn",
    "reactivation",
    "transfer_in",
    "transfer_out",
    "fx",
)
COUNT_COLUMNS = (
    "customers_start",
    "customers_end",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
)
RECURRING_KINDS = frozenset({"subscription", "usage"})
UNPAID_STATUSES = frozenset({"open", "uncollectible"})
# 365.25 / 12 days: the length of a month for periods that are not whole months.
DAYS_PER_MONTH = Fraction(36525, 1200)
MILLIONTHS = 1_000_000

Line = Mapping[str, Any]
RateFunction = Callable[[str, date], Any]
SegmentFunction = Callable[[Line], tuple]


def no_segment(line: Line) -> tuple:
    """Return the segment value of every line when the report has no axis."""
    return ()


@dataclass(frozen=True)
class Settings:
    """Workspace settings that change MRR, with the engine's defaults."""

    grace_days: int = 0
    # None means off: open and uncollectible lines count like paid ones.
    delinquency_days: int | None = None
    # "ignore" counts refunded lines like paid ones, "remove" drops them.
    refunds: str = "ignore"
    # Day of the report (today when None): later changes are left out.
    as_of: date | None = None
    # Reporting currency. Its rate is always 1, so its lines never have fx.
    currency: str = "USD"


# ---------------------------------------------------------------------------
# Exact arithmetic helpers


def round_half_away(value: Fraction) -> int:
    """Round an exact fraction to the nearest integer, ties away from zero."""
    magnitude = abs(value)
    whole, remainder = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * remainder >= magnitude.denominator:
        whole += 1
    return -whole if value < 0 else whole


def to_fraction(value: Any) -> Fraction:
    """Convert an amount or rate to an exact fraction of its decimal text.

    None and NaN count as 0, so a missing discount or tax takes its default.
    """
    if value is None or value != value:
        return Fraction(0)
    return Fraction(Decimal(str(value)))


def to_date(value: Any) -> date | None:
    """Convert a date, datetime (or pandas Timestamp) or ISO string to a date."""
    if value is None or value != value:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def last_day_of_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def service_period_months(start: date, end: date) -> Fraction:
    """Return the length of the service period [start, end) in months.

    The length is a whole number of calendar months when the end falls on the
    start's day of the month, clamped to the last day of a shorter month (31
    January to 29 February 2024 is one month). A start on the last day of its
    month may be a clamped billing day, so any end day from the start's day on
    counts (29 February to 31 March 2024 is one month). Otherwise the length is
    days / (365.25 / 12), so 7 days are 0.22998 months.
    """
    same_day = end.day == min(start.day, last_day_of_month(end))
    if start.day == last_day_of_month(start) and end.day >= start.day:
        same_day = True
    if same_day:
        return Fraction((end.year - start.year) * 12 + end.month - start.month)
    return Fraction((end - start).days) / DAYS_PER_MONTH


def cumulative_shares(total: int, weights: Sequence[Fraction | int]) -> list[int]:
    """Split an integer total in proportion to weights, summing exactly to total.

    The i-th share is round(total x cumulative weight / all weights), half away
    from zero, less the shares before it, which is how docs/metrics.md rounds
    transfer shares. Weights that sum to 0 fall back to equal weights.
    """
    weight_total = sum(weights, Fraction(0))
    if weight_total == 0:
        weights = [1] * len(weights)
        weight_total = Fraction(len(weights))
    shares = []
    cumulative_weight = Fraction(0)
    allocated = 0
    for weight in weights:
        cumulative_weight += weight
        allocated_so_far = round_half_away(total * cumulative_weight / weight_total)
        shares.append(allocated_so_far - allocated)
        allocated = allocated_so_far
    return shares


# ---------------------------------------------------------------------------
# Line MRR


@dataclass(frozen=True)
class LineMrr:
    """One line's contribution: its MRR and the days [start, stop) it counts."""

    key: tuple[str, str]
    customer_id: str
    start: date
    stop: date
    currency: str
    segment: tuple
    mrr_cents: int
    local_millionths: int


def line_excluded(line: Line, settings: Settings) -> bool:
    """Return True when kind, status or delinquency keep a line out of MRR."""
    kind = line.get("kind") or "subscription"
    status = line.get("status") or "paid"
    if kind not in RECURRING_KINDS or status == "void":
        return True
    if status == "refunded" and settings.refunds == "remove":
        return True
    if settings.delinquency_days is not None and status in UNPAID_STATUSES:
        as_of = settings.as_of or date.today()
        invoice_date = to_date(line.get("invoice_date")) or to_date(
            line["service_period_start"]
        )
        if (as_of - invoice_date).days >= settings.delinquency_days:
            return True
    return False


def line_net_amount(line: Line) -> Fraction:
    """Return amount - discount, never below zero for a non-negative amount."""
    amount = to_fraction(line["amount"])
    net = amount - to_fraction(line.get("discount"))
    if amount >= 0 and net < 0:
        return Fraction(0)
    return net


def line_mrr(
    line: Line,
    subscription_end: date | None,
    rate: RateFunction,
    settings: Settings,
    segment: SegmentFunction,
) -> LineMrr | None:
    """Compute one line's MRR in cents and in local millionths, or None.

    None means the line never contributes: excluded by kind, status or
    delinquency, or with an empty period once cut at the subscription's
    ``ended_at``. The MRR uses the whole service period even when ``ended_at``
    cuts the days on which it counts.
    """
    if line_excluded(line, settings):
        return None
    start = to_date(line["service_period_start"])
    end = to_date(line["service_period_end"])
    if start is None or end is None:
        raise ValueError(
            f"Invoice line {line['invoice_id']}/{line['line_id']} has no service "
            "period; give the reference the period the importer fills in."
        )
    stop = end if subscription_end is None else min(end, subscription_end)
    if end <= start or stop <= start:
        return None

    net = line_net_amount(line)
    months = service_period_months(start, end)
    currency = line["currency"]
    units_per_reporting_unit = to_fraction(rate(currency, start))
    converted = net / units_per_reporting_unit
    return LineMrr(
        key=(str(line["invoice_id"]), str(line["line_id"])),
        customer_id=str(line["customer_id"]),
        start=start,
        stop=stop,
        currency=currency,
        segment=tuple(segment(line)),
        mrr_cents=round_half_away(converted * 100 / months),
        local_millionths=round_half_away(net * MILLIONTHS / months),
    )


def contributing_lines(
    invoice_lines: Iterable[Line],
    subscriptions: Iterable[Line],
    rate: RateFunction,
    settings: Settings,
    segment: SegmentFunction,
) -> list[LineMrr]:
    """Return the LineMrr of every line that counts on at least one day."""
    ended_at = {
        str(row["subscription_id"]): to_date(row.get("ended_at"))
        for row in subscriptions
    }
    result = []
    for line in invoice_lines:
        subscription_id = line.get("subscription_id")
        subscription_end = None
        if subscription_id is not None and subscription_id == subscription_id:
            subscription_end = ended_at.get(str(subscription_id))
        contribution = line_mrr(line, subscription_end, rate, settings, segment)
        if contribution is not None:
            result.append(contribution)
    return result


# ---------------------------------------------------------------------------
# Customer state on a day: the set of lines in force

State = frozenset[LineMrr]


def customer_mrr(state: State) -> int:
    """Return the customer's MRR in cents: the sum of lines, 0 when not above 0."""
    total = sum(line.mrr_cents for line in state)
    return total if total > 0 else 0


def segment_values(state: State) -> dict[tuple, int]:
    """Return the customer's MRR per segment, all 0 when the customer pays 0."""
    if customer_mrr(state) == 0:
        return {}
    values: dict[tuple, int] = {}
    for line in state:
        values[line.segment] = values.get(line.segment, 0) + line.mrr_cents
    return values


def bridge_grace_gaps(states: list[State], grace_days: int) -> list[State]:
    """Fill short non-paying gaps with the state of the day before the gap.

    A gap is a run of days with customer MRR 0 after a paying day. When the
    customer pays again after at most ``grace_days`` such days, the customer
    keeps the lines of the day before the gap until the new lines start. A gap
    that never ends is churn and stays.
    """
    paying = [customer_mrr(state) > 0 for state in states]
    bridged = list(states)
    index = 1
    while index < len(states):
        if paying[index] or not paying[index - 1]:
            index += 1
            continue
        gap_end = index
        while gap_end < len(states) and not paying[gap_end]:
            gap_end += 1
        if gap_end < len(states) and gap_end - index <= grace_days:
            for gap_index in range(index, gap_end):
                bridged[gap_index] = bridged[index - 1]
        index = gap_end
    return bridged


def freeze_after_report_day(
    states: list[State], first_day: date, report_day: date
) -> list[State]:
    """Keep the state of the report day on every later day.

    Changes after the report day are left out: a line that ends next month is
    a scheduled change, not churn yet.
    """
    report_index = max(0, min((report_day - first_day).days, len(states) - 1))
    return states[: report_index + 1] + [states[report_index]] * (
        len(states) - report_index - 1
    )


# ---------------------------------------------------------------------------
# Movements of one customer on one day


def fx_by_segment(
    before: State, after: State, reporting_currency: str
) -> dict[tuple, int]:
    """Compute fx per segment for a customer paying on both days.

    Per currency, with L the MRR in the currency (millionths) and V the MRR in
    the reporting currency (cents) of the lines that end on the day (L_end,
    V_end) and of the positive lines that start on it (L_new, V_new), fx =
    round(L_end x V_new / L_new) - V_end. It is shared between the segments of
    the ended lines in proportion to the absolute MRR that ended in each. The
    reporting currency has no fx.
    """
    ended_lines = before - after
    started_lines = after - before
    result: dict[tuple, int] = {}
    for currency in sorted({line.currency for line in ended_lines}):
        if currency == reporting_currency:
            continue
        ended = [line for line in ended_lines if line.currency == currency]
        started = [
            line
            for line in started_lines
            if line.currency == currency and line.local_millionths > 0
        ]
        if not started:
            continue
        local_ended = sum(line.local_millionths for line in ended)
        value_ended = sum(line.mrr_cents for line in ended)
        local_new = sum(line.local_millionths for line in started)
        value_new = sum(line.mrr_cents for line in started)
        revalued = Fraction(local_ended * value_new, local_new)
        fx_total = round_half_away(revalued) - value_ended
        if fx_total == 0:
            continue

        ended_by_segment: dict[tuple, int] = {}
        for line in ended:
            ended_by_segment[line.segment] = (
                ended_by_segment.get(line.segment, 0) + line.local_millionths
            )
        segments = sorted(ended_by_segment)
        weights = [abs(ended_by_segment[segment]) for segment in segments]
        shares = cumulative_shares(fx_total, weights)
        for segment, share in zip(segments, shares, strict=True):
            result[segment] = result.get(segment, 0) + share
    return result


def split_transfers(rest: dict[tuple, int]) -> dict[tuple, dict[str, int]]:
    """Classify each segment's change (less fx) as transfer or expansion/contraction.

    S = min(P, N) moves between segments, with P the sum of increases and N the
    sum of decreases. Increases take transfer_in shares of S and decreases
    transfer_out shares, rounded cumulatively in ascending segment order.
    """
    increases = sorted((s, value) for s, value in rest.items() if value > 0)
    decreases = sorted((s, -value) for s, value in rest.items() if value < 0)
    increase_total = sum(value for _, value in increases)
    decrease_total = sum(value for _, value in decreases)
    moved = min(increase_total, decrease_total)

    result: dict[tuple, dict[str, int]] = {}
    if increases:
        shares = cumulative_shares(moved, [value for _, value in increases])
        for (segment, value), share in zip(increases, shares, strict=True):
            result[segment] = {"transfer_in": share, "expansion": value - share}
    if decreases:
        shares = cumulative_shares(moved, [value for _, value in decreases])
        for (segment, value), share in zip(decreases, shares, strict=True):
            result[segment] = {"transfer_out": share, "contraction": value - share}
    return result


def classify_day(
    before: State, after: State, paid_before: bool, reporting_currency: str
) -> dict[tuple, dict[str, int]]:
    """Return the movements of one customer on one day, per segment, in cents.

    Churn and contraction are positive. Segments without a movement are left out.
    """
    mrr_before = customer_mrr(before)
    mrr_after = customer_mrr(after)
    values_before = segment_values(before)
    values_after = segment_values(after)
    result: dict[tuple, dict[str, int]] = {}

    if mrr_before == 0 and mrr_after == 0:
        return result
    if mrr_before == 0:
        kind = "reactivation" if paid_before else "new"
        for segment, value in values_after.items():
            result[segment] = {kind: value}
    elif mrr_after == 0:
        for segment, value in values_before.items():
            result[segment] = {"churn": value}
    else:
        fx = fx_by_segment(before, after, reporting_currency)
        segments = set(values_before) | set(values_after) | set(fx)
        rest = {
            segment: values_after.get(segment, 0)
            - values_before.get(segment, 0)
            - fx.get(segment, 0)
            for segment in segments
        }
        result = split_transfers(rest)
        for segment, amount in fx.items():
            result.setdefault(segment, {})["fx"] = amount

    return {
        segment: movements
        for segment, movements in result.items()
        if any(movements.values())
    }


# ---------------------------------------------------------------------------
# Timeline of every customer


@dataclass
class CustomerTimeline:
    """One customer's state on every day of the timeline and their movements."""

    customer_id: str
    # states[i] is the set of lines in force on day first_day + i.
    states: list[State]
    # movements[i] maps segment -> movement type -> cents for day first_day + i.
    movements: list[dict[tuple, dict[str, int]]] = field(default_factory=list)


@dataclass
class Timeline:
    """Day-by-day states and movements of all customers.

    ``first_day`` is the day before the first line starts, when no customer pays, and
    ``last_day`` the day the last line stops. After it every state stays as on
    ``last_day``.
    """

    first_day: date
    last_day: date
    customers: list[CustomerTimeline]

    def day_index(self, day: date) -> int:
        """Return the index of a day in the states, clamped to the timeline."""
        offset = (day - self.first_day).days
        return max(0, min(offset, (self.last_day - self.first_day).days))

    def days(self) -> list[date]:
        """Return every day of the timeline in order."""
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=offset) for offset in range(count)]


def build_timeline(
    invoice_lines: Iterable[Line],
    subscriptions: Iterable[Line],
    rate: RateFunction,
    settings: Settings,
    segment: SegmentFunction,
) -> Timeline:
    """Walk every day and build each customer's states and movements."""
    report_day = settings.as_of or date.today()
    lines = contributing_lines(invoice_lines, subscriptions, rate, settings, segment)
    if not lines:
        return Timeline(first_day=report_day, last_day=report_day, customers=[])
    first_day = min(line.start for line in lines) - timedelta(days=1)
    last_day = max(line.stop for line in lines)
    day_count = (last_day - first_day).days + 1
    days = [first_day + timedelta(days=offset) for offset in range(day_count)]

    lines_by_customer: dict[str, list[LineMrr]] = {}
    for line in lines:
        lines_by_customer.setdefault(line.customer_id, []).append(line)

    customers = []
    for customer_id in sorted(lines_by_customer):
        own_lines = lines_by_customer[customer_id]
        raw_states = [
            frozenset(line for line in own_lines if line.start <= day < line.stop)
            for day in days
        ]
        states = bridge_grace_gaps(raw_states, settings.grace_days)
        states = freeze_after_report_day(states, first_day, report_day)
        timeline = CustomerTimeline(customer_id=customer_id, states=states)
        paid_before = False
        timeline.movements.append({})
        for index in range(1, day_count):
            before, after = states[index - 1], states[index]
            paid_before = paid_before or customer_mrr(before) > 0
            if before == after:
                timeline.movements.append({})
            else:
                movements = classify_day(before, after, paid_before, settings.currency)
                timeline.movements.append(movements)
        customers.append(timeline)
    return Timeline(first_day=first_day, last_day=last_day, customers=customers)


def reference_movements(
    invoice_lines: Iterable[Line],
    subscriptions: Iterable[Line],
    rate: RateFunction,
    settings: Settings | None = None,
    segment: SegmentFunction = no_segment,
) -> list[dict[str, Any]]:
    """Return one row per customer, day and segment with a non-zero movement.

    Keys: customer_id, date, segment (tuple) and every movement type in cents.
    Churn, contraction and transfer_out are positive.
    """
    settings = settings or Settings()
    timeline = build_timeline(invoice_lines, subscriptions, rate, settings, segment)
    days = timeline.days()
    rows = []
    for customer in timeline.customers:
        for day, movements in zip(days, customer.movements, strict=True):
            for segment_value in sorted(movements):
                row: dict[str, Any] = {
                    "customer_id": customer.customer_id,
                    "date": day,
                    "segment": segment_value,
                }
                for kind in MOVEMENT_TYPES:
                    row[kind] = movements[segment_value].get(kind, 0)
                rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Periods and the MRR report


def parse_period_day(label: str) -> date:
    """Return the first day named by a label: 2024, 2024-Q1, 2024-03 or 2024-03-15."""
    if len(label) == 4:
        return date(int(label), 1, 1)
    if len(label) == 7 and label[5] == "Q":
        quarter = int(label[6])
        return date(int(label[:4]), 3 * quarter - 2, 1)
    if len(label) == 7:
        return date(int(label[:4]), int(label[5:7]), 1)
    return date.fromisoformat(label)


def period_label(day: date, interval: str) -> str:
    """Return the label of the period containing a day."""
    if interval == "month":
        return f"{day.year}-{day.month:02d}"
    if interval == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if interval == "year":
        return f"{day.year}"
    raise ValueError(
        f"Invalid interval {interval!r}: use 'month', 'quarter' or 'year'."
    )


def period_bounds(day: date, interval: str) -> tuple[date, date]:
    """Return the first and last day of the period containing a day."""
    if interval == "month":
        first, months = date(day.year, day.month, 1), 1
    elif interval == "quarter":
        first, months = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1), 3
    elif interval == "year":
        first, months = date(day.year, 1, 1), 12
    else:
        raise ValueError(
            f"Invalid interval {interval!r}: use 'month', 'quarter' or 'year'."
        )
    month_index = first.month - 1 + months
    following = date(first.year + month_index // 12, month_index % 12 + 1, 1)
    return first, following - timedelta(days=1)


def default_period_range(
    timeline: Timeline,
    invoice_lines: Sequence[Line],
    settings: Settings,
    interval: str,
) -> tuple[date, date] | None:
    """Return the first days of the default first and last periods, or None.

    The report starts at the first period with MRR. It ends at the period of the
    report day while any customer pays on it, and otherwise at the period of the
    latest invoice date or MRR change, whichever is later, but never after the
    period of the report day.
    """
    report_day = settings.as_of or date.today()
    days = timeline.days()
    paying_days = [
        day
        for index, day in enumerate(days)
        if any(customer_mrr(c.states[index]) > 0 for c in timeline.customers)
    ]
    if not paying_days:
        return None
    first = period_bounds(paying_days[0], interval)[0]

    report_index = timeline.day_index(report_day)
    if report_day >= timeline.first_day and any(
        customer_mrr(c.states[report_index]) > 0 for c in timeline.customers
    ):
        return first, period_bounds(report_day, interval)[0]

    change_days = [
        day
        for index, day in enumerate(days)
        if any(c.movements[index] for c in timeline.customers)
    ]
    invoice_dates = [
        to_date(line.get("invoice_date")) or to_date(line["service_period_start"])
        for line in invoice_lines
    ]
    latest = max([*change_days, *(day for day in invoice_dates if day is not None)])
    last = period_bounds(min(latest, report_day), interval)[0]
    return first, last


def _customer_segment_values(timeline: Timeline, day: date) -> list[dict]:
    index = timeline.day_index(day)
    return [segment_values(customer.states[index]) for customer in timeline.customers]


def _segments_left(customer: CustomerTimeline, day_indexes: list[int]) -> set:
    """Return the segments paid for before the last day the customer stopped paying.

    Only the days at ``day_indexes`` count, so for a period this is where a
    customer who pays at its start and not at its end counts as churned.
    """
    for index in reversed(day_indexes):
        if index == 0:
            continue
        before = customer.states[index - 1]
        if customer_mrr(before) > 0 and customer_mrr(customer.states[index]) == 0:
            values = segment_values(before)
            return {segment for segment, value in values.items() if value > 0}
    return set()


def _period_rows(
    timeline: Timeline, label: str, first: date, last: date, segments: list[tuple]
) -> list[dict[str, Any]]:
    """Build the report rows of one period, one per segment."""
    values_start = _customer_segment_values(timeline, first - timedelta(days=1))
    values_end = _customer_segment_values(timeline, last)
    paying_end = [bool(values) for values in values_end]
    movement_days = [
        index for index, day in enumerate(timeline.days()) if first <= day <= last
    ]

    rows = []
    for segment in segments:
        row: dict[str, Any] = {"period": label, "segment": segment}
        row["mrr_start"] = sum(values.get(segment, 0) for values in values_start)
        for kind in MOVEMENT_TYPES:
            row[kind] = sum(
                customer.movements[index].get(segment, {}).get(kind, 0)
                for customer in timeline.customers
                for index in movement_days
            )
        row["mrr_end"] = sum(values.get(segment, 0) for values in values_end)
        row["customers_start"] = sum(
            1 for values in values_start if values.get(segment, 0) > 0
        )
        row["customers_end"] = sum(
            1 for values in values_end if values.get(segment, 0) > 0
        )
        for kind, column in (
            ("new", "new_customers"),
            ("reactivation", "reactivated_customers"),
        ):
            row[column] = sum(
                1
                for customer in timeline.customers
                if any(
                    customer.movements[index].get(segment, {}).get(kind, 0) != 0
                    for index in movement_days
                )
            )
        row["churned_customers"] = sum(
            1
            for customer, values, paying in zip(
                timeline.customers, values_start, paying_end, strict=True
            )
            if values
            and not paying
            and segment in _segments_left(customer, movement_days)
        )
        rows.append(row)
    return rows


def reference_mrr(
    invoice_lines: Sequence[Line],
    subscriptions: Iterable[Line],
    rate: RateFunction,
    settings: Settings | None = None,
    segment: SegmentFunction = no_segment,
    interval: str = "month",
    start_label: str | None = None,
    end_label: str | None = None,
) -> list[dict[str, Any]]:
    """Return the MRR report: one row per period and segment, amounts in cents.

    Every segment of a contributing line gets a row in every period, even when
    all its numbers are 0. Labels may name a period in any form that
    ``parse_period_day`` reads, and the report covers the periods containing
    those days.
    """
    settings = settings or Settings()
    timeline = build_timeline(invoice_lines, subscriptions, rate, settings, segment)
    if start_label is None or end_label is None:
        default_range = default_period_range(
            timeline, invoice_lines, settings, interval
        )
        if default_range is None:
            return []
        first_day, last_day = default_range
    if start_label is not None:
        first_day = parse_period_day(start_label)
    if end_label is not None:
        last_day = parse_period_day(end_label)

    segments = sorted(
        {
            segment_value
            for customer in timeline.customers
            for state in customer.states
            for segment_value in segment_values(state)
        }
        | {
            segment_value
            for customer in timeline.customers
            for movements in customer.movements
            for segment_value in movements
        }
    )
    if not segments:
        segments = [()]

    rows = []
    period_first, period_last = period_bounds(first_day, interval)
    while period_first <= last_day:
        label = period_label(period_first, interval)
        rows.extend(_period_rows(timeline, label, period_first, period_last, segments))
        period_first, period_last = period_bounds(
            period_last + timedelta(days=1), interval
        )
    return rows
