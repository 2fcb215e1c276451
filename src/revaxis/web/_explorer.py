"""Data of the segments explorer: one KPI per segment and period, which periods
it shows, the one still in progress, and the segments its chart draws."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from revaxis._axes import Axis
from revaxis.web._report_views import (
    DEFAULT_PERIODS,
    Kpi,
    Options,
    SegmentRow,
    bucket_edge,
    is_bucket_axis,
    is_complete,
    net_new_mrr,
    round_cents,
)
from revaxis.workspace import Workspace

# Segments a chart draws at most; the table lists them all.
CHART_SEGMENTS = 10


@dataclass
class Exploration:
    """The explorer's content for one KPI and set of options."""

    # Period labels shown, oldest first.
    periods: list[str]
    # Every segment, in table order.
    rows: list[SegmentRow]
    # The last shown period when it ends after the report day, else None.
    in_progress: str | None
    # The segments the chart draws: the CHART_SEGMENTS highest, in table order,
    # then an "Other" line with the sum of the rest for additive KPIs.
    chart_rows: list[SegmentRow]
    # Segments of `rows` that the chart does not draw on their own line.
    left_out: int


def explore(
    ws: Workspace,
    kpi: Kpi,
    options: Options,
    registry: Mapping[str, Axis],
) -> Exploration:
    """Compute `kpi` per segment of `options.axes` and period.

    Without `to`, the range ends with the latest complete period (its last day
    is on or before the report day), as on the overview, unless no period is
    complete yet. Without `from`, it starts DEFAULT_PERIODS periods earlier.
    """
    arguments = {
        "by": options.axes or None,
        "start": options.start,
        "end": options.end,
        "interval": options.interval,
        "as_of": options.as_of,
        "filter": options.filter,
    }
    if kpi.source == "mrr":
        frame = ws.mrr(**arguments)
        frame["net_new_mrr"] = net_new_mrr(frame)
    else:
        frame = ws.kpis(**arguments)
    if kpi.kind == "money":
        frame[kpi.key] = round_cents(frame[kpi.key])

    report_day = options.as_of or dt.date.today()
    periods = sorted(frame["period"].unique().tolist())
    if not options.end:
        while len(periods) > 1 and not is_complete(
            periods[-1], options.interval, report_day
        ):
            periods.pop()
    if not options.start:
        periods = periods[-DEFAULT_PERIODS:]
    in_progress = None
    if periods and not is_complete(periods[-1], options.interval, report_day):
        in_progress = periods[-1]
    frame = frame[frame["period"].isin(periods)]

    rows = _segment_rows(frame, kpi.key, options.axes)
    complete = [p for p in periods if p != in_progress] or periods
    rank = {id(row): _rank_value(row, kpi, complete) for row in rows}
    by_rank = sorted(rows, key=lambda row: (-rank[id(row)], row.label))
    bucket_axes = [
        index
        for index, key in enumerate(options.axes)
        if key in registry and is_bucket_axis(registry[key])
    ]

    def table_order(row: SegmentRow) -> tuple[object, ...]:
        edges = tuple(bucket_edge(row.values[i]) for i in bucket_axes)
        return (*edges, -rank[id(row)], row.label)

    rows.sort(key=table_order)
    drawn = {id(row) for row in by_rank[:CHART_SEGMENTS]}
    chart_rows = [row for row in rows if id(row) in drawn]
    rest = [row for row in rows if id(row) not in drawn]
    if rest and kpi.additive:
        chart_rows.append(_other_row(rest, periods))
    return Exploration(periods, rows, in_progress, chart_rows, len(rest))


def _segment_rows(frame: pd.DataFrame, kpi: str, axes: list[str]) -> list[SegmentRow]:
    """Return one row per segment with the KPI per period label."""
    rows: list[SegmentRow] = []
    if axes:
        for values, group in frame.groupby(axes, sort=True, dropna=False):
            texts = [
                str(v) for v in (values if isinstance(values, tuple) else [values])
            ]
            cells = dict(zip(group["period"], group[kpi].astype(float), strict=True))
            rows.append(SegmentRow(texts, " · ".join(texts), cells))
    else:
        cells = dict(zip(frame["period"], frame[kpi].astype(float), strict=True))
        rows.append(SegmentRow([], "", cells))
    for row in rows:
        row.cells = {p: (None if pd.isna(v) else v) for p, v in row.cells.items()}
    return rows


def _rank_value(row: SegmentRow, kpi: Kpi, complete: list[str]) -> float:
    """Return what segments are ranked by: a flow KPI's sum over the complete
    periods shown, another KPI's value in the latest of them. A segment
    without a value ranks last."""
    if not complete:
        return -math.inf
    if kpi.flow:
        known = [row.cells[p] for p in complete if row.cells.get(p) is not None]
        return float(sum(known)) if known else -math.inf
    value = row.cells.get(complete[-1])
    return -math.inf if value is None else float(value)


def _other_row(rest: list[SegmentRow], periods: list[str]) -> SegmentRow:
    """Sum the segments that the chart leaves out, per period; None where none
    of them has a value."""
    cells: dict[str, float | None] = {}
    for period in periods:
        known = [row.cells[period] for row in rest if row.cells.get(period) is not None]
        cells[period] = round(float(sum(known)), 2) if known else None
    return SegmentRow([], "Other", cells, other=True)
