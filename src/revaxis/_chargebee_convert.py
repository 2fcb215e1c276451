"""Conversion of Chargebee API resources to the canonical tables.

The field mapping, and the reasons behind it, are in docs/connectors.md. Both
product catalogs are read: Product Catalog 1.0 (plans and addons) and 2.0
(items and item prices).

Ids are prefixed with the site name and a colon. Plan-like ids also carry the
resource type, because Chargebee keeps plans, addons and item prices in
separate namespaces: `acme:plan:basic`, `acme:addon:data_usage`,
`acme:item_price:pro-USD-monthly`, and products `acme:item:pro`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from revaxis._errors import InputError
from revaxis._sync_common import (
    add_customer_stubs,
    frame_by_key,
    minor_to_units,
    unix_day,
)

__all__ = ["RESOURCES", "chargebee_objects_to_tables"]

log = logging.getLogger(__name__)

# Chargebee resources that the converter reads, by the key of the dict that
# `chargebee_objects_to_tables` takes, with the name of each resource inside a
# list entry of the API (`{"list": [{"customer": {...}}, ...]}`).
RESOURCES = {
    "customers": "customer",
    "plans": "plan",
    "addons": "addon",
    "items": "item",
    "item_prices": "item_price",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "credit_notes": "credit_note",
}

# Chargebee invoice status -> canonical status. `pending` invoices (not yet
# closed, with charges still being added) are skipped, like Stripe drafts.
INVOICE_STATUSES = {
    "paid": "paid",
    "posted": "open",
    "payment_due": "open",
    "not_paid": "uncollectible",
    "voided": "void",
}

# Line `entity_type` -> plan id prefix, for the lines that belong to a plan.
PLAN_ENTITIES = {
    "plan": "plan",
    "plan_setup": "plan",
    "addon": "addon",
    "plan_item_price": "item_price",
    "addon_item_price": "item_price",
    "charge_item_price": "item_price",
}
# Line entity types that are always recurring. An `addon` line (catalog 1.0) is
# recurring when it covers a period, because a one-off addon has
# date_from == date_to.
RECURRING_ENTITIES = frozenset({"plan", "plan_item_price", "addon_item_price"})


def chargebee_objects_to_tables(
    objects: Mapping[str, list[dict[str, Any]]],
    site: str,
    *,
    known_customers: Iterable[str] = (),
    known_products: Mapping[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Convert Chargebee resources (dicts, as the API returns them) to canonical
    tables.

    `objects` maps the keys of RESOURCES to lists of resources. Every id is
    prefixed with `site` and a colon, so that two sites never share an id. A
    customer that an invoice or a subscription names, and that is neither in
    `objects` nor in `known_customers` (prefixed ids already stored), becomes a
    customer row with no other attribute. `known_products` maps stored plan ids
    to their product ids, for lines whose item price is not in `objects`.
    """
    unknown = set(objects) - set(RESOURCES)
    if unknown:
        raise InputError(
            f"Unknown Chargebee resource list(s) {', '.join(sorted(unknown))}: "
            f"expected {', '.join(RESOURCES)}."
        )
    ids = _Ids(site)
    products = dict(known_products or {})
    item_prices = objects.get("item_prices", [])
    for price in item_prices:
        products[ids("item_price", price["id"])] = ids("item", price.get("item_id"))
    refunded = _credited_amounts(objects.get("credit_notes", []))
    tables = {
        "customers": _customers(objects.get("customers", []), ids),
        "products": _products(objects, ids),
        "plans": _plans(objects, ids),
        "subscriptions": _subscriptions(objects.get("subscriptions", []), ids),
        "invoice_lines": _invoice_lines(
            objects.get("invoices", []), ids, products, refunded
        ),
    }
    return add_customer_stubs(tables, known_customers)


class _Ids:
    """Prefixer of Chargebee ids with the site, and the resource type for plans
    and products."""

    def __init__(self, site: str) -> None:
        self.site = site

    def __call__(self, *parts: object) -> str | None:
        if parts[-1] is None or parts[-1] == "":
            return None
        return ":".join([self.site, *map(str, parts)])


