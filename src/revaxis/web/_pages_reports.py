"""Report pages: overview, segments explorer with drill-down, and cohorts.

Every page reads its options from the query string (see `read_options`), so a
URL reproduces what it shows; `as_of=YYYY-MM-DD` sets the report day. A table
downloads as CSV or XLSX when the same URL gets `format=csv` or `format=xlsx`.
An invalid option is shown inline above the form. The full page then returns
400, and an htmx fragment returns 200 because htmx swaps no 4xx response in.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import Response

from revaxis import _periods
from revaxis._axes import Axis
from revaxis._drill import Drill
from revaxis._errors import RevaxisError
from revaxis._report import MRR_AMOUNTS
from revaxis.web._app import ApiError, render, workspace_of
from revaxis.web._explorer import CHART_SEGMENTS, explore
from revaxis.web._exports import export_response
from revaxis.web._report_charts import (
    cohort_figure,
    movements_figure,
    segments_figure,
)
from revaxis.web._report_views import (
    CHART_MOVEMENTS,
    COHORT_METRICS,
    DEFAULT_PERIODS,
    EXPLORER_KPIS,
    KPIS,
    OVERVIEW_TILES,
    Options,
    bucket_edge,
    is_bucket_axis,
    is_complete,
    net_new_mrr,
    read_options,
    round_cents,
)
from revaxis.web._security import AnyUser
from revaxis.workspace import Workspace

router = APIRouter(include_in_schema=False)
log = logging.getLogger("revaxis.web.reports")

Show = Callable[[object, str], str]


def _shower(request: Request, currency: str) -> Show:
    """Build `show(value, kind)`, which formats a KPI value for the page."""
    fmt = request.state.formatter

    def show(value: object, kind: str) -> str:
        number = None if value is None or pd.isna(value) else float(value)
        if kind == "money":
            return fmt.money(number, currency, digits=2)
        if kind == "rate":
            return fmt.percent(number, 1)
        if kind in ("ratio", "months"):
            return fmt.number(number, 2 if kind == "ratio" else 1)
        return fmt.number(number)

    return show


def _change(request: Request, kind: str, now: object, before: object, show: Show):
    """Describe the change of a tile against the previous period: the absolute
    change (in points for rates), the relative change and its direction."""
    gettext = request.state.formatter.gettext
    if now is None or before is None or pd.isna(now) or pd.isna(before):
        return None
    delta = float(now) - float(before)
    sign = "+" if delta > 0 else ""
    if kind == "rate":
        points = request.state.formatter.number(delta * 100, 1)
        absolute = f"{sign}{points} {gettext('pts')}"
    else:
        absolute = sign + show(delta, kind)
    relative = None
    if float(before) != 0:
        relative = sign + show(delta / abs(float(before)), "rate")
    direction = "flat"
    if delta > 0:
        direction = "up"
    elif delta < 0:
        direction = "down"
    return {"absolute": absolute, "relative": relative, "direction": direction}


def _query_url(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def _axis_choices(registry: Mapping[str, Axis]) -> list[tuple[str, str]]:
    return [(key, axis.label) for key, axis in registry.items()]


def _axis_labels(request: Request, registry: Mapping[str, Axis]) -> dict[str, str]:
    """Return each axis key's label in the page's language."""
    gettext = request.state.formatter.gettext
    return {key: gettext(axis.label) for key, axis in registry.items()}


def _export(request: Request) -> str | None:
    return request.query_params.get("format") or None


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def _report_day(options: Options) -> dt.date:
    return options.as_of or dt.date.today()


def _export_title(request: Request, subject: str, currency: str, day: dt.date) -> str:
    """Return the title of a chart's PNG download: what it shows, the currency
    and the report day, so that the image is readable without the page."""
    formatter = request.state.formatter
    report_day = formatter.gettext("report day %(day)s", day=formatter.date(day))
    return f"{subject} · {currency} · {report_day}"


def _round_amounts(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Round the amount columns of `frame` that it has to the cent."""
    frame = frame.copy()
    for column in columns:
        if column in frame.columns:
            frame[column] = round_cents(frame[column])
    return frame


# Overview -----------------------------------------------------------------


