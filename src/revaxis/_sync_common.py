"""Helpers that the billing connectors (Stripe, Chargebee) share: the API key,
retries with backoff, the table that stores when each source was last synced,
and the conversions of timestamps, amounts and rows to canonical tables."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd

from revaxis._errors import InputError, RevaxisError

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_MAX_S",
    "MAX_RETRIES",
    "OVERLAP",
    "THREE_DECIMAL_CURRENCIES",
    "TemporaryFailure",
    "ZERO_DECIMAL_CURRENCIES",
    "add_customer_stubs",
    "call_with_retries",
    "frame_by_key",
    "minor_to_units",
    "read_api_key",
    "read_sync_state",
    "retry_delay",
    "stored_ids",
    "unix_day",
    "write_sync_state",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Retries of one request after HTTP 429, HTTP 5xx or a connection error.
MAX_RETRIES = 5
# Backoff before retry n (from 1) when the response has no Retry-After header:
# min(BACKOFF_BASE_S * 2 ** (n - 1), BACKOFF_MAX_S) seconds.
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
# Objects created or changed while the previous sync was running may have been
# missed by its lists, so a later sync lists from a little before the previous
# start.
OVERLAP = dt.timedelta(minutes=10)

# Currencies whose API amounts are not in hundredths of the unit, from the
# Stripe API documentation, "Currencies: zero-decimal and three-decimal".
# Chargebee also sends amounts in the smallest unit and leaves zero-decimal
# currencies such as JPY undivided (Chargebee help: "What are Zero decimal
# currencies?").
# NOTE: Chargebee's own list of zero-decimal currencies was not compared with
# this one.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
THREE_DECIMAL_CURRENCIES = frozenset("BHD JOD KWD OMR TND".split())


class TemporaryFailure(Exception):
    """A failed request worth retrying: HTTP 429, HTTP 5xx or no response.

    `description` is shown in logs and errors, so it never contains the key.
    """

    def __init__(self, description: str, headers: Mapping[str, str] | None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = headers or {}


def read_api_key(
    key_file: Path | None,
    environ: Mapping[str, str],
    *,
    service: str,
    env_var: str,
) -> tuple[str, str]:
    """Return the API key of `service` and where it came from, for error messages.

    The key comes from `key_file` when given, else from the `env_var`
    environment variable.
    """
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(
                f"Cannot read the {service} key file {key_file}: {exc}."
            ) from None
        if not key:
            raise InputError(f"The {service} key file {key_file} is empty.")
        return key, f"the key file {key_file}"
    key = environ.get(env_var, "").strip()
    if not key:
        raise InputError(
            f"Missing {service} API key: set the {env_var} environment variable or "
            "pass --key-file."
        )
    return key, f"the {env_var} environment variable"


def call_with_retries(
    call: Callable[[], T],
    *,
    service: str,
    name: str,
    sleep: Callable[[float], None],
    error: type[RevaxisError],
) -> T:
    """Run `call`, retrying up to MAX_RETRIES times while it raises
    TemporaryFailure; raise `error` when the last retry fails too.

    `name` names what is read ("customers") in logs and errors.
    """
    for attempt in range(MAX_RETRIES + 1):
        try:
            return call()
        except TemporaryFailure as exc:
            failure = exc
        if attempt == MAX_RETRIES:
            raise error(
                f"Reading {service} {name} failed after {MAX_RETRIES} retries: "
                f"{failure.description}. Run the sync again later."
            ) from None
        delay = retry_delay(failure.headers, attempt + 1)
        log.warning(
            "reading %s %s failed (%s); retry %d of %d in %.1f s",
            service,
            name,
            failure.description,
            attempt + 1,
            MAX_RETRIES,
            delay,
        )
        sleep(delay)
    raise AssertionError("unreachable")


def retry_delay(headers: Mapping[str, str], retry: int) -> float:
    """Return the seconds to wait before retry number `retry`: the Retry-After
    header (in seconds) when the response has one, else exponential backoff."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is not None:
        try:
            return min(max(float(value), 0.0), BACKOFF_MAX_S)
        except ValueError:
            log.warning("ignored a Retry-After header that is not seconds: %r", value)
    return min(BACKOFF_BASE_S * 2 ** (retry - 1), BACKOFF_MAX_S)


def read_sync_state(ws: Workspace, table: str, key: str) -> dict[str, dt.datetime]:
    """Return the start time (UTC) of the last complete sync of each source.

    `table` has two columns: `key` (the source's name) and `synced_at`.
    """
    if table not in ws.con.list_tables():
        return {}
    frame = ws.con.table(table).execute()
    return {
        str(getattr(row, key)): pd.Timestamp(row.synced_at)
        .to_pydatetime()
        .replace(tzinfo=dt.UTC)
        for row in frame.itertuples(index=False)
    }


def write_sync_state(
    ws: Workspace, table: str, key: str, source: str, started: dt.datetime
) -> None:
    """Store `started` as the start of the last complete sync of `source`."""
    state = read_sync_state(ws, table, key)
    state[source] = started
    frame = pd.DataFrame(
        {
            key: list(state),
            "synced_at": [t.replace(tzinfo=None) for t in state.values()],
        }
    )
    ws.con.create_table(table, frame, overwrite=True)


def stored_ids(ws: Workspace, table: str, column: str, prefix: str) -> set[str]:
    """Return the ids of a canonical table that start with `prefix`."""
    ids = ws.table(table).filter(lambda t: t[column].startswith(prefix))[column]
    return set(ids.execute())


# Conversion to canonical tables --------------------------------------------


def unix_day(seconds: object) -> dt.date | None:
    """Return the UTC day of a Unix timestamp in seconds, or None."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC).date()  # type: ignore[call-overload]


def minor_to_units(amount_minor: float, currency: str) -> float:
    """Convert an amount in the smallest currency unit to the currency unit."""
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return float(amount_minor)
    if code in THREE_DECIMAL_CURRENCIES:
        return amount_minor / 1000
    return amount_minor / 100


def frame_by_key(
    rows: list[dict[str, object]], key: str | Sequence[str]
) -> pd.DataFrame:
    """Return the rows as a frame with one row per key. The last row of a key
    wins, because the APIs return newer versions of an object later."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    subset = [key] if isinstance(key, str) else list(key)
    return frame.drop_duplicates(subset, keep="last").reset_index(drop=True)


def add_customer_stubs(
    tables: dict[str, pd.DataFrame], known_customers: Iterable[str]
) -> dict[str, pd.DataFrame]:
    """Add a customer row with only an id for each customer that an invoice line
    or a subscription names but that is missing from `tables` and from
    `known_customers`. Return the tables that are not empty."""
    named = _column(tables["invoice_lines"], "customer_id") | _column(
        tables["subscriptions"], "customer_id"
    )
    missing = named - _column(tables["customers"], "customer_id")
    missing -= set(known_customers)
    if missing:
        stubs = pd.DataFrame({"customer_id": sorted(missing)})
        tables["customers"] = pd.concat([tables["customers"], stubs], ignore_index=True)
    return {name: frame for name, frame in tables.items() if not frame.empty}


def _column(frame: pd.DataFrame, name: str) -> set[str]:
    """Return the non-empty values of a column, or none for an empty frame."""
    if name not in frame.columns:
        return set()
    return {value for value in frame[name] if isinstance(value, str)}
