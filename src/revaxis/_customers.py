"""Customers: the searchable list with each customer's MRR and status at the
report day, and one customer's details (metadata, axis values, MRR history,
movements).

The report day is the last day of the last month that `Workspace.mrr` reports
with the same `as_of`: the month of `as_of` (default today) while anyone pays,
else the month of the latest invoice or MRR change. So a workspace of past
data shows its last state rather than every customer churned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from revaxis import _axes, _engine, _periods, _report
from revaxis._errors import InputError

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

CUSTOMER_COLUMNS = [
    "customer_id",
    "name",
    "email",
    "company",
    "country",
    "mrr",
    "status",
    "acquired_on",
]
# Columns of the customers table that a search looks in, case-insensitively.
SEARCH_COLUMNS = ("customer_id", "name", "email", "company")
# active: pays at the report day; churned: paid before and no longer pays;
# never: has never paid (no line, or only lines worth 0).
STATUSES = ("active", "churned", "never")
MAX_LIMIT = 10_000
# Customers that a page may skip. DuckDB takes an OFFSET up to 2**63 - 1; this
# bound is far above any real customer count and keeps page * size in range.
MAX_OFFSET = 10**12


@dataclass(frozen=True)
class _Snapshot:
    """The MRR state of every customer, or of one, at the report day, lazily
    computed.

    `current` has customer_id, mrr_cents (0 when not paying) and acquired_on
    (null for a customer who never paid). `months` are the start days of the
    report's months up to the report day's month, empty when no one has ever
    paid. When the snapshot covers one customer, they may start later than
    the report's first month, but never after that customer's first month
    with MRR.
    """

    current: ir.Table
    movements: ir.Table | None
    states: ir.Table | None
    months: list[dt.date]
    report_end: dt.date  # first day after the report day
    customer_id: str | None = None  # the one customer covered, None for all


def _snapshot(
    ws: Workspace,
    currency: str,
    as_of: dt.date | None,
    customer_id: str | None = None,
) -> _Snapshot:
    """Build the snapshot of every customer, or of `customer_id` only from that
    customer's invoice lines. The caller releases the cached tables with
    `ws._release()`."""
    customers = ws.table("customers").select("customer_id")
    if customer_id is not None:
        customers = customers.filter(customers.customer_id == customer_id)
    if ws.counts()["invoice_lines"] == 0:
        current = customers.mutate(
            mrr_cents=ibis.literal(0, "int64"),
            acquired_on=ibis.null("date"),
        )
        report_end = (as_of or dt.date.today()) + dt.timedelta(days=1)
        return _Snapshot(current, None, None, [], report_end, customer_id)
    movements, states, _ = ws._pipeline([], currency, as_of, customer_id=customer_id)
    months = _report_months(ws, states, currency, as_of, customer_id)
    if months:
        report_end = _periods.next_start(months[-1], "month")
    else:
        report_end = (as_of or dt.date.today()) + dt.timedelta(days=1)
    done = states.filter(states.day < report_end)
    last = done.group_by("customer_id").aggregate(s_mrr=done.m1_cents.argmax(done.day))
    acquired = _engine.acquisition_days(states)
    last = last.rename(s_customer="customer_id")
    acquired = acquired.rename(a_customer="customer_id")
    joined = customers.left_join(last, customers.customer_id == last.s_customer)
    joined = joined.drop("s_customer")
    joined = joined.left_join(acquired, joined.customer_id == acquired.a_customer)
    joined = joined.drop("a_customer")
    current = joined.select(
        "customer_id",
        mrr_cents=joined.s_mrr.fill_null(0).cast("int64"),
        acquired_on=joined.acquired_on.cast("date"),
    )
    return _Snapshot(current, movements, states, months, report_end, customer_id)


def _report_months(
    ws: Workspace,
    states: ir.Table,
    currency: str,
    as_of: dt.date | None,
    customer_id: str | None,
) -> list[dt.date]:
    """Return the start days of the months that `Workspace.mrr` reports.

    `states` are those of every customer, or of `customer_id` only. The last
    month depends on whether anyone pays on the report day. When that
    customer pays then, their own states are enough, and the months start at
    their first month with MRR because earlier months carry none of their
    history. Otherwise the states of every customer decide."""
    if customer_id is not None and not ws._anyone_paying(states):
        states = ws._customer_states(currency, as_of)
    return ws._default_range("month", None, None, states, as_of) or []


def _with_state(table: ir.Table, snapshot: _Snapshot) -> ir.Table:
    """Join each customer row of `table` to its MRR and acquisition day."""
    current = snapshot.current.rename(c_customer="customer_id")
    joined = table.left_join(current, table.customer_id == current.c_customer)
    return joined.drop("c_customer")


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn cents into currency units and add the status column."""
    frame = frame.copy()
    cents = frame.pop("mrr_cents").fillna(0).astype("int64")
    frame["mrr"] = cents / 100
    frame["acquired_on"] = [
        None if pd.isna(day) else pd.Timestamp(day).date()
        for day in frame["acquired_on"]
    ]
    frame["status"] = [
        _status(mrr_cents, acquired_on)
        for mrr_cents, acquired_on in zip(cents, frame["acquired_on"], strict=True)
    ]
    return frame


