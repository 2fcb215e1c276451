"""Sync of a Stripe account into a workspace through the official `stripe`
package.

A sync lists customers, products, prices, subscriptions, invoices (with all
their lines) and credit notes, 100 per page, converts them with
`stripe_objects_to_tables` and loads them with `Workspace.load`, which replaces
rows by id. The first sync of an account reads everything (or what was created
since `--since`). Later syncs read the objects created since the previous sync
started, and the objects that changed since then through `/v1/events`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import stripe

from revaxis import _sync_common
from revaxis._errors import InputError, RevaxisError
from revaxis._stripe_convert import (
    DEFAULT_SOURCE_ID,
    OBJECT_TYPES,
    stripe_objects_to_tables,
)
from revaxis._sync_common import OVERLAP, TemporaryFailure, stored_ids

if TYPE_CHECKING:
    from revaxis.workspace import ImportReport, Workspace

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_API_BASE",
    "KEY_ENV",
    "STATE_TABLE",
    "StripeSyncError",
    "read_api_key",
    "read_sync_state",
    "sync_stripe",
]

log = logging.getLogger(__name__)

KEY_ENV = "STRIPE_API_KEY"
DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_ACCOUNT = DEFAULT_SOURCE_ID
PAGE_LIMIT = 100
# Stripe keeps events for 30 days, so an older previous sync cannot be followed
# by reading events and the sync reads every object again.
EVENT_RETENTION = dt.timedelta(days=30)
# Table of the time each account's last complete sync started.
STATE_TABLE = "stripe_sync_state"


class StripeSyncError(RevaxisError):
    """The Stripe API rejected a request or stayed unavailable after retries."""


def read_api_key(key_file: Path | None, environ: dict[str, str]) -> tuple[str, str]:
    """Return the Stripe API key and where it came from, for error messages.

    The key comes from `key_file` when given, else from the STRIPE_API_KEY
    environment variable.
    """
    return _sync_common.read_api_key(
        key_file, environ, service="Stripe", env_var=KEY_ENV
    )


def read_sync_state(ws: Workspace) -> dict[str, dt.datetime]:
    """Return the start time (UTC) of the last complete sync of each account."""
    return _sync_common.read_sync_state(ws, STATE_TABLE, "account")


def sync_stripe(
    ws: Workspace,
    api_key: str,
    *,
    account: str = DEFAULT_ACCOUNT,
    since: dt.date | None = None,
    api_base: str = DEFAULT_API_BASE,
    key_origin: str = f"the {KEY_ENV} environment variable",
    sleep: Callable[[float], None] = time.sleep,
) -> ImportReport:
    """Read a Stripe account and upsert its objects into the workspace.

    `account` names the account in the workspace and prefixes its ids.
    `since` limits the lists to objects created on or after that day (UTC).
    Without it, a first sync reads everything, and a later one reads what was
    created or changed since the previous sync. Raises InputError for a key
    that Stripe rejects, and StripeSyncError when a request fails after
    `_sync_common.MAX_RETRIES` retries.
    """
    if not account or ":" in account:
        raise InputError(
            f"Invalid account name {account!r}: use a non-empty name without ':'."
        )
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    previous = read_sync_state(ws).get(account)
    reader = _Reader(api_key, api_base, key_origin, sleep)
    created_gte: int | None = None
    read_events = False
    if since is not None:
        created_gte = int(
            dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC).timestamp()
        )
    elif previous is not None:
        created_gte = int((previous - OVERLAP).timestamp())
        read_events = started - previous < EVENT_RETENTION
        if not read_events:
            created_gte = None
            log.info(
                "last sync of %s was more than %d days ago, so every object is "
                "read again",
                account,
                EVENT_RETENTION.days,
            )
    log.info(
        "sync of Stripe account %s from %s started (created since %s)",
        account,
        api_base,
        "the start" if created_gte is None else _iso(created_gte),
    )
    objects = reader.read_all(created_gte)
    if read_events and created_gte is not None:
        for name, changed in reader.read_events(created_gte).items():
            objects.setdefault(name, []).extend(changed)
    reader.complete_invoice_lines(objects.get("invoices", []))
    counts = {name: len(items) for name, items in objects.items()}
    log.info("read from Stripe account %s: %s", account, counts)
    prefix = f"{account}:"
    tables = stripe_objects_to_tables(
        objects,
        account,
        known_customers=stored_ids(ws, "customers", "customer_id", prefix),
        recurring_prices=stored_ids(ws, "plans", "plan_id", prefix),
    )
    report = ws.load(tables, source=f"stripe account {account}", format="stripe")
    # The state is written after the load commits. A crash in between makes the
    # next sync read the same objects again, which changes nothing.
    _sync_common.write_sync_state(ws, STATE_TABLE, "account", account, started)
    log.info(
        "sync of Stripe account %s finished in %.1f s: %s",
        account,
        (dt.datetime.now(dt.UTC) - started).total_seconds(),
        report.summary(),
    )
    return report


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat()


class _Reader:
    """Paged, retried reads through a `stripe.StripeClient`."""

    def __init__(
        self,
        api_key: str,
        api_base: str,
        key_origin: str,
        sleep: Callable[[float], None],
    ) -> None:
        # The SDK's own retries (stripe 16.1) skip HTTP 429 and ignore
        # Retry-After, so they are off and `_call` retries instead.
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=0,
        )
        self.key_origin = key_origin
        self.sleep = sleep
        v1 = self.client.v1
        self.lists: dict[str, Callable[..., Any]] = {
            "customers": v1.customers.list,
            "products": v1.products.list,
            "prices": v1.prices.list,
            "subscriptions": v1.subscriptions.list,
            "invoices": v1.invoices.list,
            "credit_notes": v1.credit_notes.list,
        }

    def read_all(self, created_gte: int | None) -> dict[str, list[dict[str, Any]]]:
        objects: dict[str, list[dict[str, Any]]] = {}
        for name, method in self.lists.items():
            params: dict[str, Any] = {}
            if name == "subscriptions":
                # Without status=all, Stripe leaves out canceled subscriptions.
                params["status"] = "all"
            if created_gte is not None:
                params["created"] = {"gte": created_gte}
            objects[name] = self._pages(name, method, params)
        return objects

    def read_events(self, created_gte: int) -> dict[str, list[dict[str, Any]]]:
        """Current copies of the objects that changed since `created_gte`, from
        the events of that time, oldest first."""
        events = self._pages(
            "events", self.client.v1.events.list, {"created": {"gte": created_gte}}
        )
        # Stripe lists events newest first.
        events.sort(key=lambda event: event.get("created", 0))
        changed: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            obj = (event.get("data") or {}).get("object") or {}
            name = OBJECT_TYPES.get(obj.get("object"))
            if name is not None and "id" in obj:
                changed.setdefault(name, []).append(obj)
        return changed

    def complete_invoice_lines(self, invoices: list[dict[str, Any]]) -> None:
        """Replace the first page of lines of each invoice by all its lines."""
        method = self.client.v1.invoices.line_items.list
        for invoice in invoices:
            lines = invoice.get("lines") or {}
            if not lines.get("has_more"):
                continue
            invoice["lines"] = {
                "object": "list",
                "has_more": False,
                "data": self._pages(
                    f"lines of invoice {invoice['id']}",
                    lambda params, _id=invoice["id"]: method(_id, params),
                    {},
                ),
            }

    def _pages(
        self, name: str, method: Callable[..., Any], params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Every object of a list, read with limit=100 and starting_after."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page_params = {**params, "limit": PAGE_LIMIT}
            if cursor is not None:
                page_params["starting_after"] = cursor
            page = self._call(name, method, page_params)
            data = [item.to_dict() for item in page.data]
            items.extend(data)
            if not page.has_more or not data:
                return items
            cursor = data[-1]["id"]

    def _call(
        self, name: str, method: Callable[..., Any], params: dict[str, Any]
    ) -> Any:
        return _sync_common.call_with_retries(
            lambda: self._call_once(name, method, params),
            service="Stripe",
            name=name,
            sleep=self.sleep,
            error=StripeSyncError,
        )

    def _call_once(
        self, name: str, method: Callable[..., Any], params: dict[str, Any]
    ) -> Any:
        try:
            return method(params=params)
        except stripe.AuthenticationError as exc:
            raise InputError(
                f"Stripe rejected the API key from {self.key_origin} (HTTP "
                f"{exc.http_status}): check that it is a valid secret or "
                "restricted key of the account, with read access."
            ) from None
        except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
            raise TemporaryFailure(_describe(exc), exc.headers) from None
        except stripe.APIError as exc:
            if exc.http_status is not None and exc.http_status < 500:
                raise _request_failed(name, exc) from None
            raise TemporaryFailure(_describe(exc), exc.headers) from None
        except stripe.StripeError as exc:
            raise _request_failed(name, exc) from None


def _describe(error: stripe.StripeError) -> str:
    status = f"HTTP {error.http_status}" if error.http_status else "no response"
    message = error.user_message or type(error).__name__
    return f"{status}, {message}"


def _request_failed(name: str, error: stripe.StripeError) -> StripeSyncError:
    return StripeSyncError(
        f"Reading Stripe {name} failed: {_describe(error)}. Check the API base URL "
        "and the key's permissions."
    )
