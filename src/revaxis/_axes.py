"""Analytical axes: the registry of axis definitions and the expressions that give
each line or customer its value on an axis.

Native axes are registered through the same registry that custom axes will use.
An axis of level `line` takes its value from each invoice line (so one customer
can sit in several segments); an axis of level `customer` gives all the lines
of a customer one value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

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
    acquisition: ir.Table  # customer_id, acquired_on


LineValue = Callable[[ir.Table, AxisContext], ir.Table]
CustomerValue = Callable[[AxisContext], ir.Table]


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
        ibis.ifelse(days.isin([1, 7]), ibis.null("int64"), length.round().cast("int64")),
        ibis.ifelse(days.isin([1, 7]), days, ibis.null("int64")),
    )
    value = _interval_label(joined.pi_unit, joined.pi_count.fill_null(1))
    return joined.mutate(axis_value=value.fill_null(from_line)).drop(
        "pi_id", "pi_unit", "pi_count"
    )


def _currency_value(lines: ir.Table, ctx: AxisContext) -> ir.Table:
    return lines.mutate(axis_value=lines.currency)


def _country_codes(ctx: AxisContext) -> ir.Table:
    """customer_id and country: the ISO 3166 alpha-2 code, or the trimmed label
    when it names no known country."""
    raw = ctx.customers.select("customer_id", "country")
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
        Axis("product", "Product", "line", "native", "product of the line or its plan",
             line_value=_product_value),
        Axis("plan", "Plan", "line", "native", "plan name, or plan id without a name",
             line_value=_plan_value),
        Axis("interval", "Billing interval", "line", "native",
             "monthly, quarterly, annual... from the plan or the service period",
             line_value=_interval_value),
        Axis("currency", "Currency", "line", "native", "currency of the line",
             line_value=_currency_value),
        Axis("country", "Country", "customer", "native",
             "ISO 3166 alpha-2 code of the customer's country",
             customer_value=_country_value),
        Axis("region", "Region", "customer", "native", "UN M49 region of the country",
             customer_value=_region_value(0)),
        Axis("subregion", "Subregion", "customer", "native",
             "UN M49 subregion of the country", customer_value=_region_value(1)),
        Axis("cohort_month", "Acquisition month", "customer", "native",
             "month of the customer's first new movement",
             customer_value=_cohort_value("month")),
        Axis("cohort_quarter", "Acquisition quarter", "customer", "native",
             "quarter of the customer's first new movement",
             customer_value=_cohort_value("quarter")),
        Axis("cohort_year", "Acquisition year", "customer", "native",
             "year of the customer's first new movement",
             customer_value=_cohort_value("year")),
    ]
}


def column_name(key: str) -> str:
    """Name of the engine column that holds the value of axis `key`."""
    return f"ax_{key}"


def resolve(keys: Sequence[str], registry: dict[str, Axis]) -> list[Axis]:
    out = []
    for key in keys:
        if key not in registry:
            known = ", ".join(sorted(registry))
            raise UnknownAxisError(
                f"Unknown axis {key!r}. Known axes: {known}. List them with "
                "`revaxis axes list`."
            )
        out.append(registry[key])
    if len(set(keys)) != len(keys):
        raise UnknownAxisError(f"Axis given twice in {', '.join(keys)}.")
    return out


def add_line_axes(lines: ir.Table, axes: Sequence[Axis], ctx: AxisContext) -> ir.Table:
    """Add one `ax_<key>` column per line-level axis, "(none)" when a line has no
    value."""
    for axis in axes:
        if axis.line_value is None:
            continue
        lines = axis.line_value(lines, ctx)
        lines = lines.rename({column_name(axis.key): "axis_value"})
        lines = lines.mutate(
            **{column_name(axis.key): lines[column_name(axis.key)].fill_null(NONE_LABEL)}
        )
    return lines


def add_customer_axes(
    table: ir.Table, axes: Sequence[Axis], ctx: AxisContext
) -> ir.Table:
    """Add one `ax_<key>` column per customer-level axis to a table keyed by
    customer_id, "(none)" for customers without a value."""
    for axis in axes:
        if axis.customer_value is None:
            continue
        values = axis.customer_value(ctx)
        name = column_name(axis.key)
        values = values.select(v_customer="customer_id", v_value="axis_value")
        joined = table.left_join(values, table.customer_id == values.v_customer)
        table = joined.mutate(**{name: joined.v_value.fill_null(NONE_LABEL)}).drop(
            "v_customer", "v_value"
        )
    return table
