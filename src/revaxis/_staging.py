"""Staging of an import: DuckDB temporary tables that collect the typed rows of
every chunk, check keys across all of them, and write them to the workspace in
one transaction.

Rows keep their source line (`_line`) until they are written, so a key conflict
found across chunks still names the lines involved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from revaxis._errors import Problem
from revaxis._schema import IMPORT_ORDER, TABLES
from revaxis._validate import LINE, METADATA_PREFIX

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

    def shown(self, column: str | None) -> str | None:
        if column is None:
            return None
        return self.fields.get(column, column)


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

    def add(self, target: Target, good: pd.DataFrame, meta: pd.DataFrame) -> None:
        name = target.name
        spec = TABLES[name]
        if name not in self.targets:
            self.targets[name] = target
            self._create(name, spec.columns)
        if not good.empty:
            self._insert(name, spec.columns, good)
        if not meta.empty:
            if not self.has_metadata:
                self.has_metadata = True
                self._create("metadata", TABLES["metadata"].columns)
            self._insert("metadata", TABLES["metadata"].columns, meta)

    def _create(self, name: str, columns: dict[str, str]) -> None:
        typed = ", ".join(f'"{c}" {t}' for c, t in columns.items())
        self.raw.execute(
            f"CREATE OR REPLACE TEMP TABLE {self._table(name)} "
            f'({typed}, "{LINE}" BIGINT)'
        )

    def _insert(self, name: str, columns: dict[str, str], frame: pd.DataFrame) -> None:
        view = f"{STAGE_PREFIX}frame"
        self.raw.register(view, frame[[*columns, LINE]])
        try:
            select = ", ".join(f'CAST("{c}" AS {t})' for c, t in columns.items())
            self.raw.execute(
                f"INSERT INTO {self._table(name)} "
                f'SELECT {select}, CAST("{LINE}" AS BIGINT) FROM {view}'
            )
        finally:
            self.raw.unregister(view)

    def drop(self) -> None:
        for name in [*self.targets, "metadata"]:
            self.raw.execute(f"DROP TABLE IF EXISTS {self._table(name)}")

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
            self.raw.execute(
                "INSERT INTO import_log VALUES (current_timestamp, ?, ?, ?, ?, ?)",
                [
                    log_row["source"],
                    log_row["format"],
                    log_row["rows_read"],
                    log_row["rows_imported"],
                    log_row["rows_rejected"],
                ],
            )
            self.raw.execute("COMMIT")
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        return changed

    def _write_table(self, name: str, mode: Literal["replace", "missing"]) -> int:
        spec = TABLES[name]
        selected = ", ".join(f'"{c}"' for c in spec.columns)
        rows = self._rows_to_write(name)
        stored = self.raw.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        if stored is None or stored[0] == 0:
            sql = f'INSERT INTO "{name}" ({selected}) {rows}'
        elif mode == "missing":
            keys = ", ".join(f'"{k}"' for k in spec.key)
            sql = (
                f'INSERT INTO "{name}" ({selected}) SELECT {selected} '
                f'FROM ({rows}) ANTI JOIN "{name}" USING ({keys})'
            )
        else:
            # Only new or changed rows are written, so a repeated import leaves
            # every stored row as it was.
            sql = (
                f'INSERT OR REPLACE INTO "{name}" ({selected}) SELECT {selected} '
                f'FROM ({rows} EXCEPT SELECT {selected} FROM "{name}")'
            )
        row = self.raw.execute(sql).fetchone()
        return int(row[0]) if row else 0


def _other_lines(lines: list[int], line: int) -> str:
    others = [str(n) for n in lines if n != line]
    shown = ", ".join(others[:_MAX_OTHER_LINES])
    more = len(others) - _MAX_OTHER_LINES
    return f"{shown} and {more} more" if more > 0 else shown
