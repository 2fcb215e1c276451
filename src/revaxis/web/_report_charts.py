"""Plotly figures of the report pages, built as plain dicts that static/app.js
renders. A figure may carry `export`: the title that its PNG download adds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from revaxis.web._report_views import CHART_MOVEMENTS, Kind, SegmentRow

# Line colours of the segments chart: D3's category10 without its grey, which
# marks the "Other" line, and one dark indigo to make ten distinct colours.
SEGMENT_COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#393b79",
]
OTHER_COLOUR = "#7f7f7f"
# ColorBrewer's Blues from light to dark, so that high retention is dark.
RETENTION_COLOURS = [
    [0.0, "#f7fbff"],
    [0.25, "#c6dbef"],
    [0.5, "#6baed6"],
    [0.75, "#2171b5"],
    [1.0, "#08306b"],
]
# Legend entries longer than this are cut with an ellipsis; hovers show them whole.
LEGEND_CHARACTERS = 28


def separators(language: str) -> str:
    """Plotly's decimal and thousands separators for a language."""
    return ",\u202f" if language == "fr" else ".,"


def _value_axis(title: str, kind: Kind) -> dict[str, object]:
    """Build a y-axis for values of `kind`: money ticks without cents, zero
    included for amounts and counts, room kept for the title."""
    tick = {"rate": ".1%", "money": ",.2~f", "count": ",~r"}.get(kind, ",.2~f")
    axis: dict[str, object] = {
        "title": {"text": title, "standoff": 10},
        "tickformat": tick,
        "automargin": True,
        "zeroline": True,
    }
    if kind in ("money", "count"):
        axis["rangemode"] = "tozero"
    return axis


def _hover_format(kind: Kind) -> str:
    return {"rate": ".1%", "money": ",.2f", "count": ",d"}.get(kind, ",.2f")


def movements_figure(
    bridge: pd.DataFrame,
    labels: dict[str, str],
    language: str,
    drill: dict[str, str],
    export_title: str,
) -> dict[str, object]:
    """Stack positive movements above zero and negative ones below, with the MRR
    at each period's end as a line on a second axis."""
    periods = bridge["period"].tolist()
    data: list[dict[str, object]] = []
    for key, _, colour in CHART_MOVEMENTS:
        sign = -1 if key in ("contraction", "churn") else 1
        data.append(
            {
                "type": "bar",
                "name": labels[key],
                "x": periods,
                "y": [sign * float(v) for v in bridge[key]],
                "marker": {"color": colour},
                "customdata": [{**drill, "kpi": key, "period": p} for p in periods],
                "hovertemplate": "%{x}: %{y:,.2f}<extra>" + labels[key] + "</extra>",
            }
        )
    data.append(
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": labels["mrr"],
            "x": periods,
            "y": [float(v) for v in bridge["mrr_end"]],
            "yaxis": "y2",
            "line": {"color": "#1f4e79", "width": 3},
            "customdata": [{**drill, "kpi": "mrr", "period": p} for p in periods],
            "hovertemplate": "%{x}: %{y:,.2f}<extra>" + labels["mrr"] + "</extra>",
        }
    )
    movements_axis = _value_axis(labels["movements_axis"], "money")
    # Movements go below zero, so zero need not be forced in.
    movements_axis.pop("rangemode")
    mrr_axis = _value_axis(labels["mrr_axis"], "money")
    # Ticks of its own: an overlaying axis otherwise copies the left axis' tick
    # positions, which land on amounts with cents.
    mrr_axis.update(overlaying="y", side="right", showgrid=False, tickmode="auto")
    return {
        "data": data,
        "layout": {
            "barmode": "relative",
            "margin": {"t": 30, "r": 20, "b": 50, "l": 20},
            "separators": separators(language),
            "xaxis": {"type": "category"},
            "yaxis": movements_axis,
            "yaxis2": mrr_axis,
            "legend": {"orientation": "h", "y": -0.15},
        },
        "export": {"title": export_title},
    }


def _short(label: str) -> str:
    if len(label) <= LEGEND_CHARACTERS:
        return label
    return label[: LEGEND_CHARACTERS - 1] + "…"


def _segment_trace(
    row: SegmentRow,
    periods: list[str],
    colour: str,
    value_format: str,
    **extra: object,
) -> dict[str, object]:
    """Build the line of one segment over `periods`; `extra` overrides keys."""
    other = row.other
    point = dict(zip(("value", "value2"), row.values, strict=False))
    hover = f"{row.label}<br>%{{x}}: %{{y:{value_format}}}<extra></extra>"
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": _short(row.label),
        "legendgroup": row.label,
        "x": periods,
        "y": [row.cells.get(p) for p in periods],
        # The "Other" line sums several segments, so it has no drill-down.
        "customdata": None if other else [{**point, "period": p} for p in periods],
        "hovertemplate": hover,
        "line": {"color": colour, "dash": "dot" if other else "solid"},
        "marker": {"color": colour},
        **extra,
    }