def _custom_fields(resource: dict[str, Any]) -> dict[str, object]:
    """Return the `cf_*` custom fields and the flat `meta_data` values of a
    resource as `metadata.<key>` columns."""
    row: dict[str, object] = {}
    for key, value in (resource.get("meta_data") or {}).items():
        if isinstance(value, str | int | float | bool):
            row[f"metadata.{key}"] = str(value)
    for key, value in resource.items():
        if key.startswith("cf_") and value is not None:
            row[f"metadata.{key}"] = str(value)
    return row


def _customers(customers: list[dict[str, Any]], ids: _Ids) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for customer in customers:
        address = customer.get("billing_address") or {}
        names = [customer.get("first_name"), customer.get("last_name")]
        name = " ".join(part for part in names if part) or None
        row: dict[str, object] = {
            "customer_id": ids(customer["id"]),
            "name": name,
            "email": customer.get("email"),
            "company": customer.get("company") or address.get("company"),
            "country": address.get("country"),
            "state": address.get("state_code") or address.get("state"),
            "city": address.get("city"),
            "created_at": unix_day(customer.get("created_at")),
        }
        row.update(_custom_fields(customer))
        rows.append(row)
    return frame_by_key(rows, "customer_id")


def _products(objects: Mapping[str, list[dict[str, Any]]], ids: _Ids) -> pd.DataFrame:
    """Build the product rows: catalog 1.0 plans and addons (each is its own
    product), and catalog 2.0 items."""
    rows: list[dict[str, object]] = []
    for key, kind in (("plans", "plan"), ("addons", "addon"), ("items", "item")):
        for resource in objects.get(key, []):
            row: dict[str, object] = {
                "product_id": ids(kind, resource["id"]),
                "name": resource.get("name"),
            }
            row.update(_custom_fields(resource))
            rows.append(row)
    return frame_by_key(rows, "product_id")


def _plans(objects: Mapping[str, list[dict[str, Any]]], ids: _Ids) -> pd.DataFrame:
    """Build the plan rows from every resource with a billing period: catalog
    1.0 plans and recurring addons, and catalog 2.0 plan and addon item prices."""
    rows: list[dict[str, object]] = []
    for key, kind in (("plans", "plan"), ("addons", "addon")):
        for resource in objects.get(key, []):
            if resource.get("period_unit") not in ("day", "week", "month", "year"):
                # A one-off addon has no period (`not_applicable` or none).
                continue
            row: dict[str, object] = {
                "plan_id": ids(kind, resource["id"]),
                "product_id": ids(kind, resource["id"]),
                "name": resource.get("name"),
                "interval_unit": resource["period_unit"],
                "interval_count": int(resource.get("period") or 1),
            }
            row.update(_custom_fields(resource))
            rows.append(row)
    for price in objects.get("item_prices", []):
        if not price.get("period_unit"):
            # A charge item price is billed once.
            continue
        row = {
            "plan_id": ids("item_price", price["id"]),
            "product_id": ids("item", price.get("item_id")),
            "name": price.get("name"),
            "interval_unit": price["period_unit"],
            "interval_count": int(price.get("period") or 1),
        }
        row.update(_custom_fields(price))
        rows.append(row)
    return frame_by_key(rows, "plan_id")


def _subscription_plan(sub: dict[str, Any], ids: _Ids) -> str | None:
    if sub.get("plan_id"):
        return ids("plan", sub["plan_id"])
    for item in sub.get("subscription_items") or []:
        if item.get("item_type") == "plan":
            return ids("item_price", item.get("item_price_id"))
    return None


def _ended_at(sub: dict[str, Any]) -> object:
    """Return the timestamp at which a subscription stopped paying, by status.

    `cancelled` stops at `cancelled_at` and `paused` at `pause_date`. A
    `non_renewing` subscription keeps paying until its `current_term_end`,
    which its last invoice line already covers, so it has no end yet (its
    `cancelled_at` is the scheduled end). `active`, `in_trial` and `future`
    have none.
    """
    status = sub.get("status")
    if status == "cancelled":
        return sub.get("cancelled_at") or sub.get("current_term_end")
    if status == "paused":
        return sub.get("pause_date")
    return None


