"""A fake Stripe API on 127.0.0.1 for the sync tests, and factories of Stripe
objects.

The objects have the shape of the stripe-mock fixtures of Stripe's OpenAPI
repository (github.com/stripe/openapi, fixtures3.json, MIT licence), cut down
to the fields that revaxis reads, with realistic values in their place.

The server serves GET list requests of customers, products, prices,
subscriptions, invoices, invoice lines, credit notes and events as the Stripe
API does: newest first, `limit`, `starting_after`, `created[gte]`, and
`status=all` for subscriptions. Deleted customers are never listed.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

GOOD_KEY = "sk_test_revaxis_fake_0123456789"

RESOURCES = (
    "customers",
    "products",
    "prices",
    "subscriptions",
    "invoices",
    "credit_notes",
    "events",
)


def ts(day: str) -> int:
    """Unix seconds of a day (YYYY-MM-DD) or an instant (YYYY-MM-DDTHH:MM), UTC."""
    moment = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    return calendar.timegm(moment.timetuple())


@dataclass
class Failure:
    """A response that replaces the next response to a request of `path`."""

    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeStripe:
    """State of the fake API: its objects, the failures to inject and the log of
    requests (path and query)."""

    objects: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in RESOURCES}
    )
    failures: list[Failure] = field(default_factory=list)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    # Max objects per page, whatever the `limit` of the request, to force
    # pagination.
    max_page: int = 100
    base_url: str = ""

    def add(self, resource: str, *items: dict[str, Any]) -> None:
        self.objects[resource].extend(items)

    def listed(self, path: str) -> list[tuple[str, dict[str, list[str]]]]:
        return [request for request in self.requests if request[0] == path]


def _error_body(status: int) -> dict[str, Any]:
    kinds = {
        401: ("invalid_request_error", "Invalid API Key provided: sk_test_***"),
        429: ("invalid_request_error", "Too many requests hit the API too quickly."),
    }
    kind, message = kinds.get(status, ("api_error", "Something went wrong."))
    return {"error": {"type": kind, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    state: FakeStripe

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean: the requests are in `state.requests`."""

    def _send(
        self, status: int, body: object, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_fake{len(self.state.requests)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.state.requests.append((url.path, query))
        if self.headers.get("Authorization") != f"Bearer {GOOD_KEY}":
            self._send(401, _error_body(401))
            return
        for failure in self.state.failures:
            if url.path == failure.path:
                self.state.failures.remove(failure)
                self._send(failure.status, _error_body(failure.status), failure.headers)
                return
        parts = url.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "v1" and parts[1] in RESOURCES:
            items = self._filtered(parts[1], query)
            self._send(200, self._page(items, query, url.path))
        elif len(parts) == 4 and parts[1] == "invoices" and parts[3] == "lines":
            invoice = next(
                (i for i in self.state.objects["invoices"] if i["id"] == parts[2]),
                None,
            )
            if invoice is None:
                self._send(404, _error_body(404))
                return
            lines = invoice["lines"]["all"]
            self._send(200, self._page(lines, query, url.path, newest_first=False))
        else:
            self._send(404, _error_body(404))

    def _filtered(
        self, resource: str, query: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        items = [public(item) for item in self.state.objects[resource]]
        if resource == "customers":
            items = [item for item in items if not item.get("deleted")]
        if resource == "subscriptions" and query.get("status") != ["all"]:
            items = [item for item in items if item["status"] != "canceled"]
        if "created[gte]" in query:
            gte = int(query["created[gte]"][0])
            items = [item for item in items if item["created"] >= gte]
        items.sort(key=lambda item: item["created"], reverse=True)
        return items

    def _page(
        self,
        items: list[dict[str, Any]],
        query: dict[str, list[str]],
        path: str,
        *,
        newest_first: bool = True,
    ) -> dict[str, Any]:
        limit = min(int(query.get("limit", ["10"])[0]), self.state.max_page)
        start = 0
        if "starting_after" in query:
            ids = [item["id"] for item in items]
            start = ids.index(query["starting_after"][0]) + 1
        page = items[start : start + limit]
        return {
            "object": "list",
            "url": path,
            "has_more": start + limit < len(items),
            "data": page,
        }


def public(item: dict[str, Any]) -> dict[str, Any]:
    """An invoice as the API lists it: its first 10 lines, and `has_more`."""
    if item.get("object") != "invoice":
        return item
    lines = item["lines"]["all"]
    listed = dict(item)
    listed["lines"] = {
        "object": "list",
        "data": lines[:10],
        "has_more": len(lines) > 10,
        "url": f"/v1/invoices/{item['id']}/lines",
    }
    return listed


@contextlib.contextmanager
def serve(state: FakeStripe) -> Iterator[FakeStripe]:
    """Run the fake API on a free port of 127.0.0.1 in a thread; set
    `state.base_url` while it runs."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# Object factories ------------------------------------------------------------


def customer(
    cid: str,
    name: str,
    created: str,
    *,
    country: str | None = None,
    shipping_country: str | None = None,
    channel: str | None = None,
    deleted: bool = False,
) -> dict[str, Any]:
    if deleted:
        return {
            "id": cid,
            "object": "customer",
            "deleted": True,
            "created": ts(created),
        }
    email = name.split()[0].lower() + "@example.com"
    return {
        "id": cid,
        "object": "customer",
        "address": {
            "city": None,
            "country": country,
            "line1": None,
            "line2": None,
            "postal_code": None,
            "state": None,
        },
        "shipping": (
            {"name": name, "address": {"country": shipping_country, "city": "Austin"}}
            if shipping_country
            else None
        ),
        "created": ts(created),
        "currency": "usd",
        "email": email,
        "name": name,
        "livemode": False,
        "metadata": {"channel": channel} if channel else {},
    }


def product(pid: str, name: str) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "product",
        "active": True,
        "created": ts("2023-12-01"),
        "name": name,
        "metadata": {},
        "type": "service",
    }


def price(
    pid: str,
    product_id: str,
    cents: int,
    *,
    interval: str | None = "month",
    nickname: str | None = None,
) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": ts("2023-12-01"),
        "currency": "usd",
        "nickname": nickname,
        "product": product_id,
        "recurring": (
            {"interval": interval, "interval_count": 1, "usage_type": "licensed"}
            if interval
            else None
        ),
        "type": "recurring" if interval else "one_time",
        "unit_amount": cents,
        "metadata": {},
    }


def subscription(
    sid: str,
    customer_id: str,
    price_obj: dict[str, Any],
    start: str,
    *,
    status: str = "active",
    canceled_at: str | None = None,
    ended_at: str | None = None,
    feedback: str | None = None,
    trial: tuple[str, str] | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    return {
        "id": sid,
        "object": "subscription",
        "customer": customer_id,
        "created": ts(start),
        "start_date": ts(start),
        "status": status,
        "cancel_at_period_end": canceled_at is not None and status != "canceled",
        "canceled_at": ts(canceled_at) if canceled_at else None,
        "ended_at": ts(ended_at) if ended_at else None,
        "cancellation_details": {
            "comment": None,
            "feedback": feedback,
            "reason": "cancellation_requested" if canceled_at else None,
        },
        "trial_start": ts(trial[0]) if trial else None,
        "trial_end": ts(trial[1]) if trial else None,
        "currency": "usd",
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_" + sid[4:],
                    "object": "subscription_item",
                    "price": price_obj,
                    "quantity": 1,
                    "subscription": sid,
                }
            ],
            "has_more": False,
        },
        "metadata": {"channel": channel} if channel else {},
    }


def line(
    lid: str,
    cents: int,
    start: str,
    end: str,
    *,
    price_obj: dict[str, Any] | None,
    subscription_id: str | None,
    proration: bool = False,
    discount_cents: int = 0,
    tax_cents: int = 0,
    description: str = "",
) -> dict[str, Any]:
    """An invoice line in the current API shape of Stripe's OpenAPI fixtures:
    price and product under `pricing`, the subscription under `parent`."""
    return {
        "id": lid,
        "object": "line_item",
        "amount": cents,
        "currency": "usd",
        "description": description,
        "discount_amounts": (
            [{"amount": discount_cents, "discount": "di_fake"}]
            if discount_cents
            else []
        ),
        "period": {"start": ts(start), "end": ts(end)},
        "quantity": 1,
        "parent": {
            "type": "subscription_item_details",
            "subscription_item_details": {
                "proration": proration,
                "subscription": subscription_id,
                "subscription_item": None,
            },
        },
        "pricing": {
            "type": "price_details",
            "price_details": {
                "price": price_obj["id"] if price_obj else None,
                "product": price_obj["product"] if price_obj else None,
            },
        },
        "taxes": (
            [{"amount": tax_cents, "tax_behavior": "exclusive", "type": "tax_rate"}]
            if tax_cents
            else []
        ),
        "metadata": {},
    }


def invoice(
    iid: str,
    customer_id: str,
    created: str | int,
    lines: list[dict[str, Any]],
    *,
    status: str = "paid",
) -> dict[str, Any]:
    """An invoice; the server lists its first 10 lines, like Stripe."""
    return {
        "id": iid,
        "object": "invoice",
        "customer": customer_id,
        "created": created if isinstance(created, int) else ts(created),
        "currency": "usd",
        "status": status,
        "total": sum(item["amount"] for item in lines),
        "lines": {"all": lines},
        "metadata": {},
    }
