"""Analytical axes: the registry of axis definitions and the expressions that give
each line or customer its value on an axis.

Native axes are registered through the same registry that custom axes will use.
An axis of level `line` takes its value from each invoice line, so one customer
can be in several segments. An axis of level `customer` gives all the lines of
a customer one value.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd
import rapidfuzz
import re2

from revaxis import _countries
from revaxis._engine import months_between
from revaxis._errors import UnknownAxisError

NONE_LABEL = "(none)"


@dataclass(frozen=True)
class AxisContext:
    """Workspace tables an axis reads, plus the acquisition day of each customer."""

    customers: ir.Table
    plans: ir.Table
    products: ir.Table
    subscriptions: ir.Table
    metadata: ir.Table
    axis_values: ir.Table
    acquisition: ir.Table  # customer_id, acquired_on
    states: ir.Table  # customer_id, day, m0_cents, m1_cents, kind
    lines: ir.Table  # invoice lines that carry MRR (engine step line_mrr)


LineValue = Callable[[ir.Table, AxisContext], ir.Table]
CustomerValue = Callable[[AxisContext], ir.Table]
# A history gives (entity_id, valid_from, valid_to, axis_value) rows: the value
# in force on [valid_from, valid_to) for the entity named by `entity_column`.
HistoryValue = Callable[[AxisContext], ir.Table]


@dataclass(frozen=True)
class Rule:
    """A label rule: `map` matches a whole label (trimmed, case-insensitive),
    `regex` searches the label with a regular expression."""

    kind: str
    pattern: str
    label: str


@dataclass(frozen=True)
class Axis:
    """An axis definition: its key, label, level and source, and the function that
    computes its values (a `line_value` for line-level axes, a `customer_value`
    for customer-level ones)."""

    key: str
    label: str
    level: str
    source: str
    description: str
    line_value: LineValue | None = None
    customer_value: CustomerValue | None = None
    history: HistoryValue | None = None
    entity_column: str = "customer_id"
    parent: str | None = None
    value_type: str = "category"
    buckets: tuple[float, ...] = ()
    rules: tuple[Rule, ...] = ()
    # Labels in the order of report rows, such as buckets from the lowest edge
    # up. Empty when the labels sort as text.
    value_order: tuple[str, ...] = ()


def _clean(text: ir.StringValue) -> ir.StringValue:
    # Trim with a regular expression: ibis' strip() emits TRIM with a character
    # list that Spark misreads (it would eat a leading or trailing f or v).
    trimmed = text.re_replace(r"^\s+|\s+$", "")
    return ibis.ifelse(trimmed == "", ibis.null("string"), trimmed)


def _plan_value(lines: ir.Table, ctx: AxisContext) -> ir.Table:
    plans = ctx.plans.select(p_id="plan_id", p_name="name")
    joined = lines.left_join(plans, lines.plan_id == plans.p_id)
    value = _clean(joined.p_name).fill_null(_clean(joined.plan_id))
    return joined.mutate(axis_value=value).drop("p_id", "p_name")


def _product_id(lines: ir.Table, ctx: AxisContext) -> ir.Table:
    plans = ctx.plans.select(pp_id="plan_id", pp_product="product_id")
    joined = lines.left_join(plans, lines.plan_id == plans.pp_id)
    return joined.mutate(
        product_key=joined.product_id.fill_null(joined.pp_product)
    ).drop("pp_id", "pp_product")


def _product_value(lines: ir.Table, ctx: AxisContext) -> ir.Table:
    lines = _product_id(lines, ctx)
    products = ctx.products.select(pr_id="product_id", pr_name="name")
    joined = lines.left_join(products, lines.product_key == products.pr_id)
    value = _clean(joined.pr_name).fill_null(_clean(joined.product_key))
    return joined.mutate(axis_value=value).drop("pr_id", "pr_name", "product_key")


def _interval_label(unit: ir.StringValue, count: ir.IntegerValue) -> ir.StringValue:
    months = ibis.cases(
        (unit == "month", count), (unit == "year", count * 12), else_=ibis.null("int64")
    )
    days = ibis.cases(
        (unit == "day", count), (unit == "week", count * 7), else_=ibis.null("int64")
    )
    return _label_from_length(months, days)


def _label_from_length(
    months: ir.IntegerValue, days: ir.IntegerValue
) -> ir.StringValue:
    return ibis.cases(
        (days == 1, "daily"),
        (days == 7, "weekly"),
        (days.notnull(), days.cast("string") + " days"),
        (months == 1, "monthly"),
        (months == 3, "quarterly"),
        (months == 6, "semiannual"),
        (months == 12, "annual"),
        (months == 24, "biennial"),
        (months.notnull(), months.cast("string") + " months"),
        else_=ibis.null("string"),
    )


def _interval_value(lines: ir.Table, ctx: AxisContext) -> ir.Table:
    plans = ctx.plans.select(
        pi_id="plan_id", pi_unit="interval_unit", pi_count="interval_count"
    )
    joined = lines.left_join(plans, lines.plan_id == plans.pi_id)
    # Without a plan, the line's own period names the interval: whole months
    # as they are, other lengths of 1 or 7 days as daily or weekly, the rest
    # rounded to whole months.
    length = months_between(joined.service_period_start, joined.service_period_end)
    days = joined.service_period_end.delta(joined.service_period_start, unit="day")
    from_line = _label_from_length(
        ibis.ifelse(
            days.isin([1, 7]), ibis.null("int64"), length.round().cast("int64")
        ),
        ibis.ifelse(days.isin([1, 7]), days, ibis.null("int64")),
    )
    value = _interval_label(joined.pi_unit, joined.pi_count.fill_null(1))
    return joined.mutate(axis_value=value.fill_null(from_line)).drop(
        "pi_id", "pi_unit", "pi_count"
    )


def _currency_value(lines: ir.Table, ctx: AxisContext) -> ir.Table:
    return lines.mutate(axis_value=lines.currency)


def _country_codes(ctx: AxisContext) -> ir.Table:
    return country_codes(ctx.customers)


def country_codes(customers: ir.Table) -> ir.Table:
    """Return customer_id and code: the ISO 3166 alpha-2 code of the customer's
    country, or the trimmed label when it names no known country."""
    raw = customers.select("customer_id", "country")
    labels = raw.country.execute().dropna().unique().tolist()
    mapping = pd.DataFrame(
        {
            "raw_label": labels,
            "code": [
                _countries.normalize_country(label) or label.strip() or None
                for label in labels
            ],
        },
        columns=["raw_label", "code"],
    ).astype({"raw_label": "string", "code": "string"})
    table = ibis.memtable(mapping)
    joined = raw.left_join(table, raw.country == table.raw_label)
    return joined.select("customer_id", code=joined.code)


def _country_value(ctx: AxisContext) -> ir.Table:
    codes = _country_codes(ctx)
    return codes.select("customer_id", axis_value=codes.code)


def _region_value(level: int) -> CustomerValue:
    def value(ctx: AxisContext) -> ir.Table:
        codes = _country_codes(ctx)
        known = codes.code.execute().dropna().unique().tolist()
        rows = []
        for code in known:
            region = _countries.region_of(code)
            if region is not None:
                rows.append((code, region[level]))
        table = ibis.memtable(
            pd.DataFrame(rows, columns=["r_code", "r_value"]).astype("string")
        )
        joined = codes.left_join(table, codes.code == table.r_code)
        return joined.select("customer_id", axis_value=joined.r_value)

    return value


def _cohort_value(interval: str) -> CustomerValue:
    def value(ctx: AxisContext) -> ir.Table:
        acq = ctx.acquisition
        day = acq.acquired_on
        if interval == "month":
            text = day.strftime("%Y-%m")
        elif interval == "quarter":
            text = (
                day.year().cast("string")
                + "-Q"
                + ((day.month() + 2) // 3).cast("string")
            )
        else:
            text = day.year().cast("string")
        return acq.select("customer_id", axis_value=text)

    return value


NATIVE_AXES: dict[str, Axis] = {
    axis.key: axis
    for axis in [
        Axis(
            "product",
            "Product",
            "line",
            "native",
            "product of the line or its plan",
            line_value=_product_value,
        ),
        Axis(
            "plan",
            "Plan",
            "line",
            "native",
            "plan name, or plan id without a name",
            line_value=_plan_value,
        ),
        Axis(
            "interval",
            "Billing interval",
            "line",
            "native",
            "monthly, quarterly, annual... from the plan or the service period",
            line_value=_interval_value,
        ),
        Axis(
            "currency",
            "Currency",
            "line",
            "native",
            "currency of the line",
            line_value=_currency_value,
        ),
        Axis(
            "country",
            "Country",
            "customer",
            "native",
            "ISO 3166 alpha-2 code of the customer's country",
            customer_value=_country_value,
        ),
        Axis(
            "region",
            "Region",
            "customer",
            "native",
            "UN M49 region of the country",
            customer_value=_region_value(0),
        ),
        Axis(
            "subregion",
            "Subregion",
            "customer",
            "native",
            "UN M49 subregion of the country",
            customer_value=_region_value(1),
        ),
        Axis(
            "cohort_month",
            "Acquisition month",
            "customer",
            "native",
            "month of the customer's first new movement",
            customer_value=_cohort_value("month"),
        ),
        Axis(
            "cohort_quarter",
            "Acquisition quarter",
            "customer",
            "native",
            "quarter of the customer's first new movement",
            customer_value=_cohort_value("quarter"),
        ),
        Axis(
            "cohort_year",
            "Acquisition year",
            "customer",
            "native",
            "year of the customer's first new movement",
            customer_value=_cohort_value("year"),
        ),
    ]
}


def column_name(key: str) -> str:
    """Return the name of the engine column with the value of axis `key`."""
    return f"ax_{key}"


def resolve(keys: Sequence[str], registry: dict[str, Axis]) -> list[Axis]:
    out = []
    for key in keys:
        if key not in registry:
            known = ", ".join(sorted(registry))
            close = rapidfuzz.process.extractOne(key, list(registry), score_cutoff=75)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownAxisError(
                f"Unknown axis {key!r}.{hint} Known axes: {known}. List them with "
                "`revaxis axes list`."
            )
        out.append(registry[key])
    if len(set(keys)) != len(keys):
        raise UnknownAxisError(f"Axis given twice in {', '.join(keys)}.")
    return out


def add_axes(
    lines: ir.Table,
    axes: Sequence[Axis],
    ctx: AxisContext,
    registry: dict[str, Axis],
) -> ir.Table:
    """Add one `ax_<key>` column per axis to the line table, "(none)" where a line
    has no value. An axis with a history splits each line at the days its
    value changes, so that the pieces carry the value in force on their days."""
    for axis in axes:
        lines = _add_axis(lines, axis, ctx, registry, column_name(axis.key))
    return lines


def _add_axis(
    lines: ir.Table,
    axis: Axis,
    ctx: AxisContext,
    registry: dict[str, Axis],
    name: str,
) -> ir.Table:
    if axis.parent is not None:
        parent_name = f"{name}__parent"
        lines = _add_axis(lines, registry[axis.parent], ctx, registry, parent_name)
        lines = lines.mutate(axis_value=lines[parent_name]).drop(parent_name)
        lines = lines.mutate(
            axis_value=ibis.ifelse(
                lines.axis_value == NONE_LABEL, ibis.null("string"), lines.axis_value
            )
        )
    elif axis.line_value is not None:
        lines = axis.line_value(lines, ctx)
    elif axis.customer_value is not None:
        values = axis.customer_value(ctx).select(
            v_customer="customer_id", axis_value="axis_value"
        )
        lines = lines.left_join(values, lines.customer_id == values.v_customer).drop(
            "v_customer"
        )
    elif axis.history is not None:
        lines = split_by_history(lines, axis.history(ctx), axis.entity_column)
    lines = _apply_labels(lines, axis)
    return lines.rename({name: "axis_value"}).mutate(
        **{name: ibis._[name].fill_null(NONE_LABEL)}
    )


SENTINEL_START = dt.date(1900, 1, 1)
SENTINEL_END = dt.date(9999, 12, 31)


def split_by_history(lines: ir.Table, history: ir.Table, entity: str) -> ir.Table:
    """Split each line at the days its entity's value changes: one row per line
    piece [start, end) with `axis_value`. Lines of entities without a history
    keep a null value."""
    hist = history.select(
        h_entity="entity_id",
        h_from="valid_from",
        h_to="valid_to",
        axis_value="axis_value",
    )
    has = hist.select(k_entity="h_entity").distinct()
    known = lines.join(has, lines[entity] == has.k_entity).drop("k_entity")
    unknown = lines.anti_join(has, lines[entity] == has.k_entity).mutate(
        axis_value=ibis.null("string")
    )
    pieces = known.join(
        hist,
        [
            known[entity] == hist.h_entity,
            hist.h_from < known.end,
            hist.h_to > known.start,
        ],
    )
    pieces = pieces.mutate(
        start=ibis.greatest(pieces.start, pieces.h_from),
        end=ibis.least(pieces.end, pieces.h_to),
    ).drop("h_entity", "h_from", "h_to")
    return pieces.union(unknown.select(*pieces.columns))


def _apply_labels(lines: ir.Table, axis: Axis) -> ir.Table:
    """Clean `axis_value` with the axis' label rules, then group numbers into the
    axis' buckets; a value no rule matches stays as it is, trimmed."""
    if not axis.rules and not axis.buckets:
        return lines
    raw = lines.select("axis_value").distinct().axis_value.execute()
    labels = [v for v in raw.tolist() if v is not None and not pd.isna(v)]
    mapping = {label: clean_label(label, axis.rules) for label in labels}
    if axis.buckets:
        mapping = {
            raw_: bucket_label(clean, axis.buckets) for raw_, clean in mapping.items()
        }
    frame = pd.DataFrame(
        {"m_raw": list(mapping), "m_clean": list(mapping.values())}, dtype="string"
    )
    table = ibis.memtable(frame)
    joined = lines.left_join(table, lines.axis_value == table.m_raw)
    return joined.mutate(axis_value=joined.m_clean).drop("m_raw", "m_clean")


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str) -> re2._Regexp:
    """Compile the pattern of a `regex` rule with RE2, which matches in time
    linear in the label's length, so no rule can stall a report by
    catastrophic backtracking. RE2 reads Python's syntax except backreferences
    and lookaround. Raises re2.error for an invalid pattern."""
    return re2.compile(pattern, _RE2_OPTIONS)