def _subscriptions(subscriptions: list[dict[str, Any]], ids: _Ids) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for sub in subscriptions:
        reason = None
        if sub.get("status") in ("cancelled", "non_renewing"):
            # The site's own reason code, else Chargebee's (`not_paid`...).
            reason = sub.get("cancel_reason_code") or sub.get("cancel_reason")
        row: dict[str, object] = {
            "subscription_id": ids(sub["id"]),
            "customer_id": ids(sub.get("customer_id")),
            "plan_id": _subscription_plan(sub, ids),
            "started_at": unix_day(sub.get("started_at") or sub.get("created_at")),
            "ended_at": unix_day(_ended_at(sub)),
            "cancellation_reason": reason,
        }
        row.update(_custom_fields(sub))
        rows.append(row)
    return frame_by_key(rows, "subscription_id")


def _credited_amounts(
    credit_notes: list[dict[str, Any]],
) -> dict[tuple[str, str, str], int]:
    """Return the credited amount (smallest currency unit) per (invoice id,
    line entity type, line entity id), summed over the credit notes that are not
    voided. Chargebee credit note lines name the invoice only through the note's
    `reference_invoice_id`, so lines are matched by the entity they bill."""
    credited: dict[tuple[str, str, str], int] = {}
    for note in credit_notes:
        invoice_id = note.get("reference_invoice_id")
        if note.get("status") == "voided" or note.get("deleted") or not invoice_id:
            continue
        for item in note.get("line_items") or []:
            key = (invoice_id, str(item.get("entity_type")), str(item.get("entity_id")))
            credited[key] = credited.get(key, 0) + int(item.get("amount") or 0)
    return credited


def _invoice_lines(
    invoices: list[dict[str, Any]],
    ids: _Ids,
    products: Mapping[str, str | None],
    credited: Mapping[tuple[str, str, str], int],
) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for invoice in invoices:
        status = INVOICE_STATUSES.get(invoice.get("status", ""))
        if invoice.get("deleted"):
            # A deleted invoice stops counting: its lines, which an earlier sync
            # may have stored, become void.
            status = "void"
        if status is None:
            continue
        for line in invoice.get("line_items") or []:
            rows.append(_invoice_line(invoice, line, status, ids, products, credited))
    return frame_by_key(rows, ["invoice_id", "line_id"])


def _invoice_line(
    invoice: dict[str, Any],
    line: dict[str, Any],
    status: str,
    ids: _Ids,
    products: Mapping[str, str | None],
    credited: Mapping[tuple[str, str, str], int],
) -> dict[str, object]:
    currency = str(invoice["currency_code"]).upper()
    entity_type = str(line.get("entity_type"))
    entity_id = line.get("entity_id")
    start, end = line.get("date_from"), line.get("date_to")
    has_period = start is not None and end is not None and end > start
    recurring = entity_type in RECURRING_ENTITIES or (
        entity_type == "addon" and has_period
    )

    plan_kind = PLAN_ENTITIES.get(entity_type)
    plan_id = ids(plan_kind, entity_id) if plan_kind and entity_id else None
    product_id = None
    if plan_kind in ("plan", "addon"):
        product_id = plan_id
    elif plan_id is not None:
        product_id = products.get(plan_id)

    tax = int(line.get("tax_amount") or 0)
    amount = int(line.get("amount") or 0)
    if invoice.get("price_type") == "tax_inclusive":
        amount -= tax
    discount = int(line.get("discount_amount") or 0)

    credit = credited.get((invoice["id"], entity_type, str(entity_id)))
    if credit is not None and status != "void" and credit >= amount - discount:
        status = "refunded"
    return {
        "invoice_id": ids(invoice["id"]),
        "line_id": line["id"],
        "customer_id": ids(line.get("customer_id") or invoice.get("customer_id")),
        "invoice_date": unix_day(invoice.get("date")),
        "currency": currency,
        "kind": "subscription" if recurring else "one_time",
        "subscription_id": ids(
            line.get("subscription_id") or invoice.get("subscription_id")
        ),
        "plan_id": plan_id if recurring else None,
        "product_id": product_id,
        "service_period_start": unix_day(start) if has_period else None,
        "service_period_end": unix_day(end) if has_period else None,
        "quantity": float(line.get("quantity") or 1),
        "amount": minor_to_units(amount, currency),
        "discount": minor_to_units(discount, currency),
        "tax": minor_to_units(tax, currency),
        "status": status,
    }