def segments_figure(
    rows: Sequence[SegmentRow],
    periods: list[str],
    in_progress: str | None,
    kind: Kind,
    axis_title: str,
    language: str,
    texts: dict[str, str],
) -> dict[str, object]:
    """Draw one line per segment; a click on a point opens its drill-down.

    `rows` are the segments to draw, with an "Other" line (`other`) last.
    The period in progress on the report day is shaded and annotated with
    `texts["in_progress"]`, and the line runs dashed into it.
    `texts["export"]` is the title of the PNG download."""
    data: list[dict[str, object]] = []
    value_format = _hover_format(kind)
    complete = periods[:-1] if in_progress else periods
    for index, row in enumerate(rows):
        colour = OTHER_COLOUR if row.other else SEGMENT_COLOURS[index % 10]
        data.append(_segment_trace(row, complete or periods, colour, value_format))
        if in_progress and complete:
            data.append(
                _segment_trace(
                    row,
                    [complete[-1], in_progress],
                    colour,
                    value_format,
                    showlegend=False,
                    line={"color": colour, "dash": "dash"},
                    marker={"color": colour, "symbol": ["circle", "circle-open"]},
                )
            )
    layout: dict[str, object] = {
        "height": 460,
        "margin": {"t": 30, "r": 20, "b": 50, "l": 20},
        "separators": separators(language),
        "colorway": SEGMENT_COLOURS,
        "xaxis": {"type": "category", "automargin": True},
        "yaxis": _value_axis(axis_title, kind),
        # A legend on the right takes width, not height, however many lines.
        "legend": {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1},
        "hovermode": "closest",
    }
    if in_progress:
        last = len(periods) - 1
        layout["shapes"] = [
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": last - 0.5,
                "x1": last + 0.5,
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(93, 107, 122, 0.12)",
                "line": {"width": 0},
                "layer": "below",
            }
        ]
        layout["annotations"] = [
            {
                "x": in_progress,
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "yanchor": "bottom",
                "text": texts["in_progress"],
                "showarrow": False,
                "font": {"size": 11, "color": "#5d6b7a"},
            }
        ]
    return {"data": data, "layout": layout, "export": {"title": texts["export"]}}


def retention_range(values: np.ndarray, metric: str) -> float:
    """Return the top of the colour scale. Logo retention cannot exceed 1, so
    its top is 1. Net MRR retention tops at its 95th percentile when that is
    above 1, so that a few cells of large expansion do not wash out the rest."""
    if metric != "net_mrr_retention":
        return 1.0
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1.0
    return max(1.0, float(np.percentile(finite, 95)))


def cohort_figure(
    matrix: pd.DataFrame,
    ages: list[int],
    labels: list[str],
    texts: list[list[str]],
    axis_titles: tuple[str, str],
    metric: str,
    language: str,
    export_title: str,
) -> dict[str, object]:
    """Draw a retention heatmap: one row per cohort (and segment), one column per
    age, the cells coloured by retention and labelled with it.

    The colour scale runs from 0 to `retention_range`. Higher values take the
    strongest colour, and their text and hover still give the value."""
    values = matrix.to_numpy(dtype=float)
    top = retention_range(values, metric)
    z = [[None if np.isnan(v) else min(float(v), top) for v in row] for row in values]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": [str(a) for a in ages],
                "y": labels,
                "z": z,
                "text": texts,
                "texttemplate": "%{text}",
                "hovertemplate": "%{y}, %{x}: %{text}<extra></extra>",
                "colorscale": RETENTION_COLOURS,
                "zmin": 0,
                "zmax": top,
                "xgap": 1,
                "ygap": 1,
                "colorbar": {"tickformat": ".0%", "thickness": 14},
            }
        ],
        "layout": {
            "separators": separators(language),
            "margin": {"t": 30, "r": 20, "b": 50, "l": 20},
            "xaxis": {"title": {"text": axis_titles[0]}, "type": "category"},
            "yaxis": {
                "title": {"text": axis_titles[1], "standoff": 10},
                "type": "category",
                "autorange": "reversed",
                "automargin": True,
            },
            "height": max(320, 60 + 28 * len(labels)),
        },
        "export": {"title": export_title},
    }
