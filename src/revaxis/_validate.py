"""Validation of the canonical tables in DuckDB: types, required fields, allowed
values and consistency, with one Problem per bad value.

A chunk of source rows is an Arrow table registered on the DuckDB connection.
One query types its values with SQL casts, applies the defaults and rules of
its table and flags every failed check, so only the rows with a problem come
back to Python. Before it is registered, each column of the chunk is renamed
to a generated name (s0, s1, ... and m0, m1, ... for metadata), so text from a
file header never reaches the SQL: values stay in the chunk and in bound
parameters. Arrow trims the text: its whitespace is that of Python's
str.strip(), and it trimmed a million short values in 0.04 s where DuckDB's
trim() with the same characters took 1.6 s (pyarrow 26, DuckDB 1.5.6).

Each chunk carries a `_line` column: the line number of the row in its source
file (1 is the header), so problems can point at it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from revaxis._errors import Problem
from revaxis._schema import INTERVAL_UNITS, KINDS, STATUSES, TableSpec

METADATA_PREFIX = "metadata."
LINE = "_line"
# Name under which a chunk is registered on the connection while it is checked.
CHUNK_VIEW = "_revaxis_chunk"

# Formats that a date may also take when it is not a full day such as
# 2024-03-01 or 2024-03-01 10:00: a day without dashes, a month or a year.
_SHORT_DATE_FORMATS = ["%Y%m%d", "%Y-%m", "%Y"]
# Days that a date may fall on: the range of Python's datetime.date, so that
# 'infinity' or a year BC is invalid.
_FIRST_DAY = "DATE '0001-01-01'"
_LAST_DAY = "DATE '9999-12-31'"

INVALID_DATE = "invalid date; write dates as YYYY-MM-DD"
INVALID_NUMBER = (
    "invalid number; write amounts with a dot for decimals and no thousands separator"
)
MISSING_VALUE = "missing value in a required field"

# Text columns stored in upper or lower case.
_UPPER_CASE = {
    "invoice_lines": ("currency",),
    "fx_rates": ("currency",),
    "marketing_spend": ("currency",),
}
_LOWER_CASE = {"invoice_lines": ("kind", "status"), "plans": ("interval_unit",)}


@functools.cache
def known_currency_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Convert a pandas frame to Arrow, column by column. A column of mixed
    Python objects becomes text, and a time-zone aware timestamp keeps its local
    time, so that its day is the one the frame shows."""
    arrays = []
    for position in range(frame.shape[1]):
        series = frame.iloc[:, position]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_localize(None)
        try:
            array = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array(series.astype("string"), from_pandas=True)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
    )


def _trimmed(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return pc.utf8_trim_whitespace(column)


def _is_native(sql_type: str, kind: pa.DataType) -> bool:
    """Return whether values of Arrow type `kind` convert to `sql_type` without
    parsing text: timestamps and dates to DATE, numbers to DOUBLE and BIGINT."""
    if sql_type == "DATE":
        return pa.types.is_timestamp(kind) or pa.types.is_date(kind)
    if sql_type in ("DOUBLE", "BIGINT"):
        return (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)
        )
    return False


@dataclass(frozen=True)
class Check:
    """A check that one query flags per row: the flag's column in the query,
    the field whose raw value a problem shows, and the reason."""

    flag: str
    field: str
    reason: str
    kind: Literal["invalid", "missing", "rule"]


