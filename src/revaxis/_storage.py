"""DuckDB storage of a workspace: the only module that speaks DuckDB directly.

Metric code reads the tables through Ibis; this module creates them, migrates
them and writes imports in one transaction each.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal

import ibis
import pandas as pd

from revaxis._errors import WorkspaceError
from revaxis._schema import SCHEMA_VERSION, TABLES

log = logging.getLogger(__name__)

# Temporary table of the rows that an import changes in one canonical table.
_CHANGED = "_revaxis_changed_rows"

_SYSTEM_TABLES = {
    "revaxis_meta": {"key": "VARCHAR PRIMARY KEY", "value": "VARCHAR"},
    "settings": {"key": "VARCHAR PRIMARY KEY", "value": "VARCHAR"},
    # Web sessions ended by a logout before their cookie expires.
    "revoked_sessions": {"sid": "VARCHAR PRIMARY KEY", "expires_at": "TIMESTAMP"},
    "import_log": {
        "imported_at": "TIMESTAMP",
        "source": "VARCHAR",
        "format": "VARCHAR",
        "rows_read": "BIGINT",
        "rows_imported": "BIGINT",
        "rows_rejected": "BIGINT",
    },
}


def _create_sql(name: str, columns: dict[str, str], key: tuple[str, ...] = ()) -> str:
    cols = ", ".join(f'"{col}" {typ}' for col, typ in columns.items())
    pk = ", PRIMARY KEY (" + ", ".join(f'"{k}"' for k in key) + ")" if key else ""
    return f'CREATE TABLE IF NOT EXISTS "{name}" ({cols}{pk})'


def open_workspace(path: Path) -> ibis.BaseBackend:
    """Open (creating when absent) the DuckDB file at `path` and migrate its schema."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = ibis.duckdb.connect(str(path))
    except Exception as exc:  # duckdb raises IOException, ibis wraps some
        if "Could not set lock" in str(exc):
            holder = re.search(r"\(PID (\d+)\)", str(exc))
            pid = f" (PID {holder.group(1)})" if holder else ""
            raise WorkspaceError(
                f"Cannot open workspace {path}: another process{pid} has it open, "
                "such as `revaxis serve`, and DuckDB lets one process use a file "
                "at a time. Stop that process, or work through the web app or "
                "its API."
            ) from exc
        raise WorkspaceError(
            f"Cannot open workspace {path}: {exc}. Check the path, or close the other "
            "process that holds the file."
        ) from exc
    raw = con.con
    for name, columns in _SYSTEM_TABLES.items():
        raw.execute(_create_sql(name, columns))
    row = raw.execute(
        "SELECT value FROM revaxis_meta WHERE key = 'schema_version'"
    ).fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise WorkspaceError(
            f"Workspace {path} has schema version {version}, newer than this revaxis "
            f"({SCHEMA_VERSION}). Upgrade revaxis to open it."
        )
    if version < SCHEMA_VERSION:
        _migrate(raw, version)
    return con


# Tables added after the first schema, by the version that added them.
AXIS_TABLES = {
    "axes": (
        {
            "key": "VARCHAR",
            "label": "VARCHAR",
            "level": "VARCHAR",
            "value_type": "VARCHAR",
            "source": "VARCHAR",
            "parent": "VARCHAR",
            "buckets": "VARCHAR",
        },
        ("key",),
    ),
    "axis_values": (
        {
            "axis_key": "VARCHAR",
            "entity_id": "VARCHAR",
            "valid_from": "DATE",
            "value": "VARCHAR",
        },
        ("axis_key", "entity_id", "valid_from"),
    ),
    "axis_rules": (
        {
            "axis_key": "VARCHAR",
            "position": "BIGINT",
            "kind": "VARCHAR",
            "pattern": "VARCHAR",
            "label": "VARCHAR",
        },
        ("axis_key", "position"),
    ),
}

# Users of the web app and REST API (schema version 3).
USER_TABLES = {
    "users": (
        {
            "user_id": "BIGINT",
            "email": "VARCHAR UNIQUE",
            "password_hash": "VARCHAR",
            "role": "VARCHAR",
            "created_at": "TIMESTAMP",
        },
        ("user_id",),
    ),
    "api_tokens": (
        {
            "token_id": "BIGINT",
            "user_id": "BIGINT",
            "name": "VARCHAR",
            "token_hash": "VARCHAR UNIQUE",
            "created_at": "TIMESTAMP",
            "last_used_at": "TIMESTAMP",
        },
        ("token_id",),
    ),
}


def _migrate(raw: object, version: int) -> None:
    """Bring a workspace from `version` to SCHEMA_VERSION, one step per version."""
    log.info(
        "migrating workspace schema from version %d to %d", version, SCHEMA_VERSION
    )
    execute = raw.execute  # type: ignore[attr-defined]
    if version < 1:
        # Version 1: the canonical billing tables.
        for spec in TABLES.values():
            execute(_create_sql(spec.name, spec.columns, spec.key))
    if version < 2:
        # Version 2: custom axes, their values (valid_from 1900-01-01 stands for
        # "all time") and label rules.
        for name, (columns, key) in AXIS_TABLES.items():
            execute(_create_sql(name, columns, key))
    if version < 3:
        # Version 3: users of the web app and their API tokens.
        for name, (columns, key) in USER_TABLES.items():
            execute(_create_sql(name, columns, key))
    execute(
        "INSERT OR REPLACE INTO revaxis_meta VALUES ('schema_version', ?)",
        [str(SCHEMA_VERSION)],
    )


