"""Importers: read billing data from files into the canonical tables.

Three formats, described in docs/import.md:

- `csv`: a folder of canonical CSV files (customers.csv, invoice_lines.csv, ...);
- `periods`: one CSV of subscription periods (customer, start, end, monthly
  amount), turned into customers and invoice lines;
- `mapped`: any CSV or Excel export, read through a TOML mapping file.

Every format reads its files in chunks of `chunk_size` rows and validates each
chunk with the checks of `Workspace.load`, so validation keeps one chunk in
memory. The rows that pass are staged in DuckDB temporary tables (`_staging`),
where the checks that need every row run. Only when no file has a problem are
the staged rows written, in one transaction, so an import writes everything or
changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from revaxis import _engine
from revaxis._errors import ImportRejected, InputError, Problem
from revaxis._mapping import (
    Mapping,
    SourceColumns,
    check_columns,
    load_mapping,
    mapping_error,
    packaged_mappings,
)
from revaxis._readers import (
    READ_ERRORS,
    CsvFile,
    ExcelSheet,
    HeaderError,
    ProgressBar,
)
from revaxis._schema import IMPORT_ORDER, TABLES
from revaxis._staging import Staging, Target
from revaxis._validate import (
    LINE,
    METADATA_PREFIX,
    FrameChecker,
    _blank,
    check_frame,
    known_currency_codes,
)
from revaxis.workspace import ImportReport

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

__all__ = ["DEFAULT_CHUNK_ROWS", "FORMATS", "import_path", "packaged_mappings"]

log = logging.getLogger(__name__)

FORMATS = ("csv", "periods", "mapped")
DEFAULT_CHUNK_ROWS = 200_000

# Files of a canonical folder; the first two are required.
REQUIRED_FILES = ("customers.csv", "invoice_lines.csv")
CANONICAL_FILES = {f"{name}.csv": name for name in IMPORT_ORDER}

PERIOD_REQUIRED = ("customer_id", "start_date", "end_date", "monthly_amount")
PERIOD_OPTIONAL = ("subscription_id", "currency")

# Tables that describe an entity which an export repeats on many rows.
ENTITY_TABLES = ("customers", "products", "plans", "subscriptions")

EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def import_path(
    ws: Workspace,
    path: str | os.PathLike[str],
    format: str | None = None,
    mapping: str | os.PathLike[str] | None = None,
    progress: bool = False,
    *,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
) -> ImportReport:
    """Import a folder or file into the workspace in one transaction.

    `format` is csv (the default for a folder), periods or mapped (the default
    when `mapping` is given). `mapping` is a TOML file or the name of a mapping
    shipped with revaxis (see `packaged_mappings`). Raises ImportRejected, with
    every problem of every file, when any row is invalid; the workspace is then
    unchanged. Raises InputError for an invalid path, format or mapping file.
    """
    source = Path(path)
    if not source.exists():
        raise InputError(
            f"Import path {str(source)!r} not found: give a folder of canonical CSV "
            "files or a periods or billing export file."
        )
    chosen = _choose_format(source, format, mapping)
    if chunk_size < 1:
        raise InputError(f"Invalid chunk size {chunk_size}: use 1 or more rows.")
    parsed = load_mapping(mapping) if mapping is not None else None
    started = time.perf_counter()
    log.info("import of %s (format %s) started", source, chosen)
    run = _Run(ws, Staging(ws.con.con), chunk_size)
    try:
        if parsed is not None:
            _import_mapped(run, source, parsed, progress)
        elif chosen == "periods":
            _import_periods(run, source, progress)
        else:
            _import_folder(run, source, progress)
        report = run.finish(str(source), chosen)
    except ImportRejected as exc:
        log.info(
            "import of %s rejected: %d problem(s) in %d row(s) read",
            source,
            len(exc.problems),
            exc.rows_read,
        )
        raise
    finally:
        run.staging.drop()
    log.info(
        "import of %s finished in %.1f s: %s",
        source,
        time.perf_counter() - started,
        report.summary(),
    )
    return report


def _choose_format(
    path: Path, format: str | None, mapping: str | os.PathLike[str] | None
) -> str:
    if format is None:
        if path.is_dir():
            format = "csv"
        elif mapping is not None:
            format = "mapped"
        else:
            raise InputError(
                f"{str(path)!r} is a file, so the format is needed: use periods for "
                "a subscription-periods CSV, or mapped with a mapping file for any "
                "other billing export."
            )
    if format not in FORMATS:
        raise InputError(f"Unknown import format {format!r}: use {', '.join(FORMATS)}.")
    if format == "csv" and not path.is_dir():
        raise InputError(
            f"The csv format reads a folder of canonical CSV files, and {str(path)!r} "
            "is a file: give its folder, or use the periods or mapped format."
        )
    if format != "csv" and path.is_dir():
        raise InputError(
            f"The {format} format reads one file, and {str(path)!r} is a folder: "
            "give the file, or use the csv format for a folder."
        )
    if format == "mapped" and mapping is None:
        raise InputError(
            "The mapped format needs a mapping: give a TOML mapping file or the "
            f"name of a shipped mapping ({', '.join(packaged_mappings())})."
        )
    if format != "mapped" and mapping is not None:
        raise InputError(
            f"A mapping is read only by the mapped format, not by {format}: drop the "
            "mapping or use the mapped format."
        )
    return format


# Import runs ----------------------------------------------------------------


@dataclass
class _Run:
    """State of one import: the staging tables, problems and row counts."""

    ws: Workspace
    staging: Staging
    chunk_size: int
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    rows_skipped: int = 0
    file_order: list[str] = field(default_factory=list)
    # Typed plans of this import, for lines that take their plan's interval.
    plans: list[pd.DataFrame] = field(default_factory=list)

    def problem(self, file: str, line: int | None, reason: str) -> None:
        """Add a problem about a whole line or file."""
        self.problems.append(Problem(file, line, None, None, reason))

    def stage(self, target: Target, frame: pd.DataFrame) -> None:
        """Validate one chunk of a canonical table and stage the rows that pass."""
        if target.file not in self.file_order:
            self.file_order.append(target.file)
        good, meta, found = check_frame(
            target.name, frame, target.file, check_duplicates=False
        )
        if target.name == "plans":
            self.plans.append(good)
        if target.name == "invoice_lines":
            found.extend(self._fill_service_periods(good, target.file))
        self.problems.extend(_shown_problem(p, target) for p in found)
        self.staging.add(target, good, meta)

    def _fill_service_periods(self, lines: pd.DataFrame, file: str) -> list[Problem]:
        clean = {"invoice_lines": lines}
        if self.plans:
            clean["plans"] = pd.concat(self.plans, ignore_index=True)
        return self.ws._fill_service_periods(clean, {"invoice_lines": file})

    def read_header(self, csv: CsvFile, file: str) -> list[str] | None:
        """Read the file's column names; return None, with a problem added, when
        the header cannot be read."""
        if file not in self.file_order:
            self.file_order.append(file)
        try:
            return csv.read_header()
        except HeaderError as exc:
            self.problem(file, exc.line, str(exc))
        except READ_ERRORS as exc:
            self.problem(file, None, _read_reason(exc))
        return None

    def csv_chunks(
        self, csv: CsvFile, file: str, on_bytes: Callable[[int], None]
    ) -> Iterator[pd.DataFrame]:
        """Chunks of a CSV file. A line with the wrong number of fields, or a file
        that cannot be read further, adds a problem."""

        def bad_line(line: int | None, text: str, expected: int, found: int) -> None:
            self.rows_read += 1
            self.problem(
                file,
                line,
                f"the line has {found} field(s) but the header has {expected}; "
                f"quote values that contain the delimiter {csv.delimiter!r}",
            )

        try:
            for chunk in csv.chunks(self.chunk_size, on_bytes, bad_line):
                self.rows_read += len(chunk)
                yield chunk
        except READ_ERRORS as exc:
            self.problem(file, None, _read_reason(exc))

    def finish(self, source: str, format: str) -> ImportReport:
        """Check keys across all chunks, then write everything or raise."""
        self.problems.extend(self.staging.key_problems())
        if self.problems:
            raise ImportRejected(self._ordered_problems(), self.rows_read)
        report = ImportReport(
            source,
            rows_read=self.rows_read,
            rows_imported=self.rows_read - self.rows_skipped,
            rows_skipped=self.rows_skipped,
        )
        report.rows_changed = self.staging.write(
            {
                "source": source,
                "format": format,
                "rows_read": report.rows_read,
                "rows_imported": report.rows_imported,
                "rows_rejected": 0,
            }
        )
        return report

    def _ordered_problems(self) -> list[Problem]:
        unique = list(dict.fromkeys(self.problems))
        rank = {file: i for i, file in enumerate(self.file_order)}
        return sorted(unique, key=lambda p: (rank.get(p.file, len(rank)), p.line or 0))


def _shown_problem(problem: Problem, target: Target) -> Problem:
    """Rename the problem's field to the source column, and name the mapping's
    date format in the reason when one applies."""
    reason = problem.reason
    date_format = target.date_formats.get(problem.field or "")
    if date_format is not None and reason.startswith("invalid date"):
        reason = (
            f"invalid date; expected the date_format {date_format!r} of the mapping"
        )
    return dataclasses.replace(
        problem, field=target.shown(problem.field), reason=reason
    )


def _read_reason(exc: BaseException) -> str:
    return (
        f"the file cannot be read as CSV ({exc}); fix the quoting on that line, "
        "or save the file as UTF-8"
    )


# Canonical folder -----------------------------------------------------------


def _import_folder(run: _Run, folder: Path, progress: bool) -> None:
    found = {
        p.name: p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() == ".csv" and not p.name.startswith(".")
    }
    unknown = sorted(set(found) - set(CANONICAL_FILES))
    missing = [name for name in REQUIRED_FILES if name not in found]
    run.file_order.extend([*unknown, *missing])
    for name in unknown:
        run.problem(
            name,
            None,
            f"unknown file in a canonical import folder, which holds only "
            f"{', '.join(CANONICAL_FILES)}; rename the file or move it out of the "
            "folder",
        )
    for name in missing:
        run.problem(
            name,
            None,
            f"missing required file {name} in {str(folder)!r}; a canonical import "
            "needs customers.csv and invoice_lines.csv",
        )
    files = [(found[f], table) for f, table in CANONICAL_FILES.items() if f in found]
    total = sum(path.stat().st_size for path, _ in files)
    done = 0
    with ProgressBar(progress, total, "bytes") as bar:
        for path, table in files:

            def advance(
                position: int, base: int = done, label: str = path.name
            ) -> None:
                bar.update(base + position, label)

            _import_canonical_file(run, table, path, advance)
            done += path.stat().st_size


def _import_canonical_file(
    run: _Run, table: str, path: Path, on_bytes: Callable[[int], None]
) -> None:
    spec = TABLES[table]
    csv = CsvFile(path)
    header = run.read_header(csv, path.name)
    if header is None:
        return
    missing = [c for c in spec.required if c not in header]
    if missing:
        run.problem(
            path.name,
            1,
            f"missing required column(s) {', '.join(missing)}; the header must "
            f"name them (expected columns: {', '.join(spec.columns)})",
        )
        return
    ignored = [
        c
        for c in header
        if c not in spec.columns
        and not (spec.metadata_entity and c.startswith(METADATA_PREFIX))
    ]
    if ignored:
        log.warning("%s: ignoring unknown column(s) %s", path.name, ", ".join(ignored))
    target = Target(table, path.name)
    base = str(run.ws.settings["currency"])
    for chunk in run.csv_chunks(csv, path.name, on_bytes):
        if table == "fx_rates":
            chunk = _with_fx_base(chunk, base)
        run.stage(target, chunk)


def _with_fx_base(chunk: pd.DataFrame, base: str) -> pd.DataFrame:
    """fx_rates rows without a base take the workspace currency."""
    if "base" not in chunk:
        return chunk.assign(base=base)
    blank = chunk["base"].str.strip() == ""
    return chunk.assign(base=chunk["base"].where(~blank, base))


# Subscription periods -------------------------------------------------------


def _import_periods(run: _Run, path: Path, progress: bool) -> None:
    file = path.name
    csv = CsvFile(path)
    header = run.read_header(csv, file)
    if header is None:
        return
    missing = [c for c in PERIOD_REQUIRED if c not in header]
    if missing:
        run.problem(
            file,
            1,
            f"missing required column(s) {', '.join(missing)}; a periods file has "
            f"the columns {', '.join(PERIOD_REQUIRED)} and optionally "
            f"{', '.join(PERIOD_OPTIONAL)}",
        )
        return
    currency = str(run.ws.settings["currency"])
    customers = Target("customers", file, conflicts="last", write="missing")
    lines = Target(
        "invoice_lines",
        file,
        fields={
            "invoice_id": "customer_id/subscription_id/start_date/end_date",
            "service_period_start": "start_date",
            "service_period_end": "end_date",
            "amount": "monthly_amount",
        },
        key_shown="invoice_id",
        duplicate_reason=(
            "another period with the same customer_id, subscription_id and dates "
            "has another monthly_amount or currency on line(s) {others}; give the "
            "two periods different subscription_id values"
        ),
    )
    with ProgressBar(progress, path.stat().st_size, "bytes") as bar:
        for chunk in run.csv_chunks(csv, file, lambda n: bar.update(n, file)):
            periods = _check_periods(run, chunk, file, currency)
            ids = periods[["customer_id", LINE]]
            run.stage(customers, ids.drop_duplicates("customer_id", keep="last"))
            for batch in _period_lines(run.ws, periods, run.chunk_size):
                run.stage(lines, batch)


def _check_periods(
    run: _Run, chunk: pd.DataFrame, file: str, currency: str
) -> pd.DataFrame:
    """Check one chunk of periods: add its problems to `run` and return the typed
    periods that pass."""
    checker = FrameChecker(TABLES["invoice_lines"], chunk, file)
    customer = checker.text("customer_id")
    start = pd.to_datetime(checker.date("start_date"))
    end = pd.to_datetime(checker.date("end_date"))
    amount = checker.number("monthly_amount")

    for column in PERIOD_REQUIRED:
        checker.report(
            _blank(chunk[column]) & ~checker.bad,
            column,
            "missing value in a required field",
        )
    checker.report(
        start.notna() & end.notna() & (end < start),
        "end_date",
        "the period ends before it starts; swap the dates or fix end_date",
    )

    if "currency" in chunk:
        codes = checker.text("currency").str.upper().fillna(currency)
        checker.report(
            ~codes.isin(known_currency_codes()),
            "currency",
            "unknown currency; use an ISO 4217 code such as USD or EUR",
        )
    else:
        codes = pd.Series(currency, index=chunk.index)
    if "subscription_id" in chunk:
        subscription = checker.text("subscription_id")
    else:
        subscription = pd.Series(pd.NA, index=chunk.index, dtype="string")

    run.problems.extend(checker.problems)
    good = ~checker.bad
    return pd.DataFrame(
        {
            "customer_id": customer[good],
            "subscription_id": subscription[good],
            "currency": codes[good],
            "start": start[good],
            "end": end[good],
            "monthly_amount": amount[good],
            LINE: chunk.loc[good, LINE],
        }
    )


def _add_months(day: pd.Series, months: np.ndarray) -> pd.Series:
    """`day` plus whole calendar months, on the same day of the month or on the
    last day of a shorter month (31 January + 1 month = 28 or 29 February)."""
    index = day.dt.year.to_numpy() * 12 + day.dt.month.to_numpy() - 1 + months
    first = pd.to_datetime(
        pd.DataFrame({"year": index // 12, "month": index % 12 + 1, "day": 1})
    )
    last_day = first.dt.days_in_month.to_numpy()
    offset = np.minimum(day.dt.day.to_numpy(), last_day) - 1
    return (first + pd.to_timedelta(offset, unit="D")).set_axis(day.index)


def _months_by_engine(ws: Workspace, start: pd.Series, end: pd.Series) -> np.ndarray:
    """Length of each [start, end) in months, computed by the engine's own
    `months_between`, so that a line's MRR is exactly its monthly amount."""
    frame = pd.DataFrame(
        {
            "position": np.arange(len(start)),
            "start": start.to_numpy(),
            "end": end.to_numpy(),
        }
    )
    table = ibis.memtable(frame)
    months = _engine.months_between(table.start.cast("date"), table.end.cast("date"))
    expr = table.select("position", months=months).order_by("position")
    return ws.con.execute(expr)["months"].to_numpy(dtype="float64")