def _latest_complete(labels: list[str], options: Options) -> tuple[int | None, bool]:
    """Index of the latest complete period, else of the latest period, and
    whether that period is complete."""
    for index in range(len(labels) - 1, -1, -1):
        if is_complete(labels[index], options.interval, _report_day(options)):
            return index, True
    return (len(labels) - 1 if labels else None), False


@router.get("/overview")
def overview(request: Request, user: AnyUser) -> Response:
    """KPI tiles of the latest complete period and the MRR movements chart."""
    params = dict(request.query_params)
    table = params.get("table", "kpis")
    with workspace_of(request) as ws:
        options = read_options(params, None)
        currency = ws.report_currency()
        kpis = bridge = None
        if not options.errors:
            try:
                kpis = ws.kpis(interval=options.interval, as_of=options.as_of)
                bridge = ws.mrr(interval=options.interval, as_of=options.as_of)
            except RevaxisError as exc:
                options.add_library_error(exc)
    show = _shower(request, currency)
    gettext = request.state.formatter.gettext
    if kpis is None or bridge is None or kpis.empty:
        return render(
            request,
            "overview.html",
            400 if options.errors else 200,
            options=options,
            tiles=[],
            query=options.query(),
            intervals=_periods.INTERVALS,
            empty=not options.errors,
        )
    bridge = _round_amounts(bridge, MRR_AMOUNTS)
    bridge["net_new_mrr"] = net_new_mrr(bridge)
    money_kpis = [key for key, kpi in KPIS.items() if kpi.kind == "money"]
    kpis = _round_amounts(kpis, money_kpis)
    labels = kpis["period"].tolist()
    latest, complete = _latest_complete(labels, options)
    shown = labels[max(0, latest + 1 - DEFAULT_PERIODS) : latest + 1]
    kpis = kpis[kpis["period"].isin(shown)].reset_index(drop=True)
    bridge = bridge[bridge["period"].isin(shown)].reset_index(drop=True)
    merged = kpis.merge(bridge[["period", "net_new_mrr"]], on="period")

    if table in ("kpis", "movements") and _export(request):
        columns = ["period", *OVERVIEW_TILES] if table == "kpis" else None
        frame = merged[columns] if columns else bridge
        return export_response(
            frame, f"revaxis-{table}-{options.interval}", _export(request)
        )

    now = merged.iloc[-1]
    before = merged.iloc[-2] if len(merged) > 1 else None
    tiles = []
    for key in OVERVIEW_TILES:
        kpi = KPIS[key]
        change = None
        if before is not None:
            change = _change(request, kpi.kind, now[key], before[key], show)
        if change:
            good = (change["direction"] == "up") == kpi.higher_is_better
            if change["direction"] == "flat":
                change["tone"] = "flat"
            else:
                change["tone"] = "up" if good else "down"
        tiles.append(
            {
                "label": gettext(kpi.label),
                "value": show(now[key], kpi.kind),
                "change": change,
            }
        )
    chart_labels = {key: gettext(label) for key, label, _ in CHART_MOVEMENTS}
    chart_labels.update(
        mrr=gettext("MRR"),
        mrr_axis=f"{gettext('MRR')} ({currency})",
        movements_axis=f"{gettext('MRR movements')} ({currency})",
    )
    drill = {"interval": options.interval}
    if options.as_of:
        drill["as_of"] = options.as_of.isoformat()
    figure = movements_figure(
        bridge,
        chart_labels,
        request.state.formatter.language,
        drill,
        _export_title(
            request, gettext("MRR movements"), currency, _report_day(options)
        ),
    )
    return render(
        request,
        "overview.html",
        options=options,
        query=options.query(),
        intervals=_periods.INTERVALS,
        period=now["period"],
        previous=before["period"] if before is not None else None,
        complete=complete,
        tiles=tiles,
        figure=figure,
        kpi_rows=merged,
        tile_kpis=[KPIS[k] for k in OVERVIEW_TILES],
        bridge=bridge,
        movement_columns=[
            ("mrr_start", gettext("MRR at start")),
            *[(k, chart_labels[k]) for k, _, _ in CHART_MOVEMENTS],
            ("fx", gettext("FX")),
            ("net_new_mrr", gettext("Net new MRR")),
            ("mrr_end", gettext("MRR at end")),
        ],
        show=show,
    )