def _status(mrr_cents: int, acquired_on: dt.date | None) -> str:
    if mrr_cents > 0:
        return "active"
    if acquired_on is not None:
        return "churned"
    return "never"


def check_search(search: str | None) -> None:
    """Raise InputError when `search` contains a NUL character.

    Ibis writes string literals into the SQL text, and DuckDB's parser ends
    a quoted string at a NUL byte, so such a search cannot be run.
    """
    if search is not None and "\x00" in search:
        raise InputError(
            f"Invalid search {search!r}: it contains a NUL character (\\x00). "
            "Remove it and search again."
        )


def customer_exists(ws: Workspace, customer_id: str) -> bool:
    """Return whether the workspace has a customer with id `customer_id`. An id
    with a NUL character is never found, as it cannot go into a DuckDB query
    (see `check_search`)."""
    if "\x00" in customer_id:
        return False
    table = ws.table("customers")
    return int(table.filter(table.customer_id == customer_id).count().execute()) > 0


def _search_predicate(table: ir.Table, search: str) -> ir.BooleanValue:
    term = search.strip().casefold()
    return ibis.or_(
        *[
            table[column].fill_null("").lower().contains(term)
            for column in SEARCH_COLUMNS
        ]
    )


def customers(
    ws: Workspace,
    search: str | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
    currency: str | None = None,
    as_of: dt.date | None = None,
) -> tuple[pd.DataFrame, int]:
    """Return one page of customers and the number of customers that match.

    The page has the columns of CUSTOMER_COLUMNS, sorted by MRR (in the
    reporting currency, at the report day) from the largest down, then by id.
    `country` is the ISO 3166 alpha-2 code that the country axis gives before
    its label rules. `search` keeps the customers whose id, name, email or
    company contains it, ignoring case. `limit` is the page size (1 to
    MAX_LIMIT) and `offset` the number of matching customers skipped before
    the page.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"Invalid limit {limit}: use 1 to {MAX_LIMIT} rows.")
    if not 0 <= offset <= MAX_OFFSET:
        raise InputError(f"Invalid offset {offset}: use 0 to {MAX_OFFSET:,}.")
    check_search(search)
    if as_of is not None:
        _periods.check_day(as_of)
    cur = ws.report_currency(currency)
    table = ws.table("customers").select("customer_id", "name", "email", "company")
    if search and search.strip():
        table = table.filter(_search_predicate(table, search))
    table = _with_country_code(ws, table)
    try:
        total = int(table.count().execute())
        snapshot = _snapshot(ws, cur, as_of)
        rows = _with_state(table, snapshot)
        page = rows.order_by([ibis.desc("mrr_cents"), "customer_id"]).limit(
            limit, offset=offset
        )
        frame = page.execute()
    finally:
        ws._release()
    frame = _finish(frame)
    return frame[CUSTOMER_COLUMNS].reset_index(drop=True), total


def _with_country_code(ws: Workspace, table: ir.Table) -> ir.Table:
    """Add `country`, the code of the customer's country as on the country
    axis before its label rules, to each customer row of `table`."""
    codes = _axes.country_codes(ws.table("customers"))
    codes = codes.rename(k_customer="customer_id", country="code")
    joined = table.left_join(codes, table.customer_id == codes.k_customer)
    return joined.drop("k_customer")


def customer(
    ws: Workspace,
    customer_id: str,
    *,
    currency: str | None = None,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """Return one customer's details, as described in `Workspace.customer`,
    computed from that customer's invoice lines only."""
    cur = ws.report_currency(currency)
    if as_of is not None:
        _periods.check_day(as_of)
    if not customer_exists(ws, customer_id):
        raise InputError(
            f"Customer {customer_id!r} not found; list customers with "
            "Workspace.customers() or GET /api/v1/customers."
        )
    try:
        snapshot = _snapshot(ws, cur, as_of, customer_id)
        return details(ws, customer_id, cur, as_of, snapshot)
    finally:
        ws._release()


