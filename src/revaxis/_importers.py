"""Importers: read billing data from files into the canonical tables.

Three file formats, described in docs/import.md:

- `csv`: a folder of canonical CSV files (customers.csv, invoice_lines.csv, ...);
- `periods`: one CSV of subscription periods (customer, start, end, monthly
  amount), turned into customers and invoice lines;
- `mapped`: any CSV or Excel export, read through a TOML mapping file.

Every format reads its files in chunks of `chunk_size` rows and validates each
chunk in DuckDB (`_validate`), so validation keeps one chunk in memory. The rows
that pass are staged in DuckDB temporary tables (`_staging`), where the checks
that need every row run. Only when no file has a problem are the staged rows
written, in one transaction, so an import writes everything or changes nothing.
`load_frames`, the work of `Workspace.load`, takes the same path with pandas
frames cut into chunks.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from revaxis._errors import ImportRejected, InputError, Problem
from revaxis._import_periods import import_periods
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
from revaxis._validate import LINE, METADATA_PREFIX, to_arrow
from revaxis.workspace import ImportReport

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

__all__ = ["DEFAULT_CHUNK_ROWS", "FORMATS", "import_path", "packaged_mappings"]

log = logging.getLogger(__name__)

FORMATS = ("csv", "periods", "mapped", "stripe-json")
DEFAULT_CHUNK_ROWS = 200_000

# Files of a canonical folder; the first two are required.
REQUIRED_FILES = ("customers.csv", "invoice_lines.csv")
CANONICAL_FILES = {f"{name}.csv": name for name in IMPORT_ORDER}

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
    source_name: str | None = None,
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
    if chosen == "stripe-json":
        # A JSON document is parsed whole, so it is neither chunked nor staged.
        from revaxis._stripe_convert import import_stripe_json

        return import_stripe_json(ws, source, source_name)
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
            import_periods(run, source, progress)
        else:
            _import_folder(run, source, progress)
        run.check()
        report = run.write(
            source_name or str(source), chosen, run.rows_read - run.rows_skipped
        )
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

    def problem(self, file: str, line: int | None, reason: str) -> None:
        """Add a problem about a whole line or file."""
        self.problems.append(Problem(file, line, None, None, reason))

    def stage(self, target: Target, chunk: pa.Table | pd.DataFrame) -> None:
        """Validate one chunk of a canonical table and stage the rows that pass."""
        if target.file not in self.file_order:
            self.file_order.append(target.file)
        self.problems.extend(self.staging.stage(target, chunk))

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
    ) -> Iterator[pa.Table]:
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

    def check(self) -> None:
        """Fill service periods from plans and check keys across all chunks;
        raise ImportRejected with every problem found."""
        self.problems.extend(self.staging.fill_service_periods())
        self.problems.extend(self.staging.unknown_customers())
        self.problems.extend(self.staging.key_problems())
        if self.problems:
            raise ImportRejected(self._ordered_problems(), self.rows_read)

    def write(self, source: str, format: str, rows_imported: int) -> ImportReport:
        """Write every staged row in one transaction. Call it after `check`."""
        report = ImportReport(
            source,
            rows_read=self.rows_read,
            rows_imported=rows_imported,
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


def load_frames(
    ws: Workspace,
    tables: dict[str, pd.DataFrame],
    *,
    source: str,
    format: str,
    files: dict[str, str],
    base_currency: str | None,
) -> ImportReport:
    """Validate canonical tables given as pandas frames and write them in one
    transaction: the work of `Workspace.load`, whose docstring describes the
    arguments. Each frame is validated in chunks of DEFAULT_CHUNK_ROWS rows."""
    run = _Run(ws, Staging(ws.con.con), DEFAULT_CHUNK_ROWS)
    try:
        for name in IMPORT_ORDER:
            if name not in tables:
                continue
            frame = tables[name]
            run.rows_read += len(frame)
            defaults: dict[str, object] = {}
            if name == "fx_rates":
                defaults["base"] = base_currency or ws.report_currency()
            target = Target(name, files.get(name, f"{name}.csv"), defaults=defaults)
            run.file_order.append(target.file)
            for chunk in _frame_chunks(frame, run.chunk_size):
                run.stage(target, chunk)
        run.check()
        rows_imported = sum(run.staging.row_counts().values())
        return run.write(source, format, rows_imported)
    finally:
        run.staging.drop()


def _frame_chunks(frame: pd.DataFrame, size: int) -> Iterator[pa.Table]:
    """Arrow tables of at most `size` rows of `frame`, with a `_line` column
    (the frame's own, or 2, 3, ... as if the frame were a CSV file with a
    header line). An empty frame gives one empty table."""
    if LINE in frame.columns:
        lines = frame[LINE].to_numpy(dtype=np.int64)
        frame = frame.drop(columns=[LINE])
    else:
        lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    for start in range(0, max(len(frame), 1), size):
        table = to_arrow(frame.iloc[start : start + size])
        yield table.append_column(LINE, pa.array(lines[start : start + size]))


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
    defaults: dict[str, object] = {}
    if table == "fx_rates":
        # Rates without a base are rates to the workspace currency.
        defaults["base"] = str(run.ws.settings["currency"])
    target = Target(table, path.name, defaults=defaults)
    for chunk in run.csv_chunks(csv, path.name, on_bytes):
        run.stage(target, chunk)


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
            _stage_mapped_chunk(run, chunk.to_pandas(), mapping, targets)


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
            blank = frame[key].isna() | (frame[key].astype("string").str.strip() == "")
            frame = frame[~blank]
            content = [c for c in frame.columns if c != LINE]
            frame = frame.drop_duplicates(content, keep="last")
        run.stage(targets[name], frame)
