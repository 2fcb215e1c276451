"""What the report pages show: the KPI catalog, page options read from the query
string, and Plotly figures built as plain dicts (rendered by static/app.js)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from revaxis import _periods
from revaxis._errors import InputError

Kind = Literal["money", "count", "rate", "ratio", "months"]


@dataclass(frozen=True)
class Kpi:
    """A number the pages show: where it comes from and how to format it."""

    key: str
    label: str
    kind: Kind
    # "mrr" reads the MRR bridge (Workspace.mrr), "kpis" reads Workspace.kpis.
    source: Literal["mrr", "kpis"]
    # Whether a rise is good news (green) or bad news (red, the churn rates).
    higher_is_better: bool = True


KPIS: dict[str, Kpi] = {
    k.key: k
    for k in [
        Kpi("mrr", "MRR", "money", "kpis"),
        Kpi("arr", "ARR", "money", "kpis"),
        Kpi("net_new_mrr", "Net new MRR", "money", "mrr"),
        Kpi("new", "New MRR", "money", "mrr"),
        Kpi("expansion", "Expansion MRR", "money", "mrr"),
        Kpi("contraction", "Contraction MRR", "money", "mrr", False),
        Kpi("churn", "Churned MRR", "money", "mrr", False),
        Kpi("reactivation", "Reactivation MRR", "money", "mrr"),
        Kpi("customers", "Customers", "count", "kpis"),
        Kpi("new_customers", "New customers", "count", "kpis"),
        Kpi("churned_customers", "Churned customers", "count", "kpis", False),
        Kpi("arpa", "ARPA", "money", "kpis"),
        Kpi("customer_churn_rate", "Customer churn rate", "rate", "kpis", False),
        Kpi("gross_mrr_churn_rate", "Gross MRR churn rate", "rate", "kpis", False),
        Kpi("net_mrr_churn_rate", "Net MRR churn rate", "rate", "kpis", False),
        Kpi("quick_ratio", "Quick ratio", "ratio", "kpis"),
        Kpi("nrr_12m", "Net revenue retention (12 months)", "rate", "kpis"),
        Kpi("grr_12m", "Gross revenue retention (12 months)", "rate", "kpis"),
        Kpi("ltv", "LTV", "money", "kpis"),
        Kpi("lifetime_months", "Lifetime (months)", "months", "kpis"),
    ]
}
# Tiles of the overview, in order.
OVERVIEW_TILES = [
    "mrr",
    "arr",
    "customers",
    "arpa",
    "net_new_mrr",
    "new_customers",
    "churned_customers",
    "customer_churn_rate",
    "gross_mrr_churn_rate",
    "net_mrr_churn_rate",
    "quick_ratio",
    "nrr_12m",
    "grr_12m",
    "ltv",
]
# KPIs of the segments explorer: every one can be drilled into.
EXPLORER_KPIS = [
    "mrr",
    "arr",
    "net_new_mrr",
    "new",
    "expansion",
    "contraction",
    "churn",
    "reactivation",
    "customers",
    "new_customers",
    "churned_customers",
    "arpa",
    "customer_churn_rate",
    "gross_mrr_churn_rate",
    "net_mrr_churn_rate",
]
# Movements of the overview chart: positive bars, then negative ones.
CHART_MOVEMENTS = [
    ("new", "New", "#2e7d32"),
    ("expansion", "Expansion", "#66bb6a"),
    ("reactivation", "Reactivation", "#26a69a"),
    ("contraction", "Contraction", "#ef8a62"),
    ("churn", "Churn", "#c62828"),
]
COHORT_METRICS = {
    "logo_retention": "Logo retention",
    "net_mrr_retention": "Net MRR retention",
}
# Periods a page shows when the query gives no start.
DEFAULT_PERIODS = 12


@dataclass
class SegmentRow:
    """One row of the segments explorer: the segment's axis values, its label
    and its value per period label (None where the segment has no row)."""

    values: list[str]
    label: str
    cells: dict[str, float | None]


def net_new_mrr(frame: pd.DataFrame) -> pd.Series:
    """Net new MRR of MRR bridge rows: new + expansion + reactivation -
    contraction - churn (transfers and fx left out)."""
    return (
        frame["new"]
        + frame["expansion"]
        + frame["reactivation"]
        - frame["contraction"]
        - frame["churn"]
    )


@dataclass
class Options:
    """Report options read from a page's query string, with the problems found.

    Invalid values are listed in `errors` and replaced by their defaults, so a
    page can show the message inline and still render its form.
    """

    interval: _periods.Interval = "month"
    as_of: dt.date | None = None
    start: str | None = None
    end: str | None = None
    filter: str | None = None
    axes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def query(self) -> dict[str, str]:
        """Return the options as query parameters for links and forms."""
        out = {"interval": self.interval}
        if self.as_of:
            out["as_of"] = self.as_of.isoformat()
        for name, value in (
            ("from", self.start),
            ("to", self.end),
            ("filter", self.filter),
        ):
            if value:
                out[name] = value
        for name, key in zip(("axis", "axis2"), self.axes, strict=False):
            out[name] = key
        return out


def read_options(params: dict[str, str], axis_keys: list[str]) -> Options:
    """Read interval, as_of, from, to, filter, axis and axis2 from a query.

    Period labels are checked here; the filter expression is checked by the
    workspace when the report runs."""
    options = Options()
    interval = params.get("interval") or "month"
    try:
        options.interval = _periods.check_interval(interval)
    except InputError as exc:
        options.errors.append(str(exc))
    as_of = (params.get("as_of") or "").strip()
    if as_of:
        try:
            options.as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            options.errors.append(
                f"Invalid report day {as_of!r}: write a date as 2025-06-30."
            )
    for name in ("from", "to"):
        text = (params.get(name) or "").strip()
        if not text:
            continue
        try:
            _periods.parse_label(text, options.interval)
        except InputError as exc:
            options.errors.append(str(exc))
            continue
        if name == "from":
            options.start = text
        else:
            options.end = text
    options.filter = (params.get("filter") or "").strip() or None
    for name in ("axis", "axis2"):
        key = (params.get(name) or "").strip()
        if not key or key in options.axes:
            continue
        if key not in axis_keys:
            options.errors.append(
                f"Unknown axis {key!r}: choose one of {', '.join(axis_keys)}."
            )
            continue
        options.axes.append(key)
    return options


def is_complete(label: str, interval: _periods.Interval, report_day: dt.date) -> bool:
    """Return whether the period's last day is on or before the report day."""
    start = _periods.parse_label(label, interval)
    return _periods.next_start(start, interval) <= report_day + dt.timedelta(days=1)


