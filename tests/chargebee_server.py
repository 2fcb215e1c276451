"""A fake Chargebee API on 127.0.0.1 for the sync tests, and factories of
Chargebee resources.

The resources have the shape of Chargebee API v2 with Product Catalog 1.0, as in
the payloads of tests/fixtures/chargebee (amounts in cents, Unix seconds), cut
down to the fields that revaxis reads.

The server serves GET list requests under /api/v2 as Chargebee does:
`{"list": [{"customer": {...}}, ...], "next_offset": "..."}`, with `limit`,
`offset`, `updated_at[after]` and `include_deleted`, and the retrieve request
of an invoice with `line_items_offset`. It speaks HTTPS only, because the
chargebee package sends every request over HTTPS: `certificate` makes a
self-signed certificate for 127.0.0.1 with the openssl command.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import datetime as dt
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

GOOD_KEY = "test_revaxis_fake_chargebee_0123456789"

# List resource -> name of the resource inside a list entry.
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
CATALOG_1 = ("plans", "addons")
CATALOG_2 = ("items", "item_prices")


def ts(day: str) -> int:
    """Unix seconds of a day (YYYY-MM-DD) or an instant (YYYY-MM-DDTHH:MM), UTC."""
    moment = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    return calendar.timegm(moment.timetuple())


def certificate(folder: Path) -> tuple[Path, Path] | None:
    """Write a self-signed certificate for IP 127.0.0.1 and its key into
    `folder`; return their paths, or None when openssl is not installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Failure:
    """A response that replaces the next response to a request of `path`."""

    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    # A body that is not a Chargebee error, as a proxy would send.
    plain: bool = False


@dataclass
class FakeChargebee:
    """State of the fake API: its resources, the failures to inject and the log of
    requests (path and query)."""

    resources: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in RESOURCES}
    )
    failures: list[Failure] = field(default_factory=list)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    # Max resources per page, whatever the `limit` of the request, to force
    # pagination.
    max_page: int = 100
    # Max line items of an invoice in a list; None lists them all.
    max_line_items: int | None = None
    # Product catalog version: the lists of the other version fail.
    catalog: int = 1
    base_url: str = ""

    def add(self, resource: str, *items: dict[str, Any]) -> None:
        self.resources[resource].extend(items)

    def listed(self, path: str) -> list[tuple[str, dict[str, list[str]]]]:
        return [request for request in self.requests if request[0] == path]


def _error_body(status: int) -> dict[str, Any]:
    """An error body in Chargebee's shape; the messages are made up."""
    codes = {
        400: ("invalid_request", "configuration_incompatible"),
        401: (None, "api_authentication_failed"),
        404: ("invalid_request", "resource_not_found"),
        429: (None, "api_request_limit_exceeded"),
    }
    kind, code = codes.get(status, (None, "internal_error"))
    body: dict[str, Any] = {
        "message": f"Fake Chargebee error {code}.",
        "api_error_code": code,
        "error_code": code,
        "http_status_code": status,
    }
    if kind:
        body["type"] = kind
    return body


class _Handler(BaseHTTPRequestHandler):
    state: FakeChargebee

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean: the requests are in `state.requests`."""

    def _send(
        self,
        status: int,
        body: object,
        headers: dict[str, str] | None = None,
        *,
        plain: bool = False,
    ) -> None:
        data = b"Internal Server Error" if plain else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if plain else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.state.requests.append((url.path, query))
        expected = base64.b64encode(f"{GOOD_KEY}:".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self._send(401, _error_body(401))
            return
        for failure in self.state.failures:
            if url.path == failure.path:
                self.state.failures.remove(failure)
                self._send(
                    failure.status,
                    _error_body(failure.status),
                    failure.headers,
                    plain=failure.plain,
                )
                return
        parts = url.path.strip("/").split("/")
        if parts[:2] != ["api", "v2"] or len(parts) not in (3, 4):
            self._send(404, _error_body(404))
        elif len(parts) == 3 and parts[2] in RESOURCES:
            self._list(parts[2], query)
        elif len(parts) == 4 and parts[2] == "invoices":
            self._invoice(parts[3], query)
        else:
            self._send(404, _error_body(404))

    def _list(self, resource: str, query: dict[str, list[str]]) -> None:
        other = CATALOG_2 if self.state.catalog == 1 else CATALOG_1
        if resource in other:
            self._send(400, _error_body(400))
            return
        items = list(self.state.resources[resource])
        if query.get("include_deleted") != ["true"]:
            items = [item for item in items if not item.get("deleted")]
        if "updated_at[after]" in query:
            after = int(query["updated_at[after]"][0])
            items = [item for item in items if item["updated_at"] > after]
        limit = min(int(query.get("limit", ["10"])[0]), self.state.max_page)
        start = int(query.get("offset", ["0"])[0])
        page = items[start : start + limit]
        name = RESOURCES[resource]
        body: dict[str, Any] = {"list": [self._entry(name, item) for item in page]}
        if start + limit < len(items):
            body["next_offset"] = str(start + limit)
        self._send(200, body)

    def _entry(self, name: str, item: dict[str, Any]) -> dict[str, Any]:
        """A list entry: a subscription comes with its customer, and an invoice
        with its first `max_line_items` lines and `line_items_next_offset` when
        there are more."""
        if name == "subscription":
            owner = next(
                (c for c in self.state.resources["customers"]
                 if c["id"] == item["customer_id"]),
                {"id": item["customer_id"], "object": "customer"},
            )  # fmt: skip
            return {name: item, "customer": owner}
        cap = self.state.max_line_items
        lines = item.get("line_items") or []
        if name != "invoice" or cap is None or len(lines) <= cap:
            return {name: item}
        listed = {**item, "line_items": lines[:cap], "line_items_next_offset": str(cap)}
        return {name: listed}

    def _invoice(self, invoice_id: str, query: dict[str, list[str]]) -> None:
        invoice = next(
            (i for i in self.state.resources["invoices"] if i["id"] == invoice_id),
            None,
        )
        if invoice is None:
            self._send(404, _error_body(404))
            return
        lines = invoice.get("line_items") or []
        start = int(query.get("line_items_offset", ["0"])[0])
        limit = int(query.get("line_items_limit", ["100"])[0])
        cap = self.state.max_line_items or limit
        body = {**invoice, "line_items": lines[start : start + min(limit, cap)]}
        if start + min(limit, cap) < len(lines):
            body["line_items_next_offset"] = str(start + min(limit, cap))
        self._send(200, {"invoice": body})


@contextlib.contextmanager
def serve(state: FakeChargebee, cert: tuple[Path, Path]) -> Iterator[FakeChargebee]:
    """Run the fake API over HTTPS on a free port of 127.0.0.1 in a thread; set
    `state.base_url` while it runs."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# Resource factories ------------------------------------------------------------

