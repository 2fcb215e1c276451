"""Custom axes: definitions stored in the workspace, and the values they read from
billing metadata, from values set by hand (with `valid_from` history), or from
another axis they group."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import ibis
import ibis.expr.types as ir
import pandas as pd

from revaxis import _computed_axes
from revaxis._axes import (
    NATIVE_AXES,
    SENTINEL_END,
    SENTINEL_START,
    Axis,
    AxisContext,
    HistoryValue,
    LineValue,
    Rule,
    _product_id,
    bucket_labels,
)
from revaxis._errors import InputError

LEVELS = ("customer", "subscription", "product", "plan")
VALUE_TYPES = ("category", "number", "date")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class AxisSpec:
    """A stored custom axis definition."""

    key: str
    label: str
    level: str
    value_type: str
    source: str
    parent: str | None = None
    buckets: tuple[float, ...] = ()


def _history(key: str, level: str, base: ir.Table | None) -> HistoryValue:
    """Values in force per entity: manual values of `key` (dated or for all time)
    over the `base` values (entity_id, value) that billing data gives for all
    time; a manual value for all time replaces the base value."""

    def history(ctx: AxisContext) -> ir.Table:
        av = ctx.axis_values
        # Key columns are NOT NULL in storage; cast so unions see one type.
        manual = av.filter(av.axis_key == key).select(
            entity_id=av.entity_id.cast("string"),
            valid_from=av.valid_from.cast("date"),
            value=av.value.cast("string"),
        )
        rows = manual
        if base is not None:
            undated = manual.filter(manual.valid_from == SENTINEL_START)
            kept = base.anti_join(undated, base.entity_id == undated.entity_id)
            rows = manual.union(
                kept.select(
                    entity_id=kept.entity_id.cast("string"),
                    valid_from=ibis.literal(SENTINEL_START, "date"),
                    value=kept.value.cast("string"),
                )
            )
        # Before an entity's first dated value it has none.
        first = rows.group_by("entity_id").aggregate(first_from=rows.valid_from.min())
        lead_in = first.filter(first.first_from > SENTINEL_START).select(
            "entity_id",
            valid_from=ibis.literal(SENTINEL_START, "date"),
            value=ibis.null("string"),
        )
        rows = rows.union(lead_in)
        following = ibis.window(group_by="entity_id", order_by="valid_from")
        return rows.select(
            "entity_id",
            "valid_from",
            valid_to=rows.valid_from.lead().over(following).fill_null(SENTINEL_END),
            axis_value=rows.value,
        )

    return history


def _metadata_base(ctx_metadata: ir.Table, level: str, meta_key: str) -> ir.Table:
    md = ctx_metadata
    rows = md.filter((md.entity == level) & (md.key == meta_key))
    return rows.select(entity_id=rows.entity_id, value=rows.value)


def _entity_value(key: str, level: str, meta_key: str | None) -> LineValue:
    """Value of a product- or plan-level axis: manual values over metadata, joined
    to the line's product or plan."""

    def value(lines: ir.Table, ctx: AxisContext) -> ir.Table:
        av = ctx.axis_values
        manual = av.filter(av.axis_key == key).select(
            e_id=av.entity_id, e_manual=av.value
        )
        if level == "product":
            lines = _product_id(lines, ctx)
            entity = lines.product_key
        else:
            entity = lines.plan_id
        joined = lines.left_join(manual, entity == manual.e_id).drop("e_id")
        result = joined.e_manual
        if meta_key is not None:
            meta = _metadata_base(ctx.metadata, level, meta_key).rename(
                m_id="entity_id", m_value="value"
            )
            joined = joined.left_join(
                meta, joined[entity.get_name()] == meta.m_id
            ).drop("m_id")
            result = joined.e_manual.fill_null(joined.m_value)
        out = joined.mutate(axis_value=result)
        drop = [c for c in ("e_manual", "m_value", "product_key") if c in out.columns]
        return out.drop(*drop)

    return value


def build_axis(spec: AxisSpec, metadata: ir.Table) -> Axis:
    """Turn a stored definition into an Axis the engine can apply."""
    description = spec.source
    meta_key = (
        spec.source.removeprefix("metadata.")
        if spec.source.startswith("metadata.")
        else None
    )
    common = {
        "key": spec.key,
        "label": spec.label,
        "level": spec.level,
        "source": spec.source,
        "description": description,
        "value_type": spec.value_type,
        "buckets": spec.buckets,
        "value_order": bucket_labels(spec.buckets),
    }
    if spec.parent is not None:
        return Axis(**common, parent=spec.parent)  # type: ignore[arg-type]
    if spec.source.startswith("computed."):
        # The numbers are band edges or lifecycle thresholds, used by the
        # history itself rather than as buckets over a value. MRR bands are
        # still listed from the lowest edge up.
        kind = spec.source.removeprefix("computed.")
        order = bucket_labels(spec.buckets) if kind == "mrr_band" else ()
        return Axis(  # type: ignore[arg-type]
            **{**common, "buckets": (), "value_order": order},
            history=_computed_axes.computed_history(kind, spec.buckets),
            entity_column="customer_id",
        )
    if spec.level in ("product", "plan"):
        return Axis(  # type: ignore[arg-type]
            **common, line_value=_entity_value(spec.key, spec.level, meta_key)
        )
    base = (
        _metadata_base(metadata, spec.level, meta_key) if meta_key is not None else None
    )
    return Axis(  # type: ignore[arg-type]
        **common,
        history=_history(spec.key, spec.level, base),
        entity_column=f"{spec.level}_id",
    )