class ChunkQuery:
    """SQL that types and checks one chunk of a canonical table.

    `schema` is the chunk's Arrow schema with its source column names, and
    `defaults` replaces the table's defaults for some columns. The queries read
    the chunk from the view CHUNK_VIEW, with its columns renamed by the mapping
    `renamed` (source name -> generated name).
    """

    def __init__(
        self, spec: TableSpec, schema: pa.Schema, defaults: dict[str, object]
    ) -> None:
        self.spec = spec
        self.defaults = {**spec.defaults, **defaults}
        self.params: dict[str, object] = {}
        names = set(schema.names)
        self.missing = [c for c in spec.required if c not in names]

        self.renamed: dict[str, str] = {LINE: LINE}
        # Arrow type of each canonical column that the chunk has.
        self.types: dict[str, pa.DataType] = {}
        for position, column in enumerate(spec.columns):
            if column in names:
                self.renamed[column] = f"s{position}"
                self.types[column] = schema.field(column).type

        # Generated name of each metadata key.
        self.metadata: dict[str, str] = {}
        if spec.metadata_entity is not None:
            for column in schema.names:
                if column.startswith(METADATA_PREFIX):
                    alias = f"m{len(self.metadata)}"
                    self.metadata[column[len(METADATA_PREFIX) :]] = alias
                    self.renamed[column] = alias

        # Generated names of the text columns that `relation` adds a trimmed
        # copy of, named <name>_t.
        self.trimmed = {
            alias
            for source, alias in self.renamed.items()
            if alias != LINE
            and _is_text(schema.field(source).type)
            and not (
                source in self.types
                and _is_native(spec.columns[source], self.types[source])
            )
        }

        self.checks: list[Check] = []
        # SQL that is true where a canonical column of the chunk is empty.
        self.blank: dict[str, str] = {}
        self.with_clause = self._build()

    def relation(self, table: pa.Table) -> pa.Table:
        """Return the chunk as the queries read it: the columns they use under
        their generated names, and a trimmed copy of each text column."""
        arrays, names = [], []
        for source, alias in self.renamed.items():
            arrays.append(table.column(source))
            names.append(alias)
            if alias in self.trimmed:
                arrays.append(_trimmed(table.column(source)))
                names.append(f"{alias}_t")
        return pa.Table.from_arrays(arrays, names=names)

    def _text(self, alias: str) -> str:
        """Return SQL of a column's value as trimmed text, NULL when empty."""
        if alias in self.trimmed:
            return f"nullif({alias}_t, '')"
        return f"nullif(CAST({alias} AS VARCHAR), '')"

    def bound(self, sql: str) -> dict[str, object]:
        """Return the parameters that `sql` uses."""
        used = set(re.findall(r"\$(\w+)", sql))
        return {name: value for name, value in self.params.items() if name in used}

    # Queries ------------------------------------------------------------------

    def problem_rows_sql(self) -> str:
        """Return SQL of the rows with a failed check, in line order: the line,
        one flag per check, then the source value of each canonical column as
        text."""
        flags = [f"_check{position}" for position in range(len(self.checks))]
        raw = [f"CAST({self.renamed[c]} AS VARCHAR)" for c in self.types]
        selected = ", ".join([LINE, *flags, *raw])
        return (
            f"{self.with_clause}\nSELECT {selected} FROM checked WHERE _bad "
            f"ORDER BY {LINE}"
        )

    def rows_sql(self) -> str:
        """Return SQL of the typed rows that pass every check: the table's
        columns, then `_line`."""
        typed = [f'TRY_CAST("{c}" AS {t})' for c, t in self.spec.columns.items()]
        selected = ", ".join([*typed, f"CAST({LINE} AS BIGINT)"])
        return f"{self.with_clause}\nSELECT {selected} FROM checked WHERE NOT _bad"

    def metadata_sql(self) -> str | None:
        """Return SQL of the metadata rows (entity, entity_id, key, value,
        `_line`) of the rows that pass, one per non-empty `metadata.<key>` value.
        Return None when the chunk has no such column."""
        if not self.metadata:
            return None
        entity = self._param(self.spec.metadata_entity)
        entity_id = self.spec.key[0]
        parts = [
            f'SELECT {entity} AS entity, "{entity_id}" AS entity_id, '
            f"{self._param(key)} AS key, "
            f"{self._text(alias)} AS value, "
            f"CAST({LINE} AS BIGINT) AS {LINE} FROM checked WHERE NOT _bad"
            for key, alias in self.metadata.items()
        ]
        union = "\nUNION ALL ".join(parts)
        return f"{self.with_clause}\nSELECT * FROM ({union}) WHERE value IS NOT NULL"

    def problems(self, rows: list[tuple[object, ...]], file: str) -> list[Problem]:
        """Build one Problem per failed check in the rows of `problem_rows_sql`:
        invalid values, then the first empty required field of a row without an
        invalid value, then the table's rules."""
        count = len(self.checks)
        problems = []
        for row in rows:
            line = int(row[0])  # type: ignore[call-overload]
            flags = row[1 : count + 1]
            failed = [c for c, flag in zip(self.checks, flags, strict=True) if flag]
            raw = dict(zip(self.types, row[count + 1 :], strict=True))
            invalid = [c for c in failed if c.kind == "invalid"]
            missing = [c for c in failed if c.kind == "missing"][:1]
            rules = [c for c in failed if c.kind == "rule"]
            for check in invalid or missing:
                problems.append(self._problem(file, line, check, raw))
            for check in rules:
                problems.append(self._problem(file, line, check, raw))
        return problems

    def _problem(
        self, file: str, line: int, check: Check, raw: dict[str, object]
    ) -> Problem:
        value = raw.get(check.field)
        shown = None if value is None else str(value)
        return Problem(file, line, check.field, shown, check.reason)

    # Layers of the WITH clause ------------------------------------------------

    def _build(self) -> str:
        """Build the WITH clause that defines `checked`: the chunk with its typed
        columns under their canonical names, one boolean `_check<n>` column per
        check, and `_bad`, true where any check failed."""
        texts: list[str] = []
        parsed: list[str] = []
        valid: list[str] = []
        for index, (column, sql_type) in enumerate(self.spec.columns.items()):
            if column in self.types:
                read, parse, value = self._read(index, column, sql_type)
                texts.append(read)
                if parse is not None:
                    parsed.append(parse)
                if value is not None:
                    valid.append(value)

        typed = [
            f'{self._typed(column, sql_type)} AS "{column}"'
            for column, sql_type in self.spec.columns.items()
        ]

        for column in self.spec.required:
            if column not in self.spec.may_be_empty and column in self.blank:
                self.checks.append(
                    Check(self.blank[column], column, MISSING_VALUE, "missing")
                )
        self._add_rules()

        flags = [
            f"coalesce(({check.flag}), false) AS _check{position}"
            for position, check in enumerate(self.checks)
        ]
        bad = " OR ".join(f"_check{p}" for p in range(len(self.checks))) or "false"

        layers = [
            ("texts", texts, CHUNK_VIEW),
            ("parsed", parsed, "texts"),
            ("valid", valid, "parsed"),
            ("typed", typed, "valid"),
            ("flagged", flags, "typed"),
            ("checked", [f"({bad}) AS _bad"], "flagged"),
        ]
        ctes = [
            f"{name} AS (SELECT {', '.join(['*', *columns])} FROM {source})"
            for name, columns, source in layers
        ]
        return "WITH " + ",\n".join(ctes)

    def _read(
        self, index: int, column: str, sql_type: str
    ) -> tuple[str, str | None, str | None]:
        """Return the expressions of the texts, parsed and valid layers that read
        canonical column `column` into `v<index>`, its value before defaults
        (NULL when empty or invalid), and record the column's checks."""
        alias = self.renamed[column]
        value = f"v{index}"
        if _is_native(sql_type, self.types[column]):
            self.blank[column] = f"{value} IS NULL"
            if sql_type == "DATE":
                return (f"CAST({alias} AS DATE) AS {value}", None, None)
            self._invalid(f"NOT isfinite({value})", column, INVALID_NUMBER)
            return (f"CAST({alias} AS DOUBLE) AS {value}", None, None)

        text = f"t{index}"
        self.blank[column] = f"{text} IS NULL"
        read = f"{self._text(alias)} AS {text}"
        if sql_type == "DATE":
            formats = self._param(_SHORT_DATE_FORMATS)
            parse = (
                f"coalesce(TRY_CAST({text} AS DATE), "
                f"CAST(TRY_STRPTIME({text}, {formats}) AS DATE)) AS p{index}"
            )
            check = f"p{index} BETWEEN {_FIRST_DAY} AND {_LAST_DAY}"
            reason = INVALID_DATE
        elif sql_type in ("DOUBLE", "BIGINT"):
            parse = f"TRY_CAST({text} AS DOUBLE) AS p{index}"
            # DuckDB also reads 1_000 as 1000, and a digit separator is invalid
            # here like a thousands separator.
            check = f"isfinite(p{index}) AND NOT contains({text}, '_')"
            reason = INVALID_NUMBER
        else:
            return (read, None, f"{text} AS {value}")
        self._invalid(f"{text} IS NOT NULL AND {value} IS NULL", column, reason)
        return (read, parse, f"CASE WHEN {check} THEN p{index} END AS {value}")

    def _invalid(self, flag: str, column: str, reason: str) -> None:
        self.checks.append(Check(flag, column, reason, "invalid"))

    def _typed(self, column: str, sql_type: str) -> str:
        """Return SQL of the value stored in `column`: the value read, its default
        when empty, in the case the table keeps. BIGINT columns stay DOUBLE here
        so that the rules can check for whole numbers; `rows_sql` casts them."""
        index = list(self.spec.columns).index(column)
        value = f"v{index}" if column in self.types else "NULL"
        if column in self.defaults:
            default = self._param(self.defaults[column])
            value = f"coalesce({value}, CAST({default} AS {sql_type}))"
        if column in _UPPER_CASE.get(self.spec.name, ()):
            value = f"upper({value})"
        if column in _LOWER_CASE.get(self.spec.name, ()):
            value = f"lower({value})"
        if self.spec.name == "invoice_lines" and column == "invoice_date":
            # A line without an invoice date is dated on its service start.
            start = self._typed("service_period_start", "DATE")
            value = f"coalesce({value}, {start})"
        return f"CAST({value} AS {'DOUBLE' if sql_type == 'BIGINT' else sql_type})"

    def _param(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    # Rules --------------------------------------------------------------------

    def _add_rules(self) -> None:
        """Checks of allowed values and consistency, on the typed columns."""
        name = self.spec.name
        if name == "invoice_lines":
            codes = self._param(sorted(known_currency_codes()))
            self._rule(
                f"currency IS NOT NULL AND NOT list_contains({codes}, currency)",
                "currency",
                "unknown currency; use an ISO 4217 code such as USD or EUR",
            )
            self._allowed("kind", KINDS, "kind")
            self._allowed("status", STATUSES, "status")
            self._rule(
                "service_period_end < service_period_start",
                "service_period_end",
                "service period ends before it starts; swap the dates or fix the end",
            )
            # Empty in the source, so that an invalid date is reported only once.
            start = self.blank.get("service_period_start", "true")
            end = self.blank.get("service_period_end", "true")
            self._rule(
                f"kind IN ('subscription', 'usage') AND ({start}) <> ({end})",
                "service_period_end",
                "a recurring line needs both service_period_start and "
                "service_period_end, or neither (then its plan's interval applies)",
            )
        elif name == "plans":
            self._allowed("interval_unit", INTERVAL_UNITS, "interval unit")
            self._rule(
                "interval_count < 1 OR interval_count <> round(interval_count)",
                "interval_count",
                "interval_count must be a whole number of at least 1",
            )
        elif name == "fx_rates":
            self._rule(
                "rate <= 0",
                "rate",
                "a rate must be above zero (units of the currency per one unit of "
                "the base currency)",
            )

    def _rule(self, flag: str, column: str, reason: str) -> None:
        self.checks.append(Check(flag, column, reason, "rule"))

    def _allowed(self, column: str, allowed: tuple[str, ...], label: str) -> None:
        values = self._param(list(allowed))
        self._rule(
            f"NOT coalesce(list_contains({values}, {column}), false)",
            column,
            f"unknown {label}; use one of {', '.join(allowed)}",
        )