def separators(language: str) -> str:
    """Plotly's decimal and thousands separators for a language."""
    return ",\u202f" if language == "fr" else ".,"


def movements_figure(
    bridge: pd.DataFrame, labels: dict[str, str], language: str, drill: dict[str, str]
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
    return {
        "data": data,
        "layout": {
            "barmode": "relative",
            "margin": {"t": 30, "r": 80, "b": 50, "l": 70},
            "separators": separators(language),
            "xaxis": {"type": "category"},
            "yaxis": {"title": {"text": labels["movements"]}, "zeroline": True},
            "yaxis2": {
                "title": {"text": labels["mrr"]},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
            },
            "legend": {"orientation": "h", "y": -0.15},
        },
    }


def segments_figure(
    rows: list[SegmentRow],
    periods: list[str],
    kind: Kind,
    title: str,
    language: str,
) -> dict[str, object]:
    """Draw one line per segment; a click on a point opens its drill-down."""
    data = []
    for row in rows:
        point = dict(zip(("value", "value2"), row.values, strict=False))
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": row.label,
                "x": periods,
                "y": [row.cells.get(p) for p in periods],
                "customdata": [{**point, "period": p} for p in periods],
            }
        )
    tick = {"rate": ".1%", "money": ",.2f", "count": ",d"}.get(kind, ",.2f")
    return {
        "data": data,
        "layout": {
            "separators": separators(language),
            "xaxis": {"type": "category"},
            "yaxis": {"title": {"text": title}, "tickformat": tick},
            "legend": {"orientation": "h", "y": -0.15},
            "hovermode": "closest",
        },
    }


def cohort_figure(
    matrix: pd.DataFrame,
    ages: list[int],
    labels: list[str],
    texts: list[list[str]],
    axis_titles: tuple[str, str],
    language: str,
) -> dict[str, object]:
    """Draw a retention heatmap: one row per cohort (and segment), one column per
    age, the cells coloured by retention and labelled with it."""
    z = [[None if pd.isna(v) else float(v) for v in row] for row in matrix.to_numpy()]
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
                "colorscale": "Blues",
                "zmin": 0,
                "zmax": max([1.0, *(v for r in z for v in r if v is not None)]),
            }
        ],
        "layout": {
            "separators": separators(language),
            "xaxis": {"title": {"text": axis_titles[0]}, "type": "category"},
            "yaxis": {
                "title": {"text": axis_titles[1]},
                "type": "category",
                "autorange": "reversed",
            },
            "height": max(320, 60 + 28 * len(labels)),
        },
    }