# Segments explorer --------------------------------------------------------


def _explorer_context(request: Request, ws: Workspace) -> dict[str, object]:
    """Read the explorer's options, run its report and build the page context."""
    params = dict(request.query_params)
    registry = ws.axes_registry()
    options = read_options(params, registry)
    formatter = request.state.formatter
    gettext = formatter.gettext
    kpi_key = params.get("kpi") or "mrr"
    if kpi_key not in EXPLORER_KPIS:
        options.add_error(
            "Unknown KPI '%(kpi)s': choose one of %(choices)s.",
            kpi=kpi_key,
            choices=", ".join(EXPLORER_KPIS),
        )
        kpi_key = "mrr"
    kpi = KPIS[kpi_key]
    currency = ws.report_currency()
    exploration = None
    if not options.errors:
        try:
            exploration = explore(ws, kpi, options, registry)
        except RevaxisError as exc:
            options.add_library_error(exc)
    periods = exploration.periods if exploration else []
    rows = exploration.rows if exploration else []
    chart_rows = exploration.chart_rows if exploration else []
    in_progress = exploration.in_progress if exploration else None
    left_out = exploration.left_out if exploration else 0
    axis_labels = _axis_labels(request, registry)
    if not options.axes:
        for row in rows:
            row.label = gettext("All customers")
    for row in chart_rows:
        if row.other:
            row.label = gettext("Other (%(count)s segments)", count=left_out)

    kpi_label = gettext(kpi.label)
    axes_text = " × ".join(axis_labels[key] for key in options.axes)
    subject = kpi_label
    if options.axes:
        subject = gettext("%(kpi)s by %(axes)s", kpi=kpi_label, axes=axes_text)
    axis_title = f"{kpi_label} ({currency})" if kpi.kind == "money" else kpi_label
    figure = segments_figure(
        chart_rows,
        periods,
        in_progress,
        kpi.kind,
        axis_title,
        formatter.language,
        {
            "in_progress": gettext("in progress"),
            "export": _export_title(request, subject, currency, _report_day(options)),
        },
    )
    chart_note = None
    if left_out:
        complete = [p for p in periods if p != in_progress] or periods
        if kpi.flow:
            basis = gettext(
                "their total over %(first)s to %(last)s",
                first=complete[0],
                last=complete[-1],
            )
        else:
            basis = gettext("their value in %(period)s", period=complete[-1])
        values = {"shown": CHART_SEGMENTS, "total": len(rows), "basis": basis}
        if kpi.additive:
            chart_note = gettext(
                "The chart draws the %(shown)s segments of %(total)s ranked first "
                "by %(basis)s, and adds the others up in one line. The table "
                "lists every segment.",
                **values,
            )
        else:
            chart_note = gettext(
                "The chart draws only the %(shown)s segments of %(total)s ranked "
                "first by %(basis)s: this KPI does not add up across segments. "
                "The table lists every segment.",
                **values,
            )
    query = {**options.query(), "kpi": kpi.key}
    return {
        "options": options,
        "kpi": kpi,
        "kpis": [KPIS[k] for k in EXPLORER_KPIS],
        "axis_choices": _axis_choices(registry),
        "axis_labels": axis_labels,
        "subject": subject,
        "intervals": _periods.INTERVALS,
        "periods": periods,
        "rows": rows,
        "in_progress": in_progress,
        "report_day": _report_day(options),
        "chart_note": chart_note,
        # The range shown, or what was typed when it was invalid.
        "range_from": options.start
        or (periods[0] if periods else params.get("from", "")),
        "range_to": options.end or (periods[-1] if periods else params.get("to", "")),
        "figure": figure,
        "query": query,
        "results_url": _query_url("/segments/results", query),
        "drill_url": _query_url("/segments/drill", query),
        "show": _shower(request, currency),
    }


