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
from collections.abc import Callable
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import Response

from revaxis import _periods
from revaxis._drill import Drill
from revaxis._errors import RevaxisError
from revaxis.web._app import ApiError, render, workspace_of
from revaxis.web._exports import export_response
from revaxis.web._report_views import (
    CHART_MOVEMENTS,
    COHORT_METRICS,
    DEFAULT_PERIODS,
    EXPLORER_KPIS,
    KPIS,
    OVERVIEW_TILES,
    Options,
    SegmentRow,
    cohort_figure,
    is_complete,
    movements_figure,
    net_new_mrr,
    read_options,
    segments_figure,
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


def _axis_choices(ws: Workspace) -> list[tuple[str, str]]:
    return [(key, axis.label) for key, axis in ws.axes_registry().items()]


def _export(request: Request) -> str | None:
    return request.query_params.get("format") or None


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def _report_day(options: Options) -> dt.date:
    return options.as_of or dt.date.today()


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
        options = read_options(params, [])
        currency = ws.report_currency()
        kpis = bridge = None
        if not options.errors:
            try:
                kpis = ws.kpis(interval=options.interval, as_of=options.as_of)
                bridge = ws.mrr(interval=options.interval, as_of=options.as_of)
            except RevaxisError as exc:
                options.errors.append(str(exc))
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
    bridge["net_new_mrr"] = net_new_mrr(bridge)
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
    chart_labels.update(mrr=gettext("MRR"), movements=gettext("MRR movements"))
    drill = {"interval": options.interval}
    if options.as_of:
        drill["as_of"] = options.as_of.isoformat()
    figure = movements_figure(
        bridge, chart_labels, request.state.formatter.language, drill
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


def _explorer_rows(
    ws: Workspace, kpi: str, options: Options
) -> tuple[list[str], list[SegmentRow]]:
    """Compute `kpi` per segment and period: the period labels shown and one
    row per segment, largest last value first."""
    arguments = {
        "by": options.axes or None,
        "start": options.start,
        "end": options.end,
        "interval": options.interval,
        "as_of": options.as_of,
        "filter": options.filter,
    }
    if KPIS[kpi].source == "mrr":
        frame = ws.mrr(**arguments)
        frame["net_new_mrr"] = net_new_mrr(frame)
    else:
        frame = ws.kpis(**arguments)
    periods = sorted(frame["period"].unique().tolist())
    if not options.start:
        periods = periods[-DEFAULT_PERIODS:]
    frame = frame[frame["period"].isin(periods)]
    rows: list[SegmentRow] = []
    if options.axes:
        groups = frame.groupby(options.axes, sort=True, dropna=False)
        for values, group in groups:
            values = [
                str(v) for v in (values if isinstance(values, tuple) else [values])
            ]
            cells = dict(zip(group["period"], group[kpi].astype(float), strict=True))
            rows.append(SegmentRow(values, " · ".join(values), cells))
    else:
        cells = dict(zip(frame["period"], frame[kpi].astype(float), strict=True))
        rows.append(SegmentRow([], "", cells))
    for row in rows:
        row.cells = {p: (None if pd.isna(v) else v) for p, v in row.cells.items()}
    last = periods[-1] if periods else None

    def largest_first(row: SegmentRow) -> tuple[float, str]:
        value = row.cells.get(last) if last else None
        return (-(value if value is not None else float("-inf")), row.label)

    rows.sort(key=largest_first)
    return periods, rows


def _explorer_context(request: Request, ws: Workspace) -> dict[str, object]:
    """Read the explorer's options, run its report and build the page context."""
    params = dict(request.query_params)
    choices = _axis_choices(ws)
    options = read_options(params, [key for key, _ in choices])
    kpi = params.get("kpi") or "mrr"
    if kpi not in EXPLORER_KPIS:
        options.errors.append(
            f"Unknown KPI {kpi!r}: choose one of {', '.join(EXPLORER_KPIS)}."
        )
        kpi = "mrr"
    currency = ws.report_currency()
    periods: list[str] = []
    rows: list[SegmentRow] = []
    if not options.errors:
        try:
            periods, rows = _explorer_rows(ws, kpi, options)
        except RevaxisError as exc:
            options.errors.append(str(exc))
    query = {**options.query(), "kpi": kpi}
    gettext = request.state.formatter.gettext
    if not options.axes:
        for row in rows:
            row.label = gettext("All customers")
    figure = segments_figure(
        rows,
        periods,
        KPIS[kpi].kind,
        gettext(KPIS[kpi].label),
        request.state.formatter.language,
    )
    return {
        "options": options,
        "kpi": KPIS[kpi],
        "kpis": [KPIS[k] for k in EXPLORER_KPIS],
        "axis_choices": choices,
        "intervals": _periods.INTERVALS,
        "periods": periods,
        "rows": rows,
        "figure": figure,
        "query": query,
        "results_url": _query_url("/segments/results", query),
        "drill_url": _query_url("/segments/drill", query),
        "show": _shower(request, currency),
    }


def _explorer_export(context: dict[str, object], fmt: str) -> Response:
    options: Options = context["options"]  # type: ignore[assignment]
    rows: list[SegmentRow] = context["rows"]  # type: ignore[assignment]
    periods: list[str] = context["periods"]  # type: ignore[assignment]
    records = []
    for row in rows:
        record: dict[str, object] = dict(zip(options.axes, row.values, strict=True))
        record.update({p: row.cells.get(p) for p in periods})
        records.append(record)
    frame = pd.DataFrame(records, columns=[*options.axes, *periods])
    kpi = context["kpi"].key  # type: ignore[attr-defined]
    by = "-".join(options.axes) or "all"
    return export_response(frame, f"revaxis-{kpi}-by-{by}", fmt)


@router.get("/segments")
def segments(request: Request, user: AnyUser) -> Response:
    """Render the explorer: options form, chart, comparison table and drill-down
    panel."""
    with workspace_of(request) as ws:
        context = _explorer_context(request, ws)
    status = 400 if context["options"].errors else 200  # type: ignore[attr-defined]
    return render(request, "segments.html", status, **context)


@router.get("/segments/results")
def segments_results(request: Request, user: AnyUser) -> Response:
    """Render the explorer's chart and table, which htmx swaps in when an option
    changes, or download the table."""
    with workspace_of(request) as ws:
        context = _explorer_context(request, ws)
    options: Options = context["options"]  # type: ignore[assignment]
    fmt = _export(request)
    if fmt and not options.errors:
        return export_response_or_error(request, lambda: _explorer_export(context, fmt))
    status = 200 if _is_htmx(request) or not options.errors else 400
    response = render(request, "_segments_results.html", status, **context)
    response.headers["HX-Push-Url"] = _query_url("/segments", context["query"])  # type: ignore[arg-type]
    return response


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
        choices = _axis_choices(ws)
        options = read_options(params, [key for key, _ in choices])
        kpi = params.get("kpi") or "mrr"
        period = (params.get("period") or "").strip()
        values = [params.get(n, "") for n in ("value", "value2")][: len(options.axes)]
        currency = ws.report_currency()
        if not period:
            options.errors.append("Missing period: click a number of the table.")
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
                options.errors.append(str(exc))
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
        export_url=_query_url("/segments/drill", query),
        show=_shower(request, currency),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Return a frame's rows as dicts with None for every missing value."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


# Cohorts ------------------------------------------------------------------


def _cohort_matrix(
    frame: pd.DataFrame, axes: list[str], metric: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """Pivot long cohort rows to one row per cohort (and segment) and one column
    per age. Return that matrix, the cohort sizes of its rows, and the ages."""
    index = ["cohort", *axes]
    # Unstacking keeps only the cohort and segment pairs that exist.
    matrix = frame.set_index([*index, "age"])[metric].unstack("age")
    ages = sorted(int(a) for a in frame["age"].unique())
    matrix = matrix.reindex(columns=ages).sort_index()
    sizes = (
        frame[frame["age"] == 0]
        .set_index(index)[["customers", "mrr_initial"]]
        .reindex(matrix.index)
    )
    return matrix, sizes, ages


@router.get("/cohorts")
def cohorts(request: Request, user: AnyUser) -> Response:
    """Retention heatmap by acquisition cohort and age, optionally by segment."""
    params = dict(request.query_params)
    metric = params.get("metric") or "logo_retention"
    frame = None
    with workspace_of(request) as ws:
        choices = _axis_choices(ws)
        options = read_options(params, [key for key, _ in choices])
        currency = ws.report_currency()
        if metric not in COHORT_METRICS:
            options.errors.append(
                f"Unknown retention metric {metric!r}: choose one of "
                f"{', '.join(COHORT_METRICS)}."
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
                options.errors.append(str(exc))
    axes = options.axes[:1]
    show = _shower(request, currency)
    gettext = request.state.formatter.gettext
    query = {**options.query(), "metric": metric}
    query.pop("axis2", None)
    context: dict[str, object] = {
        "options": options,
        "metric": metric,
        "metrics": {k: gettext(v) for k, v in COHORT_METRICS.items()},
        "axis_choices": choices,
        "intervals": _periods.INTERVALS,
        "axes": axes,
        "query": query,
        "show": show,
        "matrix": None,
    }
    if frame is not None and not frame.empty:
        matrix, sizes, ages = _cohort_matrix(frame, axes, metric)
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
                request.state.formatter.language,
            ),
        )
    status = 400 if options.errors else 200
    return render(request, "cohorts.html", status, **context)