def _period_lines(
    ws: Workspace, periods: pd.DataFrame, max_rows: int
) -> Iterator[pd.DataFrame]:
    """Invoice lines of subscription periods, in frames of at most `max_rows`
    lines (or one period's lines when a period alone has more).

    A period [start, end) becomes one line per month from its start: the k-th
    line covers [start + k months, start + k + 1 months), the last one cut at
    end. Each line's amount is monthly_amount x its length in months by the
    engine's rule, so the line's MRR is monthly_amount on every day.
    """
    if periods.empty:
        return
    start, end = periods["start"], periods["end"]
    whole = (end.dt.year - start.dt.year).to_numpy() * 12 + (
        end.dt.month - start.dt.month
    ).to_numpy()
    counts = whole + (_add_months(start, whole) < end).to_numpy()
    counts = np.where(end > start, counts, 0)
    cumulative = np.cumsum(counts)
    first = 0
    while first < len(periods):
        before = cumulative[first] - counts[first]
        stop = int(np.searchsorted(cumulative, before + max_rows, side="right"))
        stop = max(stop, first + 1)
        yield _expand_periods(ws, periods.iloc[first:stop], counts[first:stop])
        first = stop


def _expand_periods(
    ws: Workspace, periods: pd.DataFrame, counts: np.ndarray
) -> pd.DataFrame:
    # One row per line: the period's row repeated, and the line's position k.
    rows = periods.iloc[np.repeat(np.arange(len(periods)), counts)]
    rows = rows.reset_index(drop=True)
    offsets = np.arange(int(counts.sum())) - np.repeat(
        np.cumsum(counts) - counts, counts
    )

    piece_start = _add_months(rows["start"], offsets)
    next_start = _add_months(rows["start"], offsets + 1)
    piece_end = next_start.where(next_start < rows["end"], rows["end"])
    months = _months_by_engine(ws, piece_start, piece_end)
    amount = rows["monthly_amount"].to_numpy() * months

    # Ids that name the period and the line's first day.
    period_start = rows["start"].dt.strftime("%Y-%m-%d")
    period_end = rows["end"].dt.strftime("%Y-%m-%d")
    subscription = rows["subscription_id"].fillna("")
    invoice_id = (
        rows["customer_id"] + "/" + subscription + "/" + period_start + "/" + period_end
    )
    line_start = piece_start.dt.strftime("%Y-%m-%d")

    return pd.DataFrame(
        {
            "invoice_id": invoice_id,
            "line_id": line_start,
            "customer_id": rows["customer_id"],
            "invoice_date": line_start,
            "currency": rows["currency"],
            "kind": "subscription",
            "subscription_id": rows["subscription_id"].fillna(""),
            "service_period_start": line_start,
            "service_period_end": piece_end.dt.strftime("%Y-%m-%d"),
            "amount": [repr(float(a)) for a in amount],
            "status": "paid",
            LINE: rows[LINE],
        }
    ).reset_index(drop=True)