def clean_label(label: str, rules: Sequence[Rule]) -> str | None:
    """Return the label after the first rule that matches it, else the label
    trimmed."""
    trimmed = label.strip()
    for rule in rules:
        if rule.kind == "map" and trimmed.casefold() == rule.pattern.strip().casefold():
            return rule.label
        if rule.kind == "regex" and compile_regex(rule.pattern).search(label):
            return rule.label
    return trimmed or None


def bucket_label(value: str | None, edges: Sequence[float]) -> str | None:
    """Return the bucket of a number for edges e0 < e1 < ...: "e0-e1" contains
    e0 <= x < e1 and the last, "eN+", contains x >= eN. A number below e0, or a
    value that is not a number, gives None."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    text = [f"{e:g}" for e in edges]
    for i in range(len(edges) - 1):
        if edges[i] <= number < edges[i + 1]:
            return f"{text[i]}-{text[i + 1]}"
    if number >= edges[-1]:
        return f"{text[-1]}+"
    return None


def bucket_labels(edges: Sequence[float]) -> tuple[str, ...]:
    """Return the labels that `bucket_label` gives for `edges`, from the lowest
    bucket up."""
    text = [f"{e:g}" for e in edges]
    if not text:
        return ()
    pairs = [f"{lo}-{hi}" for lo, hi in zip(text, text[1:], strict=False)]
    return (*pairs, f"{text[-1]}+")


def sort_key(axes: Sequence[Axis]) -> Callable[[pd.Series], pd.Series]:
    """Return a `key` for DataFrame.sort_values that ranks the column of each
    axis with a `value_order` (the column named by the axis' key) in that
    order. Labels outside the order come next, as text, and "(none)" last.
    Other columns sort by their own values."""
    orders = {axis.key: axis.value_order for axis in axes if axis.value_order}

    def key(column: pd.Series) -> pd.Series:
        order = orders.get(str(column.name))
        if order is None:
            return column
        others = sorted({str(v) for v in column if v not in order and v != NONE_LABEL})
        rank = {label: i for i, label in enumerate([*order, *others])}
        rank[NONE_LABEL] = len(rank)
        return column.map(rank).astype("int64")

    return key
