"""Conversion of Stripe API objects to the canonical tables.

The field mapping, and the reasons behind it, are in docs/connectors.md. Both
the `stripe-json` import format and `revaxis sync stripe` go through
`stripe_objects_to_tables`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from revaxis._errors import InputError
from revaxis._sync_common import (
    add_customer_stubs,
    frame_by_key,
    minor_to_units,
    unix_day,
)

if TYPE_CHECKING:
    from revaxis.workspace import ImportReport, Workspace

__all__ = [
    "DEFAULT_SOURCE_ID",
    "OBJECT_TYPES",
    "import_stripe_json",
    "read_stripe_json",
    "stripe_objects_to_tables",
]

log = logging.getLogger(__name__)

# Id prefix of the objects of a stripe-json import, and the default account
# name of `revaxis sync stripe`.
DEFAULT_SOURCE_ID = "stripe"

# Stripe `object` values that the converter reads, by the key of the dict that
# `stripe_objects_to_tables` takes. Legacy `plan` objects go with prices.
OBJECT_TYPES = {
    "customer": "customers",
    "product": "products",
    "price": "prices",
    "plan": "prices",
    "subscription": "subscriptions",
    "invoice": "invoices",
    "credit_note": "credit_notes",
}

# Invoice statuses that give invoice lines. Stripe's `draft` invoices can still
# change and are skipped; `deleted` drafts have no status.
INVOICE_STATUSES = ("paid", "open", "void", "uncollectible")


def stripe_objects_to_tables(
    objects: dict[str, list[dict[str, Any]]],
    source_id: str,
    *,
    known_customers: Iterable[str] = (),
    recurring_prices: Iterable[str] = (),
) -> dict[str, pd.DataFrame]:
    """Convert Stripe API objects to canonical tables.

    `objects` maps customers, products, prices, subscriptions, invoices and
    credit_notes to lists of Stripe objects as the API returns them (dicts).
    Every id is prefixed with `source_id` and a colon, so that two Stripe
    accounts never share an id. A customer that an invoice or a subscription
    names, and that is neither in `objects` nor in `known_customers` (prefixed
    ids already stored), becomes a customer row with no other attribute.
    `recurring_prices` lists stored plan ids (prefixed), which makes a line of
    such a price a subscription line when its price is not in `objects`.
    """
    unknown = set(objects) - set(OBJECT_TYPES.values())
    if unknown:
        raise InputError(
            f"Unknown Stripe object list(s) {', '.join(sorted(unknown))}: expected "
            f"{', '.join(sorted(set(OBJECT_TYPES.values())))}."
        )
    ids = _Ids(source_id)
    prices = objects.get("prices", [])
    recurring = set(recurring_prices)
    for price in prices:
        if _price_interval(price) is not None:
            recurring.add(ids(price["id"]))
        else:
            recurring.discard(ids(price["id"]))
    refunded = _refunded_lines(objects.get("credit_notes", []))
    lines = _invoice_lines(objects.get("invoices", []), ids, recurring, refunded)
    tables = {
        "customers": _customers(objects.get("customers", []), ids),
        "products": _products(objects.get("products", []), ids),
        "plans": _plans(prices, ids),
        "subscriptions": _subscriptions(objects.get("subscriptions", []), ids),
        "invoice_lines": lines,
    }
    return add_customer_stubs(tables, known_customers)


def read_stripe_json(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read a JSON file of Stripe objects into the lists that
    `stripe_objects_to_tables` takes.

    The file contains a list of objects, a dict of such lists, or Stripe list
    responses (`{"object": "list", "data": [...]}`) at any depth, as the
    Stripe CLI prints them. Objects of other types (charges, events...) are
    skipped and counted in the log.
    """
    try:
        with path.open(encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise InputError(f"Cannot read {str(path)!r}: {exc}.") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path.name}:{exc.lineno}: invalid JSON ({exc.msg}); a stripe-json "
            "file holds Stripe objects as the API or the Stripe CLI returns them."
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path.name}: invalid JSON, byte {exc.start} is not UTF-8 text "
            f"({exc.reason}). Upload the JSON file that the Stripe API or the "
            "Stripe CLI wrote, saved as UTF-8."
        ) from None
    except RecursionError:
        # Python's json module recurses once per nested array or object.
        raise InputError(
            f"{path.name}: invalid JSON, its arrays or objects are nested more "
            f"than about {sys.getrecursionlimit()} levels deep. Stripe objects "
            "nest a few levels only: upload the file that the Stripe API or the "
            "Stripe CLI wrote."
        ) from None
    objects: dict[str, list[dict[str, Any]]] = {}
    skipped: dict[str, int] = {}
    for item in _walk(document):
        kind = item.get("object")
        if kind in OBJECT_TYPES:
            objects.setdefault(OBJECT_TYPES[kind], []).append(item)
        else:
            skipped[str(kind)] = skipped.get(str(kind), 0) + 1
    if skipped:
        log.warning("%s: skipped Stripe objects by type: %s", path.name, skipped)
    if not objects:
        raise InputError(
            f"{path.name} contains no Stripe customer, product, price, plan, "
            "subscription, invoice or credit_note object (an object with an 'id' "
            "and an 'object' field)."
        )
    return objects


