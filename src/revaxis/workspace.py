"""The Workspace: one DuckDB file with the canonical tables and settings, and the
Python API over the engine."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from revaxis import _axes, _engine, _filters, _fx, _periods, _report, _storage
from revaxis._errors import InputError, Problem
from revaxis._kpis import parse_axis_key, parse_gross_margin, parse_window_months
from revaxis._schema import IMPORT_ORDER, TABLES
from revaxis._users import UserStore
from revaxis._workspace_axes import AxisAdmin

log = logging.getLogger(__name__)

DEFAULT_DB = "revaxis.duckdb"
# Segment column that marks the lines a --filter keeps ("in") or leaves ("out").
FILTER_COLUMN = "ax__filter"


@dataclass(frozen=True)
class Setting:
    """A workspace setting: its default, a parser that validates a text value, and
    what it sets."""

    default: str | None
    parse: type
    help: str


def _currency(text: str) -> str:
    code = text.strip().upper()
    from revaxis._validate import known_currency_codes

    if code not in known_currency_codes():
        raise InputError(
            f"Unknown currency {text!r}: use an ISO 4217 code such as USD."
        )
    return code


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(
            f"Invalid number of days {text!r}: write a whole number."
        ) from None
    if value < 0:
        raise InputError(f"Invalid number of days {text!r}: it cannot be negative.")
    return value


def _refunds(text: str) -> str:
    if text not in ("ignore", "remove"):
        raise InputError(f"Invalid refunds setting {text!r}: use ignore or remove.")
    return text


SETTINGS: dict[str, Setting] = {
    "currency": Setting("USD", _currency, "reporting currency, an ISO 4217 code"),
    "grace_days": Setting(
        "0",
        _non_negative_int,
        "days of renewal gap bridged without churn and reactivation",
    ),
    "delinquency_days": Setting(
        None,
        _non_negative_int,
        "days after its invoice date after which an unpaid (open or uncollectible) "
        "line stops counting; empty means unpaid lines always count",
    ),
    "refunds": Setting(
        "ignore",
        _refunds,
        "ignore: refunded lines count like paid ones; remove: they contribute nothing",
    ),
    "gross_margin": Setting(
        "1.0",
        parse_gross_margin,
        "gross margin applied to LTV and CAC payback, a fraction 0-1 (0.8 or 80%)",
    ),
    "ltv_window_months": Setting(
        "6",
        parse_window_months,
        "complete months whose mean customer churn rate gives LTV and lifetime",
    ),
    "channel_axis": Setting(
        "channel",
        parse_axis_key,
        "key of the axis whose values match the channels of marketing spend (CAC)",
    ),
}


@dataclass
class ImportReport:
    """Result of an import: rows read, imported and rejected per table."""

    source: str
    rows_read: int = 0
    rows_imported: int = 0
    rows_rejected: int = 0
    rows_changed: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Rows left out on purpose by the row filters of a mapping file.
    rows_skipped: int = 0

    def summary(self) -> str:
        changed = sum(self.rows_changed.values())
        skipped = (
            f", {self.rows_skipped} skipped by the mapping's filters"
            if self.rows_skipped
            else ""
        )
        return (
            f"{self.source}: {self.rows_read} rows read, {self.rows_imported} imported "
            f"({changed} new or changed){skipped}, {self.rows_rejected} rejected"
        )


def default_path() -> Path:
    return Path(os.environ.get("REVAXIS_DB", DEFAULT_DB))


class Workspace(AxisAdmin):
    """A revaxis workspace stored in one DuckDB file (created when absent)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.con = _storage.open_workspace(self.path)
        self._cached: list[ir.Table] = []

    def close(self) -> None:
        self._release()
        self.con.disconnect()

    def _cache(self, table: ir.Table) -> ir.Table:
        """Materialise `table` as a temporary table until the current report ends."""
        cached = table.cache()
        self._cached.append(cached)
        return cached

    def _release(self) -> None:
        while self._cached:
            self._cached.pop().release()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def users(self) -> UserStore:
        """Users of the web app and REST API, and their API tokens."""
        return UserStore(self.con.con)

    # Settings -----------------------------------------------------------------

    @property
    def settings(self) -> dict[str, str | None]:
        stored = _storage.read_settings(self.con)
        return {key: stored.get(key, spec.default) for key, spec in SETTINGS.items()}

    def set_setting(self, key: str, value: object) -> None:
        """Validate and store a setting; None restores its default."""
        if key not in SETTINGS:
            raise InputError(
                f"Unknown setting {key!r}. Settings: {', '.join(SETTINGS)}."
            )
        if value is None or value == "":
            _storage.write_setting(self.con, key, None)
            return
        parsed = SETTINGS[key].parse(str(value))
        _storage.write_setting(self.con, key, str(parsed))

    def report_currency(self, currency: str | None = None) -> str:
        chosen = (
            currency or os.environ.get("REVAXIS_CURRENCY") or self.settings["currency"]
        )
        return _currency(str(chosen))

    # Import -------------------------------------------------------------------

    def load(
        self,
        tables: dict[str, pd.DataFrame],
        *,
        source: str = "data",
        format: str = "frames",
        files: dict[str, str] | None = None,
        base_currency: str | None = None,
    ) -> ImportReport:
        """Validate canonical tables and write them in one transaction.

        Rows replace stored rows with the same id, so loading the same data twice
        changes nothing. Any invalid row rejects the whole import with every
        problem listed (ImportRejected) and leaves the workspace unchanged.
        `files` names the source file of each table for the problem messages.
        """
        unknown = set(tables) - set(IMPORT_ORDER)
        if unknown:
            raise InputError(
                f"Unknown table(s) {', '.join(sorted(unknown))}: expected "
                f"{', '.join(IMPORT_ORDER)}."
            )
        from revaxis import _importers

        report = _importers.load_frames(
            self,
            tables,
            source=source,
            format=format,
            files=files or {},
            base_currency=base_currency,
        )
        log.info("%s", report.summary())
        return report

    def import_path(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        mapping: str | os.PathLike[str] | None = None,
        progress: bool = False,
        *,
        chunk_size: int | None = None,
        source_name: str | None = None,
    ) -> ImportReport:
        """Import a canonical CSV folder (format csv), a subscription-periods CSV
        (periods) or any CSV or Excel export through a mapping file (mapped), in
        one transaction. The formats are described in docs/import.md.

        `source_name` is what the import log and report call the source (the
        uploaded file's name, say), instead of `path`."""
        from revaxis import _importers

        return _importers.import_path(
            self,
            path,
            format=format,
            mapping=mapping,
            progress=progress,
            chunk_size=(
                _importers.DEFAULT_CHUNK_ROWS if chunk_size is None else chunk_size
            ),
            source_name=source_name,
        )

    def sync_stripe(
        self,
        api_key: str,
        *,
        account: str = "stripe",
        since: dt.date | None = None,
        api_base: str = "https://api.stripe.com",
    ) -> ImportReport:
        """Read a Stripe account through its API and upsert its objects; a later
        sync of the same account reads only what changed. See docs/connectors.md."""
        from revaxis import _stripe_sync

        return _stripe_sync.sync_stripe(
            self, api_key, account=account, since=since, api_base=api_base
        )

    def sync_chargebee(
        self,
        *,
        site: str,
        api_key: str,
        since: dt.date | None = None,
        api_base: str | None = None,
    ) -> ImportReport:
        """Read a Chargebee site through its API and upsert its resources; a later
        sync of the same site reads only what changed. See docs/connectors.md."""
        from revaxis import _chargebee_sync

        return _chargebee_sync.sync_chargebee(
            self, api_key, site=site, since=since, api_base=api_base
        )

    def import_log(self) -> pd.DataFrame:
        """Return the log of imports and syncs, newest first: imported_at,
        source, format, rows_read, rows_imported and rows_rejected."""
        table = self.con.table("import_log")
        return table.order_by(table.imported_at.desc()).execute()

    # Tables -------------------------------------------------------------------

    def table(self, name: str) -> ir.Table:
        if name not in TABLES:
            raise InputError(f"Unknown table {name!r}: expected {', '.join(TABLES)}.")
        return self.con.table(name)

    def counts(self) -> dict[str, int]:
        return _storage.table_counts(self.con)

    # Engine -------------------------------------------------------------------

    def _engine_settings(self, as_of: dt.date | None) -> _engine.EngineSettings:
        s = self.settings
        return _engine.EngineSettings(
            grace_days=int(s["grace_days"] or 0),
            delinquency_days=(
                int(s["delinquency_days"]) if s["delinquency_days"] else None
            ),
            refunds=s["refunds"] or "ignore",
            as_of=as_of or dt.date.today(),
        )

    def _rates(self, currency: str, lines: ir.Table) -> ir.Table:
        """Return the daily rates of the currencies of `lines` over the days
        their recurring lines start. A rate depends only on its currency and
        day, so a subset of the lines gets the same rates for its days."""
        recurring = lines.filter(lines.kind.isin(["subscription", "usage"]))
        spans = (
            recurring.group_by("currency")
            .aggregate(
                first=recurring.service_period_start.min(),
                last=recurring.service_period_start.max(),
            )
            .execute()
        )
        if spans.empty:
            frame = pd.DataFrame({"day": [], "currency": [], "rate": []})
        else:
            frame = _fx.daily_rates(
                set(spans["currency"]),
                currency,
                pd.Timestamp(spans["first"].min()).date(),
                pd.Timestamp(spans["last"].max()).date(),
                self.table("fx_rates").execute(),
            )
        frame = frame.astype({"currency": "string", "rate": "float64"})
        frame["day"] = pd.to_datetime(frame["day"])
        return ibis.memtable(frame).mutate(day=ibis._.day.cast("date"))

    def _line_mrr(
        self,
        currency: str,
        settings: _engine.EngineSettings,
        customer_id: str | None = None,
    ) -> ir.Table:
        """Build (and cache) the MRR of every invoice line in `currency`, or of
        the lines of `customer_id` only. Raise MissingRateError when a line's
        currency has no rate on its start day."""
        lines = self.table("invoice_lines")
        if customer_id is not None:
            lines = lines.filter(lines.customer_id == customer_id)
        lm = _engine.line_mrr(
            lines, self.table("subscriptions"), self._rates(currency, lines), settings
        )
        lm = self._cache(lm)
        missing = (
            lm.filter(lm.rate.isnull())
            .select("currency", day=lm.service_period_start)
            .distinct()
            .limit(20)
            .execute()
        )
        if not missing.empty:
            raise _fx.missing_rate_error(
                [
                    (r.currency, pd.Timestamp(r.day).date())
                    for r in missing.itertuples()
                ],
                currency,
            )
        return lm

    def _axis_context(self, lm: ir.Table, states: ir.Table) -> _axes.AxisContext:
        """Return the tables that axes read, for the line MRR `lm` and the
        customer states `states` of one report."""
        return _axes.AxisContext(
            customers=self.table("customers"),
            plans=self.table("plans"),
            products=self.table("products"),
            subscriptions=self.table("subscriptions"),
            metadata=self.table("metadata"),
            axis_values=self.con.table("axis_values"),
            acquisition=_engine.acquisition_days(states),
            states=states,
            lines=lm,
        )

    def _check_has_lines(self) -> None:
        """Raise InputError when the workspace has no invoice lines to report on."""
        if self.counts()["invoice_lines"] == 0:
            raise InputError(
                f"Workspace {self.path} has no invoice lines. Import billing data "
                "with `revaxis import PATH` or write a demo history with "
                "`revaxis demo`."
            )

    def _pipeline(
        self,
        by: Sequence[str],
        currency: str,
        as_of: dt.date | None,
        *,
        filter_text: str | None = None,
        registry: dict[str, _axes.Axis] | None = None,
        customer_id: str | None = None,
    ) -> tuple[ir.Table, ir.Table, list[str]]:
        """Build (and cache) the movements by segment and the customer states.

        A filter becomes one more segment column, in or out per line, so MRR
        moving into or out of the filtered set is a transfer. Only the rows of
        lines in the filter are returned.

        `customer_id` restricts the work to that customer's invoice lines.
        Rates depend only on currency and day, every later step groups by
        customer, and every axis value belongs to the customer or to one of
        its lines, so that customer's rows are the same as without the
        restriction. A filter's values are then checked against that
        customer's lines only."""
        self._check_has_lines()
        settings = self._engine_settings(as_of)
        if registry is None:
            registry = self.axes_registry()
        axes = _axes.resolve(list(by), registry)
        flt = _filters.parse_filter(filter_text) if filter_text else None
        extra = []
        if flt is not None:
            _filters.check_filter(flt, registry, {})
            extra = [k for k in flt.axes if k not in by]
        lm = self._line_mrr(currency, settings, customer_id)
        report_day = settings.as_of or dt.date.today()
        base_ev = _base_events(lm, settings)
        # Left lazy: with an axis the states are rebuilt from the segment events,
        # and these only feed the acquisition days of cohort axes.
        states = _engine.customer_states(base_ev)
        ctx = self._axis_context(lm, states)
        lines = _axes.add_axes(
            lm, [*axes, *_axes.resolve(extra, registry)], ctx, registry
        )
        columns = [_axes.column_name(a.key) for a in axes]
        if flt is not None:
            lines = self._cache(lines)
            named = {k: lines[_axes.column_name(k)] for k in flt.axes}
            # Only values compared with =, !=, in and not in must exist.
            checked = {key for key, _, _ in flt.literals}
            known = {
                k: set(lines.select(c=named[k]).distinct().c.execute().tolist())
                for k in checked
            }
            _filters.check_filter(flt, registry, known)
            lines = lines.mutate(
                **{FILTER_COLUMN: ibis.ifelse(flt.predicate(named), "in", "out")}
            )
            columns = [*columns, FILTER_COLUMN]
        if columns:
            ev = _engine.bridge_grace_gaps(
                _engine.events(lines, columns), settings.grace_days
            )
            # Changes after the report day are scheduled, not yet happened: MRR
            # is never projected past it.
            ev = self._cache(ev.filter(ev.day <= report_day))
            # Days on which MRR only moves between segments (a value history)
            # have no change for the customer but still need a state row.
            states = self._cache(_engine.customer_states(ev))
        else:
            ev = self._cache(base_ev)
            states = self._cache(states)
        cur_fx = _engine.currency_fx(ev, states, currency)
        movements = _engine.segment_movements(ev, states, cur_fx, columns)
        if flt is not None:
            movements = movements.filter(movements[FILTER_COLUMN] == "in").drop(
                FILTER_COLUMN
            )
            columns = columns[:-1]
        movements = self._cache(movements)
        return movements, states, columns

    def _sort_key(self, keys: Sequence[str]) -> Callable[[pd.Series], pd.Series]:
        """Return the `key` for DataFrame.sort_values that lists the values of
        the axes `keys` in their order, bucket axes from the lowest edge up."""
        return _axes.sort_key(_axes.resolve(list(keys), self.axes_registry()))

    def _customer_states(self, currency: str, as_of: dt.date | None) -> ir.Table:
        """Build (and cache) the MRR states of every customer, as `_pipeline`
        returns them without axes, but without the movements."""
        settings = self._engine_settings(as_of)
        lm = self._line_mrr(currency, settings)
        return self._cache(_engine.customer_states(_base_events(lm, settings)))

    def _default_range(
        self,
        interval: _periods.Interval,
        start: str | None,
        end: str | None,
        states: ir.Table,
        as_of: dt.date | None = None,
    ) -> list[dt.date] | None:
        """Return the start days of the report's periods.

        They run from `start`, else the first period with MRR. They end at
        `end`, else at the report day's period while anyone pays, else at the
        period of the latest invoice date or MRR change, never after the report
        day. Raises PeriodRangeError when they are empty or more than
        `_periods.MAX_PERIODS`."""
        if start is not None:
            first = _periods.parse_label(start, interval)
        else:
            paying = states.filter(states.m1_cents > 0).day.min().execute()
            if paying is None or pd.isna(paying):
                return None
            first = _periods.period_start(pd.Timestamp(paying).date(), interval)
        if end is not None:
            last = _periods.parse_label(end, interval)
        else:
            report_day = as_of or dt.date.today()
            if self._anyone_paying(states):
                last_day = report_day
            else:
                days = [
                    self.table("invoice_lines").invoice_date.max().execute(),
                    states.day.max().execute(),
                ]
                known = [
                    pd.Timestamp(d).date()
                    for d in days
                    if d is not None and not pd.isna(d)
                ]
                if not known:
                    return None
                last_day = min(max(known), report_day)
            last = _periods.period_start(last_day, interval)
        return _periods.period_range(first, last, interval)

    @staticmethod
    def _anyone_paying(states: ir.Table) -> bool:
        """Return whether any customer pays at the end of the report day."""
        latest = states.group_by("customer_id").aggregate(
            m1=states.m1_cents.argmax(states.day)
        )
        return int(latest.filter(latest.m1 > 0).count().execute()) > 0

    def _coverage_end(self, states: ir.Table, as_of: dt.date | None) -> dt.date:
        """First day after the moment that coverage and previews describe: the
        report day while anyone pays, else the end of the month of the latest
        invoice (so a workspace of past data shows its last state)."""
        report_day = as_of or dt.date.today()
        if self._anyone_paying(states):
            return report_day + dt.timedelta(days=1)
        invoiced = self.table("invoice_lines").invoice_date.max().execute()
        if invoiced is None or pd.isna(invoiced):
            return report_day + dt.timedelta(days=1)
        last = min(pd.Timestamp(invoiced).date(), report_day)
        return _periods.next_start(_periods.period_start(last, "month"), "month")

    def movements(
        self,
        by: str | Sequence[str] | None = None,
        *,
        currency: str | None = None,
        as_of: dt.date | None = None,
        filter: str | None = None,
    ) -> pd.DataFrame:
        """Return one row per customer, segment and day with a movement: customer_id,
        date, one column per axis, and the movement amounts (churn and
        contraction as positive numbers) in the reporting currency."""
        keys = _split(by)
        movements, _, columns = self._pipeline(
            keys, self.report_currency(currency), as_of, filter_text=filter
        )
        try:
            return self._movement_rows(movements, columns, keys)
        finally:
            self._release()

    def _movement_rows(
        self, movements: ir.Table, columns: list[str], keys: list[str]
    ) -> pd.DataFrame:
        """Execute the nonzero rows of the engine's `movements` and shape them as
        `movements` returns them; `columns` are the axis columns for `keys`."""
        names = list(_engine.MOVEMENTS)
        nonzero = ibis.or_(*[movements[n] != 0 for n in names])
        frame = movements.filter(nonzero).execute()
        frame = frame.rename(
            columns={"day": "date", **dict(zip(columns, keys, strict=True))}
        )
        for name in names:
            frame[name] = frame[name].astype("int64") / 100
        frame["date"] = pd.to_datetime(frame["date"]).dt.date
        frame = frame.sort_values(
            ["customer_id", "date", *keys], kind="stable", key=self._sort_key(keys)
        )
        return frame[["customer_id", "date", *keys, *names]].reset_index(drop=True)

    def axes(
        self, *, currency: str | None = None, as_of: dt.date | None = None
    ) -> pd.DataFrame:
        """Return one row per axis: key, label, level, source, number of values, the
        share of paying customers (`customers_coverage`) and of MRR
        (`mrr_coverage`) with a value, at the end of the latest period.

        The numbers are those of `movements` by each axis, read from the
        change events of its segments, which is all they need."""
        cur = self.report_currency(currency)
        self._check_has_lines()
        registry = self.axes_registry()
        settings = self._engine_settings(as_of)
        try:
            lm = self._line_mrr(cur, settings)
            states = self._cache(_engine.customer_states(_base_events(lm, settings)))
            ctx = self._axis_context(lm, states)
            rows = [
                self._coverage_row(axis, ctx, registry, settings)
                for axis in registry.values()
            ]
        finally:
            self._release()
        columns_out = [
            "key",
            "label",
            "level",
            "source",
            "values",
            "customers_coverage",
            "mrr_coverage",
        ]
        return pd.DataFrame(rows, columns=columns_out)

    def _coverage_row(
        self,
        axis: _axes.Axis,
        ctx: _axes.AxisContext,
        registry: dict[str, _axes.Axis],
        settings: _engine.EngineSettings,
    ) -> dict[str, object]:
        """Count the values of `axis` and its coverage at the end of the day
        before `_coverage_end`.

        A segment's MRR at the end of a day is the sum of its event changes up
        to that day, and counts while the customer pays. These are the values
        after the segment's last row of `segment_movements` before then: a
        customer who starts or stops paying after a segment's last change
        gets a row for every segment whose MRR is not zero. So the events and
        the customer states are enough, without classifying the movements."""
        column = _axes.column_name(axis.key)
        lines = _axes.add_axes(ctx.lines, [axis], ctx, registry)
        ev = _engine.bridge_grace_gaps(
            _engine.events(lines, [column]), settings.grace_days
        )
        report_day = settings.as_of or dt.date.today()
        ev = self._cache(ev.filter(ev.day <= report_day))
        # As in `_pipeline`, a value history adds days on which MRR only moves
        # between segments, which can change how renewal gaps are bridged.
        states = self._cache(_engine.customer_states(ev))
        end = self._coverage_end(states, settings.as_of)

        values = ev.filter(ev[column] != _axes.NONE_LABEL)[column].nunique()
        done = ev.filter(ev.day < end)
        segments = done.group_by(["customer_id", column]).aggregate(
            mrr_cents=done.d_cents.sum()
        )
        before = states.filter(states.day < end)
        last = before.group_by("customer_id").aggregate(
            m1_cents=before.m1_cents.argmax(before.day)
        )
        last = last.filter(last.m1_cents > 0).select(p_customer="customer_id")
        paying = segments.join(last, segments.customer_id == last.p_customer)
        paying = paying.filter(paying.mrr_cents > 0).select(
            "customer_id", column, "mrr_cents"
        )
        frame = paying.execute()
        has_value = frame[frame[column] != _axes.NONE_LABEL]
        customers = frame["customer_id"].nunique()
        total_mrr = int(frame["mrr_cents"].sum())
        return {
            "key": axis.key,
            "label": axis.label,
            "level": axis.level,
            "source": axis.source,
            "values": int(values.execute()),
            "customers_coverage": (
                round(has_value["customer_id"].nunique() / customers, 4)
                if customers
                else None
            ),
            "mrr_coverage": (
                round(int(has_value["mrr_cents"].sum()) / total_mrr, 4)
                if total_mrr
                else None
            ),
        }

    def customer_mrr(
        self,
        by: str | Sequence[str] | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        interval: str = "month",
        currency: str | None = None,
        as_of: dt.date | None = None,
        filter: str | None = None,
    ) -> pd.DataFrame:
        """Return one row per customer, segment and period in which the customer
        pays in that segment at the period's end.

        The columns are customer_id, one per axis, period (label), acquired_on
        (day of the customer's new movement) and mrr at the end of the period's
        last day."""
        keys = _split(by)
        period_interval = _periods.check_interval(interval)
        movements, states, columns = self._pipeline(
            keys, self.report_currency(currency), as_of, filter_text=filter
        )
        try:
            periods = self._default_range(period_interval, start, end, states, as_of)
            out_columns = ["customer_id", *keys, "period", "acquired_on", "mrr"]
            if periods is None:
                return pd.DataFrame(columns=out_columns)
            values = _report.customer_period_values(
                movements, columns, period_interval, periods
            )
            acquisition = _engine.acquisition_days(states).rename(
                a_customer="customer_id"
            )
            values = values.left_join(
                acquisition, values.customer_id == acquisition.a_customer
            ).drop("a_customer")
            frame = values.execute()
        finally:
            self._release()
        frame = frame.rename(columns=dict(zip(columns, keys, strict=True)))
        frame["period"] = [
            _periods.label(pd.Timestamp(d).date(), period_interval)
            for d in frame["period"]
        ]
        frame["acquired_on"] = pd.to_datetime(frame["acquired_on"]).dt.date
        frame["mrr"] = frame.pop("mrr_cents").astype("int64") / 100
        frame = frame.sort_values(
            ["customer_id", *keys, "period"], kind="stable", key=self._sort_key(keys)
        )
        return frame[out_columns].reset_index(drop=True)

    def mrr(
        self,
        by: str | Sequence[str] | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        interval: str = "month",
        currency: str | None = None,
        as_of: dt.date | None = None,
        filter: str | None = None,
    ) -> pd.DataFrame:
        """Return the MRR bridge: one row per period (and segment).

        The columns are period, one per axis, mrr_start, new, expansion,
        contraction, churn, reactivation, transfer_in, transfer_out, fx, mrr_end,
        customers_start, customers_end, new_customers, churned_customers and
        reactivated_customers.

        `filter` keeps the lines whose axis values match an expression such as
        "channel = 'SEO' and country in ('FR', 'DE')" (docs/axes-custom.md)."""
        keys = _split(by)
        period_interval = _periods.check_interval(interval)
        movements, states, columns = self._pipeline(
            keys, self.report_currency(currency), as_of, filter_text=filter
        )
        try:
            periods = self._default_range(period_interval, start, end, states, as_of)
            if periods is None:
                return _report.to_frame(None, columns, keys, period_interval, [])
            table = _report.period_table(
                movements, states, columns, period_interval, periods
            )
            return _report.to_frame(
                table, columns, keys, period_interval, periods, self._sort_key(keys)
            )
        finally:
            self._release()

    def kpis(
        self,
        by: str | Sequence[str] | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        interval: str = "month",
        currency: str | None = None,
        as_of: dt.date | None = None,
        filter: str | None = None,
    ) -> pd.DataFrame:
        """Subscription KPIs per period and segment (ARR, ARPA, churn rates, NRR,
        GRR, LTV, CAC...), one row per row of `mrr` with the same arguments. The
        columns are defined in docs/kpis.md."""
        from revaxis import _kpis

        return _kpis.kpis(
            self,
            by,
            start=start,
            end=end,
            interval=interval,
            currency=currency,
            as_of=as_of,
            filter=filter,
        )

    def cohorts(
        self,
        by: str | Sequence[str] | None = None,
        *,
        interval: str = "month",
        currency: str | None = None,
        as_of: dt.date | None = None,
        filter: str | None = None,
    ) -> pd.DataFrame:
        """Retention of acquisition cohorts in long form: one row per cohort,
        segment at acquisition and age in periods (docs/kpis.md)."""
        from revaxis import _cohorts

        return _cohorts.cohorts(
            self,
            by,
            interval=interval,
            currency=currency,
            as_of=as_of,
            filter=filter,
        )

    def drill(
        self,
        kpi: str,
        period: str,
        *,
        by: str | Sequence[str] | None = None,
        segment: dict[str, str] | Sequence[str] | None = None,
        interval: str = "month",
        currency: str | None = None,
        as_of: dt.date | None = None,
        filter: str | None = None,
    ):
        """List the customers and movements behind one number of `mrr` or
        `kpis`: `kpi` in `period` for `segment` (one value per axis of `by`).
        Returns a `Drill` whose rows' contributions sum to its `total`."""
        from revaxis import _drill

        return _drill.drill(
            self,
            kpi,
            period,
            by=_split(by),
            segment=segment,
            interval=interval,
            currency=currency,
            as_of=as_of,
            filter=filter,
        )

    def lifetimes(
        self,
        by: str | Sequence[str] | None = None,
        *,
        curve: bool = False,
        currency: str | None = None,
        as_of: dt.date | None = None,
        filter: str | None = None,
    ) -> pd.DataFrame:
        """Kaplan-Meier customer lifetimes per segment at acquisition: the median
        in months with its 95 % confidence interval, or with `curve` the survival
        curve (docs/kpis.md)."""
        from revaxis import _lifetimes

        return _lifetimes.lifetimes(
            self, by, curve=curve, currency=currency, as_of=as_of, filter=filter
        )

    def customers(
        self,
        search: str | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        currency: str | None = None,
        as_of: dt.date | None = None,
    ) -> tuple[pd.DataFrame, int]:
        """Return one page of customers and the number of customers matching
        `search` (in id, name, email or company, ignoring case).

        The columns are customer_id, name, email, company, country (the code
        that the country axis gives, before its label rules), mrr (at the
        report day, 0 when not paying), status (active, churned or never) and
        acquired_on. Rows run from the largest MRR down, then by id. The report
        day is the last day of the last month that `mrr` reports."""
        from revaxis import _customers

        return _customers.customers(
            self, search, limit=limit, offset=offset, currency=currency, as_of=as_of
        )

    def customer(
        self,
        customer_id: str,
        *,
        currency: str | None = None,
        as_of: dt.date | None = None,
    ) -> dict[str, object]:
        """Return one customer's details, or raise InputError for an unknown id.

        The dict has five keys:
        - `customer`: the row of `customers`, with every column of the
          customers table and `country_raw`, the country as imported;
        - `metadata`: the customer's billing metadata, key to value;
        - `attributes`: the value of every customer-level axis at the report
          day, None where the customer has none;
        - `mrr_history`: period and mrr at the end of each month, from the
          customer's first paying month to the report's last month;
        - `movements`: the customer's rows of `movements`."""
        from revaxis import _customers

        return _customers.customer(self, customer_id, currency=currency, as_of=as_of)


def _base_events(lm: ir.Table, settings: _engine.EngineSettings) -> ir.Table:
    """Build the change events of the line MRR `lm` without axes, renewal gaps
    bridged. Changes after the report day are scheduled, not yet happened, so
    MRR is never projected past it."""
    report_day = settings.as_of or dt.date.today()
    ev = _engine.bridge_grace_gaps(_engine.events(lm, []), settings.grace_days)
    return ev.filter(ev.day <= report_day)


def _split(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [k.strip() for k in by.split(",") if k.strip()]
    return list(by)