def read_settings(con: ibis.BaseBackend) -> dict[str, str]:
    rows = con.con.execute("SELECT key, value FROM settings").fetchall()
    return {key: value for key, value in rows}


def write_setting(con: ibis.BaseBackend, key: str, value: str | None) -> None:
    if value is None:
        con.con.execute("DELETE FROM settings WHERE key = ?", [key])
    else:
        con.con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, value])


def execute(
    con: ibis.BaseBackend, sql: str, params: list[object] | None = None
) -> None:
    """Run one statement with bound parameters (never user text in `sql`)."""
    con.con.execute(sql, params or [])


def replace_rows(
    con: ibis.BaseBackend,
    table: str,
    delete_where: dict[str, object],
    frame: pd.DataFrame,
) -> None:
    """In one transaction, delete the rows of `table` matching `delete_where`
    (column = value) and insert `frame`."""
    raw = con.con
    raw.execute("BEGIN TRANSACTION")
    try:
        if delete_where:
            cond = " AND ".join(f'"{c}" = ?' for c in delete_where)
            raw.execute(
                f'DELETE FROM "{table}" WHERE {cond}', list(delete_where.values())
            )
        if not frame.empty:
            raw.register("_revaxis_rows", frame)
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            raw.execute(
                f'INSERT OR REPLACE INTO "{table}" ({cols}) '
                f"SELECT {cols} FROM _revaxis_rows"
            )
            raw.unregister("_revaxis_rows")
        raw.execute("COMMIT")
    except Exception:
        raw.execute("ROLLBACK")
        raise


def write_rows(
    raw: Any, table: str, rows: str, mode: Literal["replace", "missing"]
) -> int:
    """Write the rows of the query `rows` to the canonical `table` and return
    how many were new or changed. The query gives the table's columns in order,
    one row per key.

    With mode "replace" a row replaces the stored row with the same key. With
    "missing" only rows with a new key are added. Only new or changed rows are
    written, so writing the same rows again changes nothing. Run it inside the
    caller's transaction.
    """
    spec = TABLES[table]
    columns = ", ".join(f'"{c}"' for c in spec.columns)
    keys = ", ".join(f'"{k}"' for k in spec.key)
    # Rows are inserted in key order, which builds the primary-key index much
    # faster: 4.1 million invoice lines in random order took 27 s to insert and
    # commit in key order and 42 s unsorted (DuckDB 1.5.6, 2 cores). The sort
    # raised the peak RSS of a 1-million-line import by about 120 MiB.
    if raw.execute(f'SELECT count(*) FROM "{table}"').fetchone() == (0,):
        counted = raw.execute(
            f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM ({rows}) '
            f"ORDER BY {keys}"
        ).fetchone()
        return int(counted[0]) if counted else 0
    if mode == "missing":
        counted = raw.execute(
            f'INSERT INTO "{table}" ({columns}) SELECT {columns} '
            f'FROM ({rows}) ANTI JOIN "{table}" USING ({keys}) ORDER BY {keys}'
        ).fetchone()
        return int(counted[0]) if counted else 0
    raw.execute(
        f"CREATE OR REPLACE TEMP TABLE {_CHANGED} AS SELECT * FROM ({rows}) "
        f'EXCEPT SELECT {columns} FROM "{table}"'
    )
    try:
        counted = raw.execute(f"SELECT count(*) FROM {_CHANGED}").fetchone()
        changed = int(counted[0]) if counted else 0
        if changed:
            # INSERT OR REPLACE, not a DELETE of the changed keys and an INSERT:
            # replacing 1 million rows took 2.4 s with the first and 66 s with
            # the second (DuckDB 1.5.6, 2 cores).
            raw.execute(
                f'INSERT OR REPLACE INTO "{table}" ({columns}) '
                f"SELECT * FROM {_CHANGED} ORDER BY {keys}"
            )
    finally:
        raw.execute(f"DROP TABLE IF EXISTS {_CHANGED}")
    return changed


def log_import(raw: Any, log_row: dict[str, object]) -> None:
    """Add a row to import_log, inside the caller's transaction."""
    raw.execute(
        "INSERT INTO import_log VALUES (current_timestamp, ?, ?, ?, ?, ?)",
        [
            log_row["source"],
            log_row["format"],
            log_row["rows_read"],
            log_row["rows_imported"],
            log_row["rows_rejected"],
        ],
    )


def table_counts(con: ibis.BaseBackend) -> dict[str, int]:
    out = {}
    for name in TABLES:
        row = con.con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        out[name] = int(row[0]) if row else 0
    return out