def churn_reason_axis(subscriptions: ir.Table) -> Axis:
    """Native axis of subscription cancellation reasons; manual values override."""
    base = subscriptions.filter(subscriptions.cancellation_reason.notnull()).select(
        entity_id=subscriptions.subscription_id, value=subscriptions.cancellation_reason
    )
    return Axis(
        "churn_reason",
        "Churn reason",
        "subscription",
        "native",
        "cancellation reason of the line's subscription",
        history=_history("churn_reason", "subscription", base),
        entity_column="subscription_id",
    )


def with_rules(axis: Axis, rules: list[Rule]) -> Axis:
    return replace(axis, rules=tuple(rules))


def check_spec(spec: AxisSpec, existing: dict[str, Axis]) -> None:
    """Raise InputError when a new axis definition is invalid."""
    if not KEY_PATTERN.match(spec.key):
        raise InputError(
            f"Invalid axis key {spec.key!r}: use lower-case letters, digits and "
            "underscores, starting with a letter (at most 40 characters)."
        )
    if spec.key in existing:
        raise InputError(
            f"Axis {spec.key!r} already exists; delete it first or choose another key."
        )
    if spec.parent is None and spec.level not in LEVELS:
        raise InputError(
            f"Invalid level {spec.level!r}: use one of {', '.join(LEVELS)}."
        )
    if spec.value_type not in VALUE_TYPES:
        raise InputError(
            f"Invalid type {spec.value_type!r}: use one of {', '.join(VALUE_TYPES)}."
        )
    if spec.parent is not None:
        if spec.parent not in existing:
            raise InputError(
                f"Unknown axis {spec.parent!r} in --from: list axes with "
                "`revaxis axes list`."
            )
        if spec.buckets and existing[spec.parent].value_type != "number":
            raise InputError(
                f"--buckets needs a number axis, and {spec.parent!r} is "
                f"{existing[spec.parent].value_type}; create it with --type number."
            )
    elif spec.source.startswith("computed."):
        _check_computed(spec)
        return
    elif not (spec.source == "manual" or spec.source.startswith("metadata.")):
        raise InputError(
            f"Invalid source {spec.source!r}: use metadata.<key>, manual, "
            "computed.mrr_band or computed.lifecycle."
        )
    elif spec.source.startswith("metadata.") and len(spec.source) <= len("metadata."):
        raise InputError(
            "Invalid source 'metadata.': name the key, e.g. metadata.channel."
        )
    if list(spec.buckets) != sorted(set(spec.buckets)):
        raise InputError(
            f"Invalid buckets {', '.join(f'{b:g}' for b in spec.buckets)}: give "
            "increasing edges such as 0,10,50,250."
        )


def _check_computed(spec: AxisSpec) -> None:
    kind = spec.source.removeprefix("computed.")
    if kind not in _computed_axes.KINDS:
        raise InputError(
            f"Invalid source {spec.source!r}: computed axes are computed.mrr_band "
            "and computed.lifecycle."
        )
    if spec.level != "customer":
        raise InputError(f"A {spec.source} axis is a customer axis; drop --level.")
    if kind == "mrr_band" and (
        not spec.buckets or list(spec.buckets) != sorted(set(spec.buckets))
    ):
        raise InputError(
            "A computed.mrr_band axis needs --buckets with increasing MRR edges in "
            "the reporting currency, e.g. 0,100,500,1000."
        )
    if kind == "lifecycle" and spec.buckets and len(spec.buckets) != 3:
        raise InputError(
            "A computed.lifecycle axis takes three numbers in --buckets: days as "
            "new, days until established, days before a renewal (default 30,90,60)."
        )
    if kind == "lifecycle" and spec.buckets and spec.buckets[0] >= spec.buckets[1]:
        raise InputError(
            "The lifecycle thresholds must have the days as new below the days "
            "until established, e.g. 30,90,60."
        )


def specs_from_frame(frame: pd.DataFrame) -> list[AxisSpec]:
    out = []
    for row in frame.itertuples(index=False):
        buckets = tuple(float(b) for b in row.buckets.split(",")) if row.buckets else ()
        out.append(
            AxisSpec(
                key=row.key,
                label=row.label,
                level=row.level,
                value_type=row.value_type,
                source=row.source,
                parent=row.parent if isinstance(row.parent, str) else None,
                buckets=buckets,
            )
        )
    return out


def derived_levels(specs: list[AxisSpec], registry: dict[str, Axis]) -> dict[str, str]:
    """Return the level of each derived axis in `specs`: the level of the root
    of its chain of parents, a native axis or a custom axis with a source."""
    by_key = {spec.key: spec for spec in specs}
    levels: dict[str, str] = {}
    for spec in specs:
        current = spec
        seen = {spec.key}
        while current.parent in by_key and current.parent not in seen:
            seen.add(current.parent)
            current = by_key[current.parent]
        if current.parent is None:
            level = current.level
        elif current.parent in registry:
            level = registry[current.parent].level
        else:
            continue
        if spec.parent is not None:
            levels[spec.key] = level
    return levels


def native_level(key: str) -> str:
    return NATIVE_AXES[key].level
