"""Snapshots of the SQL that Ibis generates for the MRR steps, so that a change in
the queries shows in review. Regenerate with REVAXIS_UPDATE_SNAPSHOTS=1."""

from __future__ import annotations

import os
from pathlib import Path

import ibis
import pytest

from revaxis import _engine
from revaxis._schema import TABLES

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _table(name: str) -> ibis.Table:
    types = {
        "VARCHAR": "string",
        "DATE": "date",
        "DOUBLE": "float64",
        "BIGINT": "int64",
    }
    spec = TABLES[name]
    return ibis.table({c: types[t] for c, t in spec.columns.items()}, name=name)


def _steps() -> dict[str, ibis.Table]:
    rates = ibis.table(
        {"day": "date", "currency": "string", "rate": "float64"}, "rates"
    )
    settings = _engine.EngineSettings(grace_days=3)
    lines = _engine.line_mrr(
        _table("invoice_lines"), _table("subscriptions"), rates, settings
    )
    # The later steps read materialised tables, as the workspace caches them.
    lm = ibis.table(lines.schema(), name="line_mrr").mutate(ax_plan=ibis._.plan_id)
    ev = _engine.bridge_grace_gaps(_engine.events(lm, ["ax_plan"]), 3)
    ev_table = ibis.table(ev.schema(), name="events")
    states = _engine.customer_states(ev_table)
    states_table = ibis.table(states.schema(), name="customer_states")
    cur_fx = _engine.currency_fx(ev_table, states_table, "USD")
    movements = _engine.segment_movements(ev_table, states_table, cur_fx, ["ax_plan"])
    return {
        "line_mrr": lines,
        "events": ev,
        "customer_states": states,
        "segment_movements": movements,
    }


@pytest.mark.parametrize(
    "step", ["line_mrr", "events", "customer_states", "segment_movements"]
)
def test_generated_sql_matches_snapshot(step):
    sql = ibis.to_sql(_steps()[step], dialect="duckdb").strip() + "\n"
    path = SNAPSHOTS / f"{step}.sql"
    if os.environ.get("REVAXIS_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(sql)
    assert sql == path.read_text(), f"SQL of {step} changed; see {path}"
