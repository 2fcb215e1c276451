"""Canonical tables of a workspace: columns, types, keys and import defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its typed columns, the key that identifies a row, and
    which columns an import must provide."""

    name: str
    columns: dict[str, str]
    key: tuple[str, ...]
    required: tuple[str, ...]
    metadata_entity: str | None = None
    # Required columns whose value may be empty in some rows (the table's rules
    # say when).
    may_be_empty: tuple[str, ...] = ()
    defaults: dict[str, object] = field(default_factory=dict)


# Column types are DuckDB SQL types; "DATE" columns hold days, amounts are DOUBLE
# in the currency of the row.
TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            "customers",
            {
                "customer_id": "VARCHAR",
                "name": "VARCHAR",
                "email": "VARCHAR",
                "company": "VARCHAR",
                "country": "VARCHAR",
                "state": "VARCHAR",
                "city": "VARCHAR",
                "created_at": "DATE",
            },
            key=("customer_id",),
            required=("customer_id",),
            metadata_entity="customer",
        ),
        TableSpec(
            "products",
            {"product_id": "VARCHAR", "name": "VARCHAR"},
            key=("product_id",),
            required=("product_id",),
            metadata_entity="product",
        ),
        TableSpec(
            "plans",
            {
                "plan_id": "VARCHAR",
                "product_id": "VARCHAR",
                "name": "VARCHAR",
                "interval_unit": "VARCHAR",
                "interval_count": "BIGINT",
            },
            key=("plan_id",),
            required=("plan_id", "interval_unit"),
            metadata_entity="plan",
            defaults={"interval_count": 1},
        ),
        TableSpec(
            "subscriptions",
            {
                "subscription_id": "VARCHAR",
                "customer_id": "VARCHAR",
                "plan_id": "VARCHAR",
                "started_at": "DATE",
                "ended_at": "DATE",
                "cancellation_reason": "VARCHAR",
            },
            key=("subscription_id",),
            required=("subscription_id", "customer_id"),
            metadata_entity="subscription",
        ),
        TableSpec(
            "invoice_lines",
            {
                "invoice_id": "VARCHAR",
                "line_id": "VARCHAR",
                "customer_id": "VARCHAR",
                "invoice_date": "DATE",
                "currency": "VARCHAR",
                "kind": "VARCHAR",
                "subscription_id": "VARCHAR",
                "plan_id": "VARCHAR",
                "product_id": "VARCHAR",
                "service_period_start": "DATE",
                "service_period_end": "DATE",
                "quantity": "DOUBLE",
                "amount": "DOUBLE",
                "discount": "DOUBLE",
                "tax": "DOUBLE",
                "status": "VARCHAR",
            },
            key=("invoice_id", "line_id"),
            required=(
                "invoice_id",
                "line_id",
                "customer_id",
                "currency",
                "amount",
                "service_period_start",
                "service_period_end",
            ),
            may_be_empty=("service_period_start", "service_period_end"),
            defaults={
                "kind": "subscription",
                "status": "paid",
                "quantity": 1.0,
                "discount": 0.0,
                "tax": 0.0,
            },
        ),
        TableSpec(
            "fx_rates",
            {
                "date": "DATE",
                "currency": "VARCHAR",
                "rate": "DOUBLE",
                "base": "VARCHAR",
            },
            key=("date", "currency", "base"),
            required=("date", "currency", "rate"),
        ),
        TableSpec(
            "marketing_spend",
            {
                "month": "DATE",
                "channel": "VARCHAR",
                "currency": "VARCHAR",
                "amount": "DOUBLE",
            },
            key=("month", "channel", "currency"),
            required=("month", "channel", "currency", "amount"),
        ),
        TableSpec(
            "metadata",
            {
                "entity": "VARCHAR",
                "entity_id": "VARCHAR",
                "key": "VARCHAR",
                "value": "VARCHAR",
            },
            key=("entity", "entity_id", "key"),
            required=("entity", "entity_id", "key"),
        ),
    ]
}

# Tables a user imports, in the order an import writes them.
IMPORT_ORDER = (
    "products",
    "plans",
    "customers",
    "subscriptions",
    "invoice_lines",
    "fx_rates",
    "marketing_spend",
)

KINDS = ("subscription", "one_time", "usage")
STATUSES = ("paid", "open", "void", "uncollectible", "refunded")
INTERVAL_UNITS = ("day", "week", "month", "year")
