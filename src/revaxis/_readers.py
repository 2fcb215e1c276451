"""Readers of import files: CSV files (as Arrow tables) and Excel sheets (as
pandas frames) in chunks of text rows, each row with its line number, and a
progress bar of what has been read.

Every value is read as text (an empty field is ""), so the validation of the
canonical tables checks exactly what the file contains. Line numbers count the
header as line 1. Blank lines are skipped but still counted, so the numbers
match a text editor's.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from revaxis._validate import LINE

# Errors of a file that cannot be read as CSV: bad quoting or invalid text in
# the file's encoding.
READ_ERRORS = (pa.ArrowInvalid, UnicodeDecodeError, csv.Error)

# Bytes that pyarrow parses at a time; rows are then regrouped into chunks.
_BLOCK_BYTES = 1 << 22

# Called with (line number or None, line text, expected fields, found fields).
BadLineHandler = Callable[[int | None, str, int, int], None]


class HeaderError(Exception):
    """A file whose header line is missing (`line` None) or names a column twice
    (`line` 1)."""

    def __init__(self, reason: str, line: int | None) -> None:
        super().__init__(reason)
        self.line = line


class ProgressBar:
    """A Rich progress bar on stderr of the bytes (or rows) read; without
    `enabled` it does nothing."""

    def __init__(self, enabled: bool, total: int, unit: Literal["bytes", "rows"]):
        self.progress: Progress | None = None
        if not enabled:
            return
        counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            counter,
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task("import", total=total)

    def __enter__(self) -> ProgressBar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, completed: int, description: str) -> None:
        if self.progress is not None:
            self.progress.update(
                self.task, completed=completed, description=description
            )


def _checked_header(names: list[str]) -> list[str]:
    stripped = [name.strip() for name in names]
    twice = sorted({name for name in stripped if stripped.count(name) > 1})
    if twice:
        raise HeaderError(
            f"the header names the column(s) {', '.join(twice)} more than once; "
            "rename or remove the copies",
            1,
        )
    return stripped


class CsvFile:
    """A CSV file read by pyarrow in chunks of text rows.

    A line with more or fewer fields than the header is passed to the bad-line
    handler and left out, so one bad line never hides the others.
    NOTE: line numbers count records, so a quoted value that spans several lines
    makes the numbers after it lower than an editor's.
    """

    def __init__(self, path: Path, delimiter: str = ",", encoding: str = "utf-8"):
        self.path = path
        self.delimiter = delimiter
        self.encoding = encoding
        self._raw_header: list[str] | None = None

    def read_header(self) -> list[str]:
        """Column names, trimmed. Raises HeaderError for an empty file or a name
        given twice, and one of READ_ERRORS for an unreadable first line."""
        python_encoding = self.encoding
        if python_encoding.lower().replace("-", "").replace("_", "") == "utf8":
            python_encoding = "utf-8-sig"
        with self.path.open(newline="", encoding=python_encoding) as handle:
            first = next(csv.reader(handle, delimiter=self.delimiter), None)
        if not first:
            raise HeaderError("the file is empty; it needs a header line", None)
        self._raw_header = first
        return _checked_header(first)

    def chunks(
        self,
        chunk_size: int,
        on_bytes: Callable[[int], None],
        on_bad_line: BadLineHandler,
    ) -> Iterator[pa.Table]:
        """Tables of at most `chunk_size` rows of text, with a `_line` column.
        Raises one of READ_ERRORS when the file cannot be parsed any further."""
        raw_header = self._raw_header or []
        names = self.read_header()
        skipped: list[int] = []

        def handle_invalid(row: pa_csv.InvalidRow) -> str:
            on_bad_line(row.number, row.text, row.expected_columns, row.actual_columns)
            if row.number is not None:
                skipped.append(row.number)
            return "skip"

        source = pa.OSFile(str(self.path))
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(
                use_threads=False, block_size=_BLOCK_BYTES, encoding=self.encoding
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=self.delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=handle_invalid,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in raw_header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        numbers = _LineNumbers(skipped)
        with source, reader:
            buffer: list[pa.RecordBatch] = []
            buffered = 0
            for batch in reader:
                buffer.append(batch)
                buffered += batch.num_rows
                while buffered >= chunk_size:
                    table = pa.Table.from_batches(buffer, reader.schema)
                    rest = table.slice(chunk_size)
                    on_bytes(source.tell())
                    yield _text_rows(table.slice(0, chunk_size), names, numbers)
                    buffer, buffered = rest.to_batches(), rest.num_rows
            on_bytes(source.tell())
            if buffered:
                table = pa.Table.from_batches(buffer, reader.schema)
                yield _text_rows(table, names, numbers)


class _LineNumbers:
    """Line numbers of the rows that pyarrow returns: consecutive from 2, less
    the lines that the bad-line handler left out (`skipped`, ascending)."""

    def __init__(self, skipped: list[int]) -> None:
        self.skipped = skipped
        self.position = 0
        self.next_line = 2

    def take(self, count: int) -> np.ndarray:
        lines = np.empty(count, dtype=np.int64)
        filled = 0
        while filled < count:
            while (
                self.position < len(self.skipped)
                and self.skipped[self.position] < self.next_line
            ):
                self.position += 1
            if self.position < len(self.skipped):
                gap = self.skipped[self.position] - self.next_line
            else:
                gap = count - filled
            run = min(count - filled, gap)
            lines[filled : filled + run] = np.arange(
                self.next_line, self.next_line + run
            )
            filled += run
            self.next_line += run
            if filled < count:
                # next_line is a skipped line.
                self.next_line += 1
        return lines


def _text_rows(table: pa.Table, names: list[str], numbers: _LineNumbers) -> pa.Table:
    table = table.rename_columns(names)
    table = table.append_column(LINE, pa.array(numbers.take(table.num_rows)))
    if not names:
        return table
    blank = pc.equal(table.column(0), "")
    for column in table.columns[1 : len(names)]:
        blank = pc.and_(blank, pc.equal(column, ""))
    return table.filter(pc.invert(blank))


class ExcelSheet:
    """One sheet of an .xlsx workbook, streamed row by row by openpyxl. Line
    numbers are the sheet's row numbers. `size` (data rows) is known once
    `columns()` has run."""

    def __init__(self, path: Path, sheet: str | None) -> None:
        self.path = path
        self.sheet = sheet
        self.size = 0

    def _rows(self) -> Iterator[tuple[object, ...]]:
        import openpyxl

        workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        try:
            if self.sheet is None:
                sheet = workbook.worksheets[0]
            elif self.sheet in workbook.sheetnames:
                sheet = workbook[self.sheet]
            else:
                raise KeyError(self.sheet, workbook.sheetnames)
            self.size = max((sheet.max_row or 1) - 1, 0)
            yield from sheet.iter_rows(values_only=True)
        finally:
            workbook.close()

    def columns(self) -> list[str]:
        """Column names, trimmed. Raises HeaderError for an empty sheet and
        KeyError(sheet, sheet names) for a sheet the workbook does not have."""
        for row in self._rows():
            return _checked_header([cell_text(value) for value in row])
        raise HeaderError("the sheet is empty; it needs a header row", None)

    def chunks(
        self, chunk_size: int, on_rows: Callable[[int], None]
    ) -> Iterator[pd.DataFrame]:
        rows = self._rows()
        header = _checked_header([cell_text(value) for value in next(rows, ())])
        width = len(header)
        buffer: list[list[str]] = []
        lines: list[int] = []
        # openpyxl yields a row of None for a row without cells, so the
        # position in the sheet is the row number.
        for number, row in enumerate(rows, start=2):
            texts = [cell_text(value) for value in row[:width]]
            texts += [""] * (width - len(texts))
            if all(text == "" for text in texts):
                continue
            buffer.append(texts)
            lines.append(number)
            if len(buffer) == chunk_size:
                on_rows(number - 1)
                yield _sheet_rows(buffer, header, lines)
                buffer, lines = [], []
        if buffer:
            on_rows(lines[-1] - 1)
            yield _sheet_rows(buffer, header, lines)


def _sheet_rows(
    rows: list[list[str]], header: list[str], lines: list[int]
) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame[LINE] = lines
    return frame


def cell_text(value: object) -> str:
    """Format a cell as text: dates as ISO 8601, whole numbers without a decimal
    point."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
