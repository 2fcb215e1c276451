"""Staging of an import or a `Workspace.load`: DuckDB temporary tables that
collect the typed rows of every chunk, check keys across all of them, and write
them to the workspace in one transaction.

Rows keep their source line (`_line`) until they are written, so a key conflict
found across chunks still names the lines involved.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from revaxis import _storage
from revaxis._errors import Problem
from revaxis._schema import IMPORT_ORDER, TABLES
from revaxis._validate import (
    CHUNK_VIEW,
    INVALID_DATE,
    LINE,
    METADATA_PREFIX,
    ChunkQuery,
    to_arrow,
)

log = logging.getLogger(__name__)

STAGE_PREFIX = "_revaxis_import_"
# Other lines named in a key conflict before "and N more".
_MAX_OTHER_LINES = 5


@dataclass
class Target:
    """A canonical table that an import writes, and how its rows are merged.

    With conflicts "reject", rows whose key appears again with other content are
    problems. With "last", the row read last wins, for entity attributes that an
    export repeats on every line. With write "replace", rows replace stored rows
    with the same key, and with "missing" only new keys are added.
    """

    name: str
    file: str
    conflicts: Literal["reject", "last"] = "reject"
    write: Literal["replace", "missing"] = "replace"
    # Name shown in problems for each canonical column (the source column).
    fields: dict[str, str] = field(default_factory=dict)
    # Staged column whose value a key conflict shows (default: the key's last
    # column), and the reason it gives, where {others} lists the other lines.
    key_shown: str | None = None
    duplicate_reason: str = ""
    # Canonical columns whose values a mapping reads with a date_format.
    date_formats: dict[str, str] = field(default_factory=dict)
    # Values of empty or absent columns, in place of the table's defaults.
    defaults: dict[str, object] = field(default_factory=dict)

    def shown(self, column: str | None) -> str | None:
        if column is None:
            return None
        return self.fields.get(column, column)

    def shown_problem(self, problem: Problem) -> Problem:
        """Rename the problem's field to the source column, and name the
        mapping's date format in the reason when one applies."""
        reason = problem.reason
        date_format = self.date_formats.get(problem.field or "")
        if date_format is not None and reason == INVALID_DATE:
            reason = (
                f"invalid date; expected the date_format {date_format!r} of the mapping"
            )
        return dataclasses.replace(
            problem, field=self.shown(problem.field), reason=reason
        )