def _explorer_export(context: dict[str, object], fmt: str) -> Response:
    options: Options = context["options"]  # type: ignore[assignment]
    rows = context["rows"]
    periods: list[str] = context["periods"]  # type: ignore[assignment]
    records = []
    for row in rows:  # type: ignore[attr-defined]
        record: dict[str, object] = dict(zip(options.axes, row.values, strict=True))
        record.update({p: row.cells.get(p) for p in periods})
        records.append(record)
    frame = pd.DataFrame(records, columns=[*options.axes, *periods])
    kpi = context["kpi"].key  # type: ignore[attr-defined]
    by = "-".join(options.axes) or "all"
    return export_response(frame, f"revaxis-{kpi}-by-{by}", fmt)


def _explorer_response(request: Request, template: str) -> Response:
    """Render the explorer page or its results fragment, or download its table
    when the query has `format`."""
    with workspace_of(request) as ws:
        context = _explorer_context(request, ws)
    options: Options = context["options"]  # type: ignore[assignment]
    fmt = _export(request)
    if fmt and not options.errors:
        return export_response_or_error(request, lambda: _explorer_export(context, fmt))
    fragment = template.startswith("_")
    status = 200 if (fragment and _is_htmx(request)) or not options.errors else 400
    # A fragment swapped in by htmx also replaces the range fields of the form.
    context["swap_range"] = fragment and _is_htmx(request)
    response = render(request, template, status, **context)
    if fragment:
        query: dict[str, str] = context["query"]  # type: ignore[assignment]
        response.headers["HX-Push-Url"] = _query_url("/segments", query)
    return response


@router.get("/segments")
def segments(request: Request, user: AnyUser) -> Response:
    """Render the explorer: options form, chart, comparison table and drill-down
    panel, or download the table."""
    return _explorer_response(request, "segments.html")


@router.get("/segments/results")
def segments_results(request: Request, user: AnyUser) -> Response:
    """Render the explorer's chart and table, which htmx swaps in when an option
    changes, or download the table."""
    return _explorer_response(request, "_segments_results.html")


def export_response_or_error(
    request: Request, build: Callable[[], Response]
) -> Response:
    """Build an export; an invalid format becomes a 400 page with the message."""
    try:
        return build()
    except ApiError as exc:
        return render(request, "error.html", 400, message=exc.message)