def _walk(node: object) -> Iterator[dict[str, Any]]:
    """Yield the Stripe objects inside lists, list responses and dicts of lists."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(item)
    elif isinstance(node, dict):
        if node.get("object") == "list":
            yield from _walk(node.get("data", []))
        elif "object" in node and "id" in node:
            yield node
        else:
            for value in node.values():
                if isinstance(value, list | dict):
                    yield from _walk(value)


class _Ids:
    """Prefixer of Stripe ids with the source id."""

    def __init__(self, source_id: str) -> None:
        self.prefix = f"{source_id}:" if source_id else ""

    def __call__(self, value: object) -> str | None:
        if isinstance(value, dict):
            value = value.get("id")
        if value is None or value == "":
            return None
        return f"{self.prefix}{value}"


def _metadata(obj: dict[str, Any]) -> dict[str, object]:
    return {
        f"metadata.{key}": value for key, value in (obj.get("metadata") or {}).items()
    }


def _customers(customers: list[dict[str, Any]], ids: _Ids) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for customer in customers:
        row: dict[str, object] = {"customer_id": ids(customer["id"])}
        if customer.get("deleted"):
            # A deleted customer keeps only its id in Stripe.
            rows.append(row)
            continue
        address = customer.get("address") or {}
        if not address.get("country"):
            address = (customer.get("shipping") or {}).get("address") or address
        row.update(
            name=customer.get("name"),
            email=customer.get("email"),
            country=address.get("country"),
            state=address.get("state"),
            city=address.get("city"),
            created_at=unix_day(customer.get("created")),
        )
        row.update(_metadata(customer))
        rows.append(row)
    return frame_by_key(rows, "customer_id")


def _products(products: list[dict[str, Any]], ids: _Ids) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for product in products:
        row: dict[str, object] = {"product_id": ids(product["id"])}
        if not product.get("deleted"):
            row["name"] = product.get("name")
            row.update(_metadata(product))
        rows.append(row)
    return frame_by_key(rows, "product_id")


def _price_interval(price: dict[str, Any]) -> tuple[str, int] | None:
    """The (unit, count) billing interval of a recurring price or legacy plan,
    else None for a one-time price."""
    if price.get("object") == "plan":
        if not price.get("interval"):
            return None
        return price["interval"], int(price.get("interval_count") or 1)
    recurring = price.get("recurring")
    if not recurring:
        return None
    return recurring["interval"], int(recurring.get("interval_count") or 1)


def _plans(prices: list[dict[str, Any]], ids: _Ids) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for price in prices:
        interval = _price_interval(price)
        if interval is None:
            # A one-time price is no plan: its lines are one_time lines.
            continue
        row: dict[str, object] = {
            "plan_id": ids(price["id"]),
            "product_id": ids(price.get("product")),
            "name": price.get("nickname") or price.get("lookup_key"),
            "interval_unit": interval[0],
            "interval_count": interval[1],
        }
        row.update(_metadata(price))
        rows.append(row)
    return frame_by_key(rows, "plan_id")


def _subscriptions(subscriptions: list[dict[str, Any]], ids: _Ids) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for sub in subscriptions:
        items = (sub.get("items") or {}).get("data") or []
        # NOTE: a subscription with several items gets the price of its first
        # item as plan; the invoice lines carry each item's own price.
        first = items[0] if items else {}
        price = first.get("price") or first.get("plan")
        ended = sub.get("ended_at")
        if ended is None and sub.get("status") == "canceled":
            ended = sub.get("canceled_at")
        details = sub.get("cancellation_details") or {}
        reason = None
        if ended is not None or sub.get("canceled_at") is not None:
            reason = details.get("feedback") or details.get("reason")
        row: dict[str, object] = {
            "subscription_id": ids(sub["id"]),
            "customer_id": ids(sub.get("customer")),
            "plan_id": ids(price),
            "started_at": unix_day(sub.get("start_date") or sub.get("created")),
            "ended_at": unix_day(ended),
            "cancellation_reason": reason,
        }
        row.update(_metadata(sub))
        rows.append(row)
    return frame_by_key(rows, "subscription_id")


def _refunded_lines(credit_notes: list[dict[str, Any]]) -> dict[str, int]:
    """Credited amount (smallest currency unit) per invoice line id, summed over
    the credit notes that are not void."""
    credited: dict[str, int] = {}
    for note in credit_notes:
        if note.get("status") == "void":
            continue
        for item in (note.get("lines") or {}).get("data") or []:
            line_id = item.get("invoice_line_item")
            if item.get("type") == "invoice_line_item" and line_id:
                credited[line_id] = credited.get(line_id, 0) + int(item["amount"])
    return credited


def _line_price(line: dict[str, Any]) -> tuple[object, object]:
    """The price (an id or an embedded price object) and the product id of an
    invoice line, in the current API shape (`pricing`) or the older one
    (`price`, `plan`)."""
    price = line.get("price") or line.get("plan")
    if price is not None:
        product = price.get("product") if isinstance(price, dict) else None
        return price, product
    details = (line.get("pricing") or {}).get("price_details") or {}
    return details.get("price"), details.get("product")


def _line_subscription(line: dict[str, Any]) -> object:
    if line.get("subscription"):
        return line["subscription"]
    parent = line.get("parent") or {}
    for key in ("subscription_item_details", "invoice_item_details"):
        details = parent.get(key) or {}
        if details.get("subscription"):
            return details["subscription"]
    return None


def _line_taxes(line: dict[str, Any]) -> tuple[int, int]:
    """(total tax, tax included in the amount) of an invoice line, in the
    smallest currency unit, from `tax_amounts` or the newer `taxes`."""
    total = inclusive = 0
    for tax in line.get("tax_amounts") or []:
        total += int(tax["amount"])
        if tax.get("inclusive"):
            inclusive += int(tax["amount"])
    for tax in line.get("taxes") or []:
        total += int(tax["amount"])
        if tax.get("tax_behavior") == "inclusive":
            inclusive += int(tax["amount"])
    return total, inclusive


def _line_kind(
    line: dict[str, Any], price: object, plan_id: str | None, recurring: set[str]
) -> str:
    if isinstance(price, dict):
        recurring_info = price.get("recurring") or {}
        if recurring_info.get("usage_type") == "metered":
            return "usage"
        if price.get("type") == "recurring" or price.get("object") == "plan":
            return "subscription"
        if price.get("type") == "one_time":
            return "one_time"
    if plan_id in recurring or _line_subscription(line):
        return "subscription"
    return "one_time"


def _invoice_lines(
    invoices: list[dict[str, Any]],
    ids: _Ids,
    recurring: set[str],
    refunded: dict[str, int],
) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for invoice in invoices:
        status = invoice.get("status")
        if invoice.get("deleted") or status not in INVOICE_STATUSES:
            continue
        lines = invoice.get("lines") or {}
        if lines.get("has_more"):
            log.warning(
                "invoice %s lists only %d of its lines; the others are left out "
                "(sync reads them all)",
                invoice["id"],
                len(lines.get("data") or []),
            )
        invoice_day = unix_day(invoice.get("effective_at") or invoice.get("created"))
        for line in lines.get("data") or []:
            rows.append(
                _invoice_line(invoice, line, invoice_day, ids, recurring, refunded)
            )
    return frame_by_key(rows, ["invoice_id", "line_id"])


def _invoice_line(
    invoice: dict[str, Any],
    line: dict[str, Any],
    invoice_day: dt.date | None,
    ids: _Ids,
    recurring: set[str],
    refunded: dict[str, int],
) -> dict[str, object]:
    currency = str(line.get("currency") or invoice["currency"]).upper()
    price, product = _line_price(line)
    price_id = ids(price)
    kind = _line_kind(line, price, price_id, recurring)
    tax, inclusive_tax = _line_taxes(line)
    amount = int(line["amount"]) - inclusive_tax
    discount = sum(int(d["amount"]) for d in line.get("discount_amounts") or [])
    status = invoice["status"]
    credited = refunded.get(line["id"])
    if credited is not None and status != "void" and credited >= amount - discount:
        status = "refunded"
    period = line.get("period") or {}
    start, end = unix_day(period.get("start")), unix_day(period.get("end"))
    if start is not None and start == end:
        # Stripe gives a one-off item a period of one instant: no service period.
        start = end = None
    return {
        "invoice_id": ids(invoice["id"]),
        "line_id": line["id"],
        "customer_id": ids(invoice.get("customer")),
        "invoice_date": invoice_day,
        "currency": currency,
        "kind": kind,
        "subscription_id": ids(_line_subscription(line)),
        "plan_id": price_id if kind != "one_time" else None,
        "product_id": ids(product),
        "service_period_start": start,
        "service_period_end": end,
        "quantity": float(line.get("quantity") or 1),
        "amount": minor_to_units(amount, currency),
        "discount": minor_to_units(discount, currency),
        "tax": minor_to_units(tax, currency),
        "status": status,
    }


def import_stripe_json(
    ws: Workspace, path: Path, source_name: str | None = None
) -> ImportReport:
    """Import a JSON file of Stripe objects (format `stripe-json`) in one
    transaction, with the ids prefixed by the default account name `stripe`,
    as `revaxis sync stripe` writes them."""
    objects = read_stripe_json(path)
    log.info(
        "%s: Stripe objects read: %s",
        path.name,
        {name: len(items) for name, items in objects.items()},
    )
    tables = stripe_objects_to_tables(
        objects,
        DEFAULT_SOURCE_ID,
        known_customers=_stored_customers(ws),
    )
    return ws.load(
        tables,
        source=source_name or str(path),
        format="stripe-json",
        files={name: path.name for name in tables},
    )


def _stored_customers(ws: Workspace) -> set[str]:
    """Prefixed ids of stored customers, so that a file without its customers
    does not overwrite them with rows that hold only an id."""
    prefix = f"{DEFAULT_SOURCE_ID}:"
    customers = ws.table("customers")
    stored = customers.filter(customers.customer_id.startswith(prefix))
    return set(stored.customer_id.execute())