# Mapped exports -------------------------------------------------------------


def _import_mapped(run: _Run, path: Path, mapping: Mapping, progress: bool) -> None:
    file = path.name
    run.file_order.append(file)
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputError(
            f"{file} is an Excel 97-2003 workbook, which revaxis cannot read: save "
            "it as .xlsx or CSV."
        )
    targets = _mapped_targets(mapping, file)
    if suffix in EXCEL_SUFFIXES:
        sheet = ExcelSheet(path, mapping.options.get("sheet"))
        check_columns(mapping, _sheet_columns(sheet, mapping), file)
        with ProgressBar(progress, sheet.size, "rows") as bar:
            for chunk in sheet.chunks(run.chunk_size, lambda n: bar.update(n, file)):
                run.rows_read += len(chunk)
                _stage_mapped_chunk(run, chunk, mapping, targets)
        return
    csv = CsvFile(
        path,
        delimiter=mapping.options.get("delimiter", ","),
        encoding=mapping.options.get("encoding", "utf-8"),
    )
    header = run.read_header(csv, file)
    if header is None:
        return
    check_columns(mapping, header, file)
    with ProgressBar(progress, path.stat().st_size, "bytes") as bar:
        for chunk in run.csv_chunks(csv, file, lambda n: bar.update(n, file)):
            _stage_mapped_chunk(run, chunk, mapping, targets)