class Staging:
    """The temporary tables of one import, on the raw DuckDB connection `raw`."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.targets: dict[str, Target] = {}
        self.has_metadata = False
        # Staged tables (and "metadata") in which some key appears twice.
        self.repeated: set[str] = set()

    def _table(self, name: str) -> str:
        return f'"{STAGE_PREFIX}{name}"'

    def stage(self, target: Target, rows: pa.Table | pd.DataFrame) -> list[Problem]:
        """Validate one chunk of the target's table, stage the rows that pass,
        and return the chunk's problems with fields named as in the source.

        `rows` has a `_line` column and the table's columns under their
        canonical names; other columns are ignored.
        """
        name = target.name
        spec = TABLES[name]
        if name not in self.targets:
            self.targets[name] = target
            self._create(name, spec.columns)
        table = rows if isinstance(rows, pa.Table) else to_arrow(rows)
        query = ChunkQuery(spec, table.schema, target.defaults)
        if query.missing:
            reason = (
                f"missing required column(s) {', '.join(query.missing)}; the header "
                f"must name them (expected columns: {', '.join(spec.columns)})"
            )
            return [Problem(target.file, 1, None, None, reason)]
        self.raw.register(CHUNK_VIEW, query.relation(table))
        try:
            sql = f"INSERT INTO {self._table(name)} {query.rows_sql()}"
            inserted = self.raw.execute(sql, query.bound(sql)).fetchone()
            problems: list[Problem] = []
            # Every row that fails a check is left out, so the rows with a
            # problem are read only when some rows are missing.
            if inserted is None or inserted[0] < table.num_rows:
                sql = query.problem_rows_sql()
                found = self.raw.execute(sql, query.bound(sql)).fetchall()
                problems = query.problems(found, target.file)
            metadata = query.metadata_sql()
            if metadata is not None:
                if not self.has_metadata:
                    self.has_metadata = True
                    self._create("metadata", TABLES["metadata"].columns)
                sql = f"INSERT INTO {self._table('metadata')} {metadata}"
                self.raw.execute(sql, query.bound(sql))
        finally:
            self.raw.unregister(CHUNK_VIEW)
        return [target.shown_problem(problem) for problem in problems]

    def _create(self, name: str, columns: dict[str, str]) -> None:
        typed = ", ".join(f'"{c}" {t}' for c, t in columns.items())
        self.raw.execute(
            f"CREATE OR REPLACE TEMP TABLE {self._table(name)} "
            f'({typed}, "{LINE}" BIGINT)'
        )

    def drop(self) -> None:
        for name in [*self.targets, "metadata"]:
            self.raw.execute(f"DROP TABLE IF EXISTS {self._table(name)}")

    # Service periods ----------------------------------------------------------

    def fill_service_periods(self) -> list[Problem]:
        """Give each staged recurring line without a service period its plan's
        interval from its invoice date, and return a problem for each line whose
        plan is unknown or that has no invoice date.

        The plans are those of this import (the row read last per plan_id) and
        the stored plans that it does not replace. An interval of months or
        years ends on the same day of the month, or on the month's last day
        when that month is shorter (31 January + 1 month = 29 February 2024).
        """
        if "invoice_lines" not in self.targets:
            return []
        lines = self._table("invoice_lines")
        plans = 'SELECT plan_id, interval_unit, interval_count FROM "plans"'
        if "plans" in self.targets:
            staged = (
                f"SELECT plan_id, interval_unit, interval_count "
                f"FROM {self._table('plans')} QUALIFY row_number() OVER "
                f'(PARTITION BY plan_id ORDER BY "{LINE}" DESC) = 1'
            )
            plans = (
                f"{staged} UNION ALL SELECT * FROM ({plans}) "
                f"ANTI JOIN ({staged}) USING (plan_id)"
            )
        needs_period = (
            "l.kind IN ('subscription', 'usage') AND l.service_period_start IS NULL"
        )
        rows = self.raw.execute(
            f"""
            SELECT l."{LINE}", p.plan_id IS NULL
            FROM {lines} l LEFT JOIN ({plans}) p USING (plan_id)
            WHERE {needs_period} AND (p.plan_id IS NULL OR l.invoice_date IS NULL)
            ORDER BY l."{LINE}"
            """
        ).fetchall()
        count = "CAST(coalesce(p.interval_count, 1) AS INTEGER)"
        self.raw.execute(
            f"""
            UPDATE {lines} AS l
            SET service_period_start = l.invoice_date,
                service_period_end = CAST(l.invoice_date + CASE p.interval_unit
                    WHEN 'day' THEN to_days({count})
                    WHEN 'week' THEN to_days(7 * {count})
                    WHEN 'month' THEN to_months({count})
                    ELSE to_years({count}) END AS DATE)
            FROM ({plans}) AS p
            WHERE l.plan_id = p.plan_id AND {needs_period}
                AND l.invoice_date IS NOT NULL
            """
        )
        target = self.targets["invoice_lines"]
        problems = []
        for line, unknown_plan in rows:
            if unknown_plan:
                problem = Problem(
                    target.file,
                    line,
                    "service_period_start",
                    None,
                    "a recurring line without a service period needs a plan_id of "
                    "a known plan, whose interval then applies from the invoice date",
                )
            else:
                problem = Problem(
                    target.file,
                    line,
                    "invoice_date",
                    None,
                    "a recurring line without a service period needs an invoice_date",
                )
            problems.append(target.shown_problem(problem))
        return problems

    def unknown_customers(self) -> list[Problem]:
        """Return a problem for each staged invoice line whose customer is neither
        in this import's customers nor in the workspace, so that a mistyped id
        does not become a customer of its own."""
        if "invoice_lines" not in self.targets:
            return []
        known = 'SELECT customer_id FROM "customers"'
        if "customers" in self.targets:
            known += f" UNION SELECT customer_id FROM {self._table('customers')}"
        rows = self.raw.execute(
            f"""
            SELECT l."{LINE}", l.customer_id
            FROM {self._table("invoice_lines")} l
            WHERE l.customer_id NOT IN ({known})
            ORDER BY l."{LINE}"
            """
        ).fetchall()
        target = self.targets["invoice_lines"]
        return [
            target.shown_problem(
                Problem(
                    target.file,
                    line,
                    "customer_id",
                    customer,
                    "unknown customer: add a row for it to customers.csv (or "
                    "import it first), or fix the id",
                )
            )
            for line, customer in rows
        ]

    # Key checks ---------------------------------------------------------------

    def key_problems(self) -> list[Problem]:
        """Report every staged row whose key appears with other content, in the
        tables whose conflicts are rejected. Also record the tables that repeat
        a key, so that `write` keeps one row per key only where needed."""
        problems: list[Problem] = []
        for name, target in self.targets.items():
            spec = TABLES[name]
            shown = target.key_shown or spec.key[-1]
            clashes = self._clashes(name, spec.key, list(spec.columns), shown)
            if target.conflicts == "last":
                if clashes:
                    log.warning(
                        "%s: %d rows give other values for a %s already read; the "
                        "row read last is kept",
                        target.file,
                        len(clashes),
                        "/".join(spec.key),
                    )
                continue
            for line, value, others, _ in clashes:
                if target.duplicate_reason:
                    reason = target.duplicate_reason.format(others=others)
                else:
                    reason = (
                        f"the same {'/'.join(spec.key)} appears with other content "
                        f"on line(s) {others}; keep one row per id"
                    )
                problems.append(
                    Problem(target.file, line, target.shown(shown), value, reason)
                )
        if self.has_metadata:
            problems.extend(self._metadata_problems())
        return problems

    def _clashes(
        self, name: str, key: tuple[str, ...], columns: list[str], shown: str
    ) -> list[tuple[int, str, str, tuple[object, ...]]]:
        """Find the staged rows whose key appears again with other content; return
        (line, value of the `shown` column, other lines, key) for each."""
        table = self._table(name)
        keys = ", ".join(f'"{k}"' for k in key)
        repeated = self._table(f"repeated_{name}")
        self.raw.execute(
            f"CREATE OR REPLACE TEMP TABLE {repeated} AS "
            f"SELECT {keys} FROM {table} GROUP BY {keys} HAVING count(*) > 1"
        )
        try:
            row = self.raw.execute(f"SELECT count(*) FROM {repeated}").fetchone()
            if not row or row[0] == 0:
                return []
            self.repeated.add(name)
            content = ", ".join(f'"{c}"' for c in columns)
            distinct = f"({content})" if len(columns) > 1 else content
            rows = self.raw.execute(
                f"""
                WITH candidates AS (
                    SELECT s.* FROM {table} s SEMI JOIN {repeated} USING ({keys})
                ),
                clashing AS (
                    SELECT {keys}, list("{LINE}" ORDER BY "{LINE}") AS lines
                    FROM candidates GROUP BY {keys}
                    HAVING count(DISTINCT {distinct}) > 1
                )
                SELECT c."{LINE}", CAST(c."{shown}" AS VARCHAR), k.lines, {keys}
                FROM candidates c JOIN clashing k USING ({keys})
                ORDER BY c."{LINE}"
                """
            ).fetchall()
        finally:
            self.raw.execute(f"DROP TABLE IF EXISTS {repeated}")
        return [
            (line, value, _other_lines(lines, line), tuple(key_values))
            for line, value, lines, *key_values in rows
        ]

    def _metadata_problems(self) -> list[Problem]:
        entities = {
            spec.metadata_entity: name
            for name, spec in TABLES.items()
            if spec.metadata_entity is not None
        }
        spec = TABLES["metadata"]
        clashes = self._clashes("metadata", spec.key, ["value"], "value")
        problems = []
        for line, value, others, (entity, _, key) in clashes:
            target = self.targets[entities[str(entity)]]
            if target.conflicts == "last":
                continue
            id_name = TABLES[target.name].key[0]
            problems.append(
                Problem(
                    target.file,
                    line,
                    target.shown(f"{METADATA_PREFIX}{key}"),
                    value,
                    f"the same {id_name} has another value for this metadata key "
                    f"on line(s) {others}; keep one value per {entity}",
                )
            )
        return problems

    # Write --------------------------------------------------------------------

    def _rows_to_write(self, name: str) -> str:
        """SQL of the staged rows of a table with one row per key (the row read
        last) and without the line column."""
        spec = TABLES[name]
        selected = ", ".join(f'"{c}"' for c in spec.columns)
        if name not in self.repeated:
            return f"SELECT {selected} FROM {self._table(name)}"
        keys = ", ".join(f'"{k}"' for k in spec.key)
        return (
            f"SELECT {selected} FROM {self._table(name)} QUALIFY row_number() "
            f'OVER (PARTITION BY {keys} ORDER BY "{LINE}" DESC) = 1'
        )

    def row_counts(self) -> dict[str, int]:
        """Rows to write per staged table, one per key. Call it after
        `key_problems`."""
        counts = {}
        for name in self.targets:
            row = self.raw.execute(
                f"SELECT count(*) FROM ({self._rows_to_write(name)})"
            ).fetchone()
            counts[name] = int(row[0]) if row else 0
        return counts

    def write(self, log_row: dict[str, object]) -> dict[str, int]:
        """Write the staged rows in one transaction; return the number of new or
        changed rows per table. Call it after `key_problems`."""
        changed: dict[str, int] = {}
        names = [n for n in IMPORT_ORDER if n in self.targets]
        if self.has_metadata:
            names.append("metadata")
        self.raw.execute("BEGIN TRANSACTION")
        try:
            for name in names:
                mode = self.targets[name].write if name in self.targets else "replace"
                changed[name] = self._write_table(name, mode)
            _storage.log_import(self.raw, log_row)
            self.raw.execute("COMMIT")
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        return changed

    def _write_table(self, name: str, mode: Literal["replace", "missing"]) -> int:
        return _storage.write_rows(self.raw, name, self._rows_to_write(name), mode)


def _other_lines(lines: list[int], line: int) -> str:
    others = [str(n) for n in lines if n != line]
    shown = ", ".join(others[:_MAX_OTHER_LINES])
    more = len(others) - _MAX_OTHER_LINES
    return f"{shown} and {more} more" if more > 0 else shown
