"""Content rules of the report pages: the KPI catalog, page options read from
the query string with the errors found, and the order and rounding of values.
The Plotly figures are built in `_report_charts`."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from revaxis import _axes, _periods
from revaxis._axes import Axis
from revaxis._errors import InputError, UnknownAxisError

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
    # Whether the values of several segments add up, so that a chart can draw
    # the segments it leaves out as one summed "Other" line. Ratios do not.
    additive: bool = False
    # Whether the KPI counts what happened during a period, so that the values
    # of several periods add up (movements); levels and ratios do not.
    flow: bool = False


KPIS: dict[str, Kpi] = {
    k.key: k
    for k in [
        Kpi("mrr", "MRR", "money", "kpis", additive=True),
        Kpi("arr", "ARR", "money", "kpis", additive=True),
        Kpi("net_new_mrr", "Net new MRR", "money", "mrr", additive=True, flow=True),
        Kpi("new", "New MRR", "money", "mrr", additive=True, flow=True),
        Kpi("expansion", "Expansion MRR", "money", "mrr", additive=True, flow=True),
        Kpi(
            "contraction",
            "Contraction MRR",
            "money",
            "mrr",
            False,
            additive=True,
            flow=True,
        ),
        Kpi("churn", "Churned MRR", "money", "mrr", False, additive=True, flow=True),
        Kpi(
            "reactivation",
            "Reactivation MRR",
            "money",
            "mrr",
            additive=True,
            flow=True,
        ),
        Kpi("customers", "Customers", "count", "kpis", additive=True),
        Kpi(
            "new_customers", "New customers", "count", "kpis", additive=True, flow=True
        ),
        Kpi(
            "churned_customers",
            "Churned customers",
            "count",
            "kpis",
            False,
            additive=True,
            flow=True,
        ),
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
    # Whether the row is a chart's "Other" line: the sum of the segments it
    # does not draw, with no axis values and no drill-down.
    other: bool = False


def round_cents(values: pd.Series) -> pd.Series:
    """Round amounts to the cent, so that float sums such as 7002.419999999999
    show and export as 7002.42."""
    return (values.astype(float) * 100).round() / 100


def net_new_mrr(frame: pd.DataFrame) -> pd.Series:
    """Net new MRR of MRR bridge rows: new + expansion + reactivation -
    contraction - churn (transfers and fx left out), summed in whole cents."""
    cents = {
        name: (frame[name].astype(float) * 100).round()
        for name in ("new", "expansion", "reactivation", "contraction", "churn")
    }
    total = (
        cents["new"]
        + cents["expansion"]
        + cents["reactivation"]
        - cents["contraction"]
        - cents["churn"]
    )
    return total / 100


@dataclass(frozen=True)
class PageError:
    """An invalid option as a page shows it. The page's own messages are
    English msgids with `%(name)s` values, translated when shown. Library
    messages (`translate=False`) are shown as they are, in English."""

    message: str
    values: Mapping[str, object] = field(default_factory=dict)
    translate: bool = True

    def text(self, gettext: Callable[..., str]) -> str:
        """Return the message in the page's language."""
        if not self.translate:
            return self.message
        return gettext(self.message, **self.values)

    def __str__(self) -> str:
        return self.message % self.values if self.values else self.message


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
    errors: list[PageError] = field(default_factory=list)

    def add_error(self, message: str, **values: object) -> None:
        """Record a message of the page: an English msgid and its values."""
        self.errors.append(PageError(message, values))

    def add_library_error(self, exc: Exception) -> None:
        """Record the message of a library error, kept as the library wrote it
        (with its "Did you mean" suggestion, for example)."""
        self.errors.append(PageError(str(exc), translate=False))

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


def read_options(
    params: Mapping[str, str], registry: Mapping[str, Axis] | None
) -> Options:
    """Read interval, as_of, from, to, filter, axis and axis2 from a query.

    Period labels are checked here and written in the interval's own labels
    (see `period_in_interval`). Axes are read only when `registry` is given,
    and checked against it. The filter expression is checked by the workspace
    when the report runs."""
    options = Options()
    interval = params.get("interval") or "month"
    try:
        options.interval = _periods.check_interval(interval)
    except InputError as exc:
        options.add_library_error(exc)
    as_of = (params.get("as_of") or "").strip()
    if as_of:
        try:
            options.as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            options.add_error(
                "Invalid report day '%(day)s': write a date as 2025-06-30.", day=as_of
            )
    for name in ("from", "to"):
        text = (params.get(name) or "").strip()
        if not text:
            continue
        try:
            label = period_in_interval(text, options.interval, last=name == "to")
        except InputError as exc:
            options.add_library_error(exc)
            continue
        if name == "from":
            options.start = label
        else:
            options.end = label
    options.filter = (params.get("filter") or "").strip() or None
    if registry is None:
        return options
    for name in ("axis", "axis2"):
        key = (params.get(name) or "").strip()
        if not key or key in options.axes:
            continue
        try:
            _axes.resolve([key], dict(registry))
        except UnknownAxisError as exc:
            options.add_library_error(exc)
            continue
        options.axes.append(key)
    return options


def period_in_interval(text: str, interval: _periods.Interval, *, last: bool) -> str:
    """Return the label, in `interval`, of the period in which the period that
    `text` names starts, or with `last` ends.

    A range typed in one interval then still reads right after the interval
    changes: with quarters, 2025-02 is 2025-Q1; with months, 2025-Q2 is 2025-04
    as a start and 2025-06 as an end. Raises PeriodError for an invalid label."""
    first_day = _periods.parse_label(text, interval)
    own = interval
    for candidate in _periods.INTERVALS:
        start = _periods.parse_label(text, candidate)
        if _periods.label(start, candidate) == text.strip().upper():
            own, first_day = candidate, start
            break
    day = first_day
    if last:
        day = _periods.next_start(first_day, own) - dt.timedelta(days=1)
    return _periods.label(_periods.period_start(day, interval), interval)


def is_complete(label: str, interval: _periods.Interval, report_day: dt.date) -> bool:
    """Return whether the period's last day is on or before the report day."""
    start = _periods.parse_label(label, interval)
    return _periods.next_start(start, interval) <= report_day + dt.timedelta(days=1)


# Lower edge of a bucket label such as "100-500", "1000+" or "1e+06+".
_BUCKET_EDGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)", re.IGNORECASE)


def is_bucket_axis(axis: Axis) -> bool:
    """Return whether an axis' values are buckets of a number, which read in
    the order of their edges. MRR bands count too: the registry keeps their
    edges out of `buckets`, because their history applies them."""
    if axis.source == "computed.lifecycle":
        return False
    return bool(axis.buckets) or axis.source == "computed.mrr_band"


def bucket_edge(label: str) -> float:
    """Return the lower edge of a bucket label ("100-500" is 100, "1000+" is
    1000); a label without one (no value) sorts last, as infinity."""
    found = _BUCKET_EDGE.match(label)
    return float(found[1]) if found else math.inf