@router.get("/segments/drill")
def segments_drill(request: Request, user: AnyUser) -> Response:
    """List the customers and movements behind one number of the explorer or of
    the overview chart, or download them."""
    params = dict(request.query_params)
    drill: Drill | None = None
    with workspace_of(request) as ws:
        registry = ws.axes_registry()
        options = read_options(params, registry)
        kpi = params.get("kpi") or "mrr"
        period = (params.get("period") or "").strip()
        values = [params.get(n, "") for n in ("value", "value2")][: len(options.axes)]
        currency = ws.report_currency()
        if not period:
            options.add_error("Missing period: click a number of the table.")
        if not options.errors:
            try:
                drill = ws.drill(
                    kpi,
                    period,
                    by=options.axes,
                    segment=values,
                    interval=options.interval,
                    as_of=options.as_of,
                    filter=options.filter,
                )
            except RevaxisError as exc:
                options.add_library_error(exc)
    fmt = _export(request)
    if fmt and drill is not None:
        name = f"revaxis-drill-{drill.kpi}-{drill.period}"
        return export_response_or_error(
            request, lambda: export_response(drill.rows, name, fmt)
        )
    query = {
        **options.query(),
        "kpi": kpi,
        "period": period,
        **dict(zip(("value", "value2"), values, strict=False)),
    }
    status = 200 if _is_htmx(request) or not options.errors else 400
    return render(
        request,
        "_drill.html",
        status,
        options=options,
        drill=drill,
        drill_rows=_records(drill.rows) if drill is not None else [],
        kpi=KPIS.get(kpi),
        kpi_key=kpi,
        axes=options.axes,
        axis_labels=_axis_labels(request, registry),
        export_url=_query_url("/segments/drill", query),
        show=_shower(request, currency),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Return a frame's rows as dicts with None for every missing value."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


# Cohorts ------------------------------------------------------------------


def _cohort_matrix(
    frame: pd.DataFrame, axes: list[str], metric: str, buckets: bool
) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """Pivot long cohort rows to one row per cohort (and segment) and one column
    per age. Return that matrix, the cohort sizes of its rows, and the ages.

    Rows run by cohort, then by segment: in the order of bucket edges when
    `buckets` is true, else alphabetically."""
    index = ["cohort", *axes]
    # Unstacking keeps only the cohort and segment pairs that exist.
    matrix = frame.set_index([*index, "age"])[metric].unstack("age")
    ages = sorted(int(a) for a in frame["age"].unique())
    matrix = matrix.reindex(columns=ages).sort_index()
    if axes and buckets:
        keys = sorted(matrix.index, key=lambda key: (key[0], bucket_edge(key[1])))
        matrix = matrix.reindex(pd.MultiIndex.from_tuples(keys, names=index))
    sizes = (
        frame[frame["age"] == 0]
        .set_index(index)[["customers", "mrr_initial"]]
        .reindex(matrix.index)
    )
    sizes["mrr_initial"] = round_cents(sizes["mrr_initial"])
    return matrix, sizes, ages


@router.get("/cohorts")
def cohorts(request: Request, user: AnyUser) -> Response:
    """Retention heatmap by acquisition cohort and age, optionally by segment."""
    params = dict(request.query_params)
    metric = params.get("metric") or "logo_retention"
    frame = None
    with workspace_of(request) as ws:
        registry = ws.axes_registry()
        options = read_options(params, registry)
        currency = ws.report_currency()
        if metric not in COHORT_METRICS:
            options.add_error(
                "Unknown retention metric '%(metric)s': choose one of %(choices)s.",
                metric=metric,
                choices=", ".join(COHORT_METRICS),
            )
            metric = "logo_retention"
        if not options.errors:
            try:
                frame = ws.cohorts(
                    options.axes[:1] or None,
                    interval=options.interval,
                    as_of=options.as_of,
                    filter=options.filter,
                )
            except RevaxisError as exc:
                options.add_library_error(exc)
    axes = options.axes[:1]
    show = _shower(request, currency)
    gettext = request.state.formatter.gettext
    axis_labels = _axis_labels(request, registry)
    query = {**options.query(), "metric": metric}
    query.pop("axis2", None)
    context: dict[str, object] = {
        "options": options,
        "metric": metric,
        "metrics": {k: gettext(v) for k, v in COHORT_METRICS.items()},
        "axis_choices": _axis_choices(registry),
        "axis_labels": axis_labels,
        "intervals": _periods.INTERVALS,
        "axes": axes,
        "query": query,
        "show": show,
        "matrix": None,
    }
    if frame is not None and not frame.empty:
        buckets = bool(axes) and is_bucket_axis(registry[axes[0]])
        matrix, sizes, ages = _cohort_matrix(frame, axes, metric, buckets)
        # Each row reads "2025-03 · Basic annual": the cohort, then the segment.
        labels = [
            " · ".join(str(v) for v in (key if isinstance(key, tuple) else (key,)))
            for key in matrix.index
        ]
        if _export(request):
            out = matrix.copy()
            out.columns = [f"age_{age}" for age in ages]
            out = sizes.join(out).reset_index()
            return export_response_or_error(
                request,
                lambda: export_response(
                    out,
                    f"revaxis-cohorts-{metric}-{options.interval}",
                    _export(request),
                ),
            )
        texts = [
            [show(v, "rate") if not pd.isna(v) else "" for v in row]
            for row in matrix.to_numpy()
        ]
        subject = gettext(COHORT_METRICS[metric])
        if axes:
            subject = gettext(
                "%(kpi)s by %(axes)s", kpi=subject, axes=axis_labels[axes[0]]
            )
        context.update(
            matrix=matrix,
            sizes=sizes,
            ages=ages,
            labels=labels,
            texts=texts,
            figure=cohort_figure(
                matrix,
                ages,
                labels,
                texts,
                (gettext("Age (periods)"), gettext("Cohort")),
                metric,
                request.state.formatter.language,
                _export_title(request, subject, currency, _report_day(options)),
            ),
        )
    status = 400 if options.errors else 200
    return render(request, "cohorts.html", status, **context)