def details(
    ws: Workspace,
    customer_id: str,
    currency: str,
    as_of: dt.date | None,
    snapshot: _Snapshot,
) -> dict[str, Any]:
    """Return the details of a customer known to exist, read from `snapshot`,
    which may cover every customer or that one only."""
    table = ws.table("customers")
    row = table.filter(table.customer_id == customer_id)
    row = _with_country_code(ws, row.rename(country_raw="country"))
    found = _with_state(row, snapshot).execute()
    record = _finish(found).iloc[0].to_dict()
    # The code where the customers table has the country, the raw text next.
    order = []
    for column in table.columns:
        order += ["country", "country_raw"] if column == "country" else [column]
    order += [c for c in record if c not in order]
    if snapshot.movements is None:
        movements = pd.DataFrame(columns=["customer_id", "date", *_engine.MOVEMENTS])
    else:
        mine = snapshot.movements.filter(snapshot.movements.customer_id == customer_id)
        movements = ws._movement_rows(mine, [], [])
    return {
        "customer": {key: _plain(record[key]) for key in order},
        "metadata": _metadata(ws, customer_id),
        "attributes": _attributes(ws, customer_id, currency, as_of, snapshot),
        "mrr_history": _mrr_history(customer_id, snapshot),
        "movements": movements,
    }


def _plain(value: object) -> object:
    """Return `value` as a plain Python object, None for a missing value."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _metadata(ws: Workspace, customer_id: str) -> dict[str, str | None]:
    md = ws.table("metadata")
    rows = md.filter((md.entity == "customer") & (md.entity_id == customer_id))
    frame = rows.select("key", "value").order_by("key").execute()
    return {row.key: _plain(row.value) for row in frame.itertuples(index=False)}  # type: ignore[misc]


def _attributes(
    ws: Workspace,
    customer_id: str,
    currency: str,
    as_of: dt.date | None,
    snapshot: _Snapshot,
) -> dict[str, str | None]:
    """Return the value of every customer-level axis for the customer on the
    report day, after label rules and buckets; None where there is none.

    The values come from the axes' own definitions applied to a one-day probe
    line, so a customer who no longer pays, or never paid, still shows the
    values in force on that day.
    """
    registry = ws.axes_registry()
    axes = [axis for axis in registry.values() if axis.level == "customer"]
    if not axes:
        return {}
    day = snapshot.report_end - dt.timedelta(days=1)
    probe = ibis.memtable(
        pd.DataFrame(
            {
                "customer_id": pd.Series([customer_id], dtype="string"),
                "start": pd.to_datetime([day]),
                "end": pd.to_datetime([snapshot.report_end]),
            }
        )
    ).mutate(start=ibis._.start.cast("date"), end=ibis._.end.cast("date"))
    if snapshot.states is None:
        # No invoice line yet: only axes that read no MRR can have a value.
        axes = [a for a in axes if not a.key.startswith("cohort_")]
        axes = [a for a in axes if not a.source.startswith("computed.")]
        states = ibis.memtable(
            pd.DataFrame(
                {
                    "customer_id": pd.Series([], dtype="string"),
                    "day": pd.Series([], dtype="datetime64[ns]"),
                    "m0_cents": pd.Series([], dtype="int64"),
                    "m1_cents": pd.Series([], dtype="int64"),
                    "kind": pd.Series([], dtype="string"),
                }
            )
        ).mutate(day=ibis._.day.cast("date"))
        lines = ws.table("invoice_lines").limit(0)
    else:
        states = snapshot.states
        lines = ws._line_mrr(currency, ws._engine_settings(as_of), snapshot.customer_id)
    ctx = ws._axis_context(lines, states)
    out: dict[str, str | None] = {}
    for axis in axes:
        # One small query per axis: chaining every axis on the probe builds one
        # expression whose compilation grows faster than the number of axes.
        name = _axes.column_name(axis.key)
        column = _axes.add_axes(probe, [axis], ctx, registry)[name].execute()
        # A value history splits the probe only where the value changes inside
        # it, which a one-day probe never does, so there is one row.
        value = column.iloc[0] if len(column) else None
        out[axis.key] = None if value is None or value == _axes.NONE_LABEL else value
    return out


def _mrr_history(customer_id: str, snapshot: _Snapshot) -> pd.DataFrame:
    """Return the customer's MRR at the end of each month, from their first
    month with MRR to the report's last month. The frame is empty for a
    customer who never paid."""
    columns = ["period", "mrr"]
    if snapshot.movements is None or not snapshot.months:
        return pd.DataFrame(columns=columns)
    mine = snapshot.movements.filter(snapshot.movements.customer_id == customer_id)
    paying = mine.filter(mine.v1_cents > 0).day.min().execute()
    if paying is None or pd.isna(paying):
        return pd.DataFrame(columns=columns)
    first = _periods.period_start(pd.Timestamp(paying).date(), "month")
    months = [m for m in snapshot.months if m >= first]
    if not months:
        return pd.DataFrame(columns=columns)
    values = _report.customer_period_values(mine, [], "month", months).execute()
    cents = {
        pd.Timestamp(day).date(): int(amount)
        for day, amount in zip(values["period"], values["mrr_cents"], strict=True)
    }
    return pd.DataFrame(
        {
            "period": [_periods.label(m, "month") for m in months],
            "mrr": [cents.get(m, 0) / 100 for m in months],
        },
        columns=columns,
    )