# updated_at of the resources that the tests create: long before any sync.
UPDATED = ts("2024-05-01")


def customer(
    cid: str,
    first: str,
    last: str,
    created: str,
    *,
    country: str | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": cid,
        "object": "customer",
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}@example.com",
        "created_at": ts(created),
        "updated_at": UPDATED,
        "deleted": False,
        "preferred_currency_code": "USD",
    }
    if country:
        row["billing_address"] = {
            "first_name": first,
            "last_name": last,
            "city": "Springfield",
            "country": country,
            "object": "billing_address",
        }
    if channel:
        row["cf_channel"] = channel
    return row


def plan(pid: str, name: str, cents: int, unit: str = "month") -> dict[str, Any]:
    return {
        "id": pid,
        "object": "plan",
        "name": name,
        "invoice_name": name,
        "price": cents,
        "period": 1,
        "period_unit": unit,
        "currency_code": "USD",
        "status": "active",
        "charge_model": "flat_fee",
        "updated_at": UPDATED,
    }


def addon(aid: str, name: str, cents: int, *, recurring: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": aid,
        "object": "addon",
        "name": name,
        "price": cents,
        "currency_code": "USD",
        "charge_type": "recurring" if recurring else "non_recurring",
        "status": "active",
        "updated_at": UPDATED,
    }
    if recurring:
        row.update(period=1, period_unit="month")
    else:
        row["period_unit"] = "not_applicable"
    return row


def subscription(
    sid: str,
    customer_id: str,
    plan_id: str,
    start: str,
    term: tuple[str, str],
    *,
    status: str = "active",
    **extra: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": sid,
        "object": "subscription",
        "customer_id": customer_id,
        "plan_id": plan_id,
        "plan_quantity": 1,
        "billing_period": 1,
        "billing_period_unit": "month",
        "status": status,
        "created_at": ts(start),
        "started_at": ts(start),
        "current_term_start": ts(term[0]),
        "current_term_end": ts(term[1]),
        "updated_at": UPDATED,
        "deleted": False,
        "currency_code": "USD",
    }
    for key, value in extra.items():
        row[key] = ts(value) if key.endswith(("_at", "_date", "_end")) else value
    return row


def line(
    lid: str,
    cents: int,
    start: str,
    end: str,
    subscription_id: str | None,
    *,
    entity: tuple[str, str | None] = ("plan", "basic"),
    quantity: int = 1,
    discount: int = 0,
    tax: int = 0,
) -> dict[str, Any]:
    """An invoice line item; `entity` is (entity_type, entity_id)."""
    return {
        "id": lid,
        "object": "line_item",
        "date_from": ts(start),
        "date_to": ts(end),
        "unit_amount": cents // quantity,
        "quantity": quantity,
        "amount": cents,
        "discount_amount": discount,
        "item_level_discount_amount": discount,
        "tax_amount": tax,
        "is_taxed": tax > 0,
        "entity_type": entity[0],
        "entity_id": entity[1],
        "subscription_id": subscription_id,
        "description": entity[1] or "Adhoc charge",
    }


def invoice(
    iid: str,
    customer_id: str,
    day: str,
    lines: list[dict[str, Any]],
    *,
    status: str = "paid",
    subscription_id: str | None = None,
    updated_at: int = UPDATED,
) -> dict[str, Any]:
    return {
        "id": iid,
        "object": "invoice",
        "customer_id": customer_id,
        "subscription_id": subscription_id,
        "recurring": subscription_id is not None,
        "status": status,
        "price_type": "tax_exclusive",
        "date": ts(day),
        "currency_code": "USD",
        "total": sum(item["amount"] - item["discount_amount"] + item["tax_amount"]
                     for item in lines),
        "line_items": lines,
        "updated_at": updated_at,
        "deleted": False,
    }  # fmt: skip


def credit_note(
    cid: str, invoice_id: str, lines: list[dict[str, Any]], *, status: str = "refunded"
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "credit_note",
        "reference_invoice_id": invoice_id,
        "type": "refundable",
        "status": status,
        "currency_code": "USD",
        "total": sum(item["amount"] for item in lines),
        "line_items": lines,
        "updated_at": UPDATED,
        "deleted": False,
    }


def fixture_site(payload: dict[str, Any]) -> FakeChargebee:
    """A fake site holding the customer, subscription, invoice and credit note of
    one webhook event or API response of tests/fixtures/chargebee."""
    content = payload.get("content", payload)
    state = FakeChargebee()
    for resource, name in RESOURCES.items():
        if name in content:
            state.add(resource, content[name])
    state.add("credit_notes", *content.get("credit_notes", []))
    return state