def _sheet_columns(sheet: ExcelSheet, mapping: Mapping) -> list[str]:
    try:
        return sheet.columns()
    except KeyError as exc:
        name, names = exc.args
        raise mapping_error(
            mapping.origin,
            "source.sheet",
            f"names the sheet {name!r}, which {sheet.path.name} does not have",
            f"use one of {', '.join(names)}",
        ) from None
    except HeaderError as exc:
        raise InputError(f"{sheet.path.name}: {exc}.") from None


def _mapped_targets(mapping: Mapping, file: str) -> dict[str, Target]:
    targets = {}
    for name, fields in mapping.tables.items():
        shown = {f: s.column for f, s in fields.items() if s.column is not None}
        formats = {f: s.date_format for f, s in fields.items() if s.date_format}
        entity = name in ENTITY_TABLES
        targets[name] = Target(
            name,
            file,
            conflicts="last" if entity else "reject",
            fields=shown,
            date_formats=formats,
        )
    if "customers" not in targets and "invoice_lines" in targets:
        lines = mapping.tables["invoice_lines"]["customer_id"]
        targets["customers"] = Target(
            "customers",
            file,
            conflicts="last",
            write="missing",
            fields={"customer_id": lines.column or "customer_id"},
        )
    return targets


def _stage_mapped_chunk(
    run: _Run, chunk: pd.DataFrame, mapping: Mapping, targets: dict[str, Target]
) -> None:
    columns = SourceColumns(chunk)
    keep = pd.Series(True, index=chunk.index)
    for condition in mapping.filters:
        keep &= columns.test(condition)
    run.rows_skipped += int((~keep).sum())
    if not keep.all():
        chunk = chunk[keep]
        columns = SourceColumns(chunk)
    for name in IMPORT_ORDER:
        if name not in targets:
            continue
        fields = mapping.tables.get(name)
        if fields is None:
            # Customers that only the invoice lines name.
            fields = {"customer_id": mapping.tables["invoice_lines"]["customer_id"]}
        frame = pd.DataFrame({f: columns.values(s) for f, s in fields.items()})
        frame[LINE] = chunk[LINE]
        if name in ENTITY_TABLES:
            key = TABLES[name].key[0]
            frame = frame[~_blank(frame[key])]
            content = [c for c in frame.columns if c != LINE]
            frame = frame.drop_duplicates(content, keep="last")
        run.stage(targets[name], frame)
