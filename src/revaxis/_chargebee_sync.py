"""Sync of a Chargebee site into a workspace through the official `chargebee`
package.

A sync lists the catalog (plans and addons of Product Catalog 1.0, items and
item prices of 2.0), customers, subscriptions, invoices and credit notes, 100
per page with `offset` / `next_offset`. It converts them with
`chargebee_objects_to_tables` and loads them with `Workspace.load`, which
replaces rows by id. The first sync reads everything (or what changed since
`--since`). Later syncs read the customers, subscriptions, invoices and credit
notes whose `updated_at` is after the previous sync started, and the whole
catalog, which is small and gives every line its product.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import chargebee
import httpx
from chargebee.retry_config import RetryConfig

from revaxis import _sync_common
from revaxis._chargebee_convert import RESOURCES, chargebee_objects_to_tables
from revaxis._errors import InputError, RevaxisError
from revaxis._sync_common import OVERLAP, TemporaryFailure, stored_ids

if TYPE_CHECKING:
    from revaxis.workspace import ImportReport, Workspace

__all__ = [
    "KEY_ENV",
    "STATE_TABLE",
    "ChargebeeSyncError",
    "default_api_base",
    "read_api_key",
    "read_sync_state",
    "sync_chargebee",
]

log = logging.getLogger(__name__)

KEY_ENV = "CHARGEBEE_API_KEY"
PAGE_LIMIT = 100
# Table of the time each site's last complete sync started.
STATE_TABLE = "chargebee_sync_state"
# Resources read whole on every sync, then those read from the previous sync on.
CATALOG = ("plans", "addons", "items", "item_prices")
CHANGING = ("customers", "subscriptions", "invoices", "credit_notes")
# A Chargebee site name is its subdomain: letters, digits and hyphens.
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


class ChargebeeSyncError(RevaxisError):
    """The Chargebee API rejected a request or stayed unavailable after retries."""


def default_api_base(site: str) -> str:
    """Return the API base URL of a site, as the chargebee package builds it."""
    return f"https://{site}.chargebee.com"


def read_api_key(key_file: Any, environ: dict[str, str]) -> tuple[str, str]:
    """Return the Chargebee API key and where it came from, for error messages:
    `key_file` when given, else the CHARGEBEE_API_KEY environment variable."""
    return _sync_common.read_api_key(
        key_file, environ, service="Chargebee", env_var=KEY_ENV
    )


def read_sync_state(ws: Workspace) -> dict[str, dt.datetime]:
    """Return the start time (UTC) of the last complete sync of each site."""
    return _sync_common.read_sync_state(ws, STATE_TABLE, "site")


def sync_chargebee(
    ws: Workspace,
    api_key: str,
    *,
    site: str,
    since: dt.date | None = None,
    api_base: str | None = None,
    key_origin: str = f"the {KEY_ENV} environment variable",
    sleep: Callable[[float], None] = time.sleep,
) -> ImportReport:
    """Read a Chargebee site and upsert its resources into the workspace.

    `site` is the site name (the `acme` of acme.chargebee.com); it names the
    source in the workspace and prefixes its ids. `since` limits the reads to
    resources changed on or after that day (UTC). Without it, a first sync reads
    everything and a later one what changed since the previous sync.
    `api_base` replaces https://SITE.chargebee.com, for a proxy or a mock.
    Raises InputError for a key that Chargebee rejects, and ChargebeeSyncError
    when a request fails after `_sync_common.MAX_RETRIES` retries.
    """
    if not SITE_NAME.match(site):
        raise InputError(
            f"Invalid Chargebee site name {site!r}: use the subdomain of the site, "
            "such as acme for acme.chargebee.com."
        )
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    previous = read_sync_state(ws).get(site)
    updated_after: int | None = None
    if since is not None:
        # Chargebee's filter is strictly after, so on-or-after the day starts
        # one second earlier.
        start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
        updated_after = int(start.timestamp()) - 1
    elif previous is not None:
        updated_after = int((previous - OVERLAP).timestamp())
    base = api_base or default_api_base(site)
    log.info(
        "sync of Chargebee site %s from %s started (changed since %s)",
        site,
        base,
        "the start" if updated_after is None else _iso(updated_after),
    )
    reader = _Reader(api_key, site, base, key_origin, sleep)
    objects = reader.read_all(updated_after)
    reader.complete_invoice_lines(objects["invoices"])
    log.info(
        "read from Chargebee site %s: %s",
        site,
        {name: len(items) for name, items in objects.items()},
    )
    prefix = f"{site}:"
    plans = ws.table("plans").filter(lambda t: t.plan_id.startswith(prefix))
    known_products = dict(plans.select("plan_id", "product_id").execute().values)
    tables = chargebee_objects_to_tables(
        objects,
        site,
        known_customers=stored_ids(ws, "customers", "customer_id", prefix),
        known_products=known_products,
    )
    report = ws.load(tables, source=f"chargebee site {site}", format="chargebee")
    # The state is written after the load commits. A crash in between makes the
    # next sync read the same resources again, which changes nothing.
    _sync_common.write_sync_state(ws, STATE_TABLE, "site", site, started)
    log.info(
        "sync of Chargebee site %s finished in %.1f s: %s",
        site,
        (dt.datetime.now(dt.UTC) - started).total_seconds(),
        report.summary(),
    )
    return report


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat()


def _client(api_key: str, site: str, api_base: str) -> chargebee.Chargebee:
    """Build a client of the chargebee package whose requests go to `api_base`."""
    parts = urlsplit(api_base)
    if parts.scheme != "https" or not parts.netloc:
        # chargebee 3.29 sends every request over HTTPS whatever its `protocol`
        # option is set to, because it tests the class attribute
        # `Chargebee.verify_ca_certs`, not the instance's.
        raise InputError(
            f"Invalid Chargebee API base URL {api_base!r}: write an https:// URL "
            "such as https://acme.chargebee.com. The chargebee package sends "
            "every request over HTTPS."
        )
    client = chargebee.Chargebee(api_key=api_key, site=site)
    # The package's own retries skip 429 responses' Retry-After header (it
    # reads an attribute its errors do not have), so they stay off and
    # `_call` retries instead.
    client.update_retry_config(RetryConfig(enabled=False))
    # NOTE: the package builds the URL as https://SITE.DOMAIN/api/v2 and has no
    # option for a whole base URL, so a proxy or a mock at host:port replaces
    # the endpoint that `Environment.set_api_endpoint` stored (chargebee 3.x).
    client.env.api_endpoint = f"{api_base.rstrip('/')}/api/{client.env.API_VERSION}"
    return client


class _Reader:
    """Paged, retried reads through a `chargebee.Chargebee` client."""

    def __init__(
        self,
        api_key: str,
        site: str,
        api_base: str,
        key_origin: str,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = _client(api_key, site, api_base)
        self.key_origin = key_origin
        self.sleep = sleep
        client = self.client
        self.lists: dict[str, Callable[..., Any]] = {
            "plans": client.Plan.list,
            "addons": client.Addon.list,
            "items": client.Item.list,
            "item_prices": client.ItemPrice.list,
            "customers": client.Customer.list,
            "subscriptions": client.Subscription.list,
            "invoices": client.Invoice.list,
            "credit_notes": client.CreditNote.list,
        }

    def read_all(self, updated_after: int | None) -> dict[str, list[dict[str, Any]]]:
        objects: dict[str, list[dict[str, Any]]] = {}
        for name in (*CATALOG, *CHANGING):
            params: dict[str, Any] = {}
            if name in CHANGING:
                # Deleted invoices must be read to void their stored lines.
                params["include_deleted"] = True
                if updated_after is not None:
                    params["updated_at"] = {"after": updated_after}
            objects[name] = self._pages(name, params)
        return objects

    def complete_invoice_lines(self, invoices: list[dict[str, Any]]) -> None:
        """Append the line items that the list left out of each invoice whose
        `line_items_next_offset` is set, read page by page from its retrieve
        endpoint."""
        for invoice in invoices:
            offset = invoice.pop("line_items_next_offset", None)
            while offset:
                full = self._call(
                    f"line items of invoice {invoice['id']}",
                    lambda i=invoice["id"], o=offset: self.client.Invoice.retrieve(
                        i, {"line_items_offset": o, "line_items_limit": PAGE_LIMIT}
                    ),
                ).invoice.raw_data
                invoice.setdefault("line_items", []).extend(full.get("line_items", []))
                offset = full.get("line_items_next_offset")

    def _pages(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Return every resource of a list, read with limit=100 and the
        `next_offset` of the previous page. A list that the site's product
        catalog version does not have (plans on a 2.0 site, items on a 1.0 site)
        is empty."""
        method = self.lists[name]
        resource = RESOURCES[name]
        items: list[dict[str, Any]] = []
        offset: str | None = None
        while True:
            page_params = {**params, "limit": PAGE_LIMIT}
            if offset is not None:
                page_params["offset"] = offset
            try:
                page = self._call(name, lambda p=page_params: method(p))
            except _CatalogMismatch:
                log.info("Chargebee %s skipped: not in this site's catalog", name)
                return []
            items.extend(getattr(entry, resource).raw_data for entry in page.list)
            offset = page.next_offset
            if not offset:
                return items

    def _call(self, name: str, call: Callable[[], Any]) -> Any:
        return _sync_common.call_with_retries(
            lambda: self._call_once(name, call),
            service="Chargebee",
            name=name,
            sleep=self.sleep,
            error=ChargebeeSyncError,
        )

    def _call_once(self, name: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except chargebee.APIError as exc:
            status = exc.http_status_code
            if status == 401:
                raise InputError(
                    f"Chargebee rejected the API key from {self.key_origin} (HTTP "
                    "401): check that it is a full-access or read-only key of "
                    "this site."
                ) from None
            if exc.api_error_code == "configuration_incompatible":
                raise _CatalogMismatch() from None
            description = f"HTTP {status}, {exc}"
            if status == 429 or status >= 500:
                raise TemporaryFailure(description, exc.http_headers) from None
            raise _request_failed(name, description) from None
        except httpx.TransportError as exc:
            raise TemporaryFailure(f"no response, {type(exc).__name__}", None) from None
        except RevaxisError:
            raise
        except Exception as exc:
            # chargebee 3.29 raises a bare Exception for an error response that
            # is not a Chargebee error body (from a proxy, say), with
            # "http_status_code: NNN" in its message.
            match = re.search(r"http_status_code: (\d{3})", str(exc))
            if match is None:
                raise
            status = int(match.group(1))
            description = f"HTTP {status}, an error response that is not Chargebee's"
            if status == 429 or status >= 500:
                raise TemporaryFailure(description, None) from None
            raise _request_failed(name, description) from None


class _CatalogMismatch(Exception):
    """The site uses the other product catalog version than the list read."""


def _request_failed(name: str, description: str) -> ChargebeeSyncError:
    return ChargebeeSyncError(
        f"Reading Chargebee {name} failed: {description}. Check the site name, "
        "the API base URL and the key's permissions."
    )
