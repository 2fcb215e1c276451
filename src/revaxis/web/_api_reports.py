"""Report routes of the REST API: the MRR bridge, KPIs, cohorts, lifetimes and
movements, with the parameters of the matching CLI commands.

Each parameter is checked on its own before the report runs, by the same
library functions the reports use, so that an error names the parameter at
fault: `by`, `filter`, `from`, `to`, `interval`, `currency` or `as_of`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from revaxis import _axes, _filters, _periods
from revaxis._errors import (
    MissingRateError,
    PeriodError,
    PeriodRangeError,
    UnknownAxisError,
)
from revaxis._kpis import split_axes
from revaxis.web._api_common import (
    AsOfQuery,
    CurrencyQuery,
    FormatQuery,
    check_format,
    parse_day,
    reporting_currency,
    table_response,
)
from revaxis.web._app import ApiError, workspace_of
from revaxis.web._security import AnyUser
from revaxis.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["reports"])

ByQuery = Annotated[
    str | None,
    Query(
        description="Axis keys to cut the report by, separated by commas "
        "(`plan` or `country,plan`); list them with GET /api/v1/axes.",
    ),
]
FilterQuery = Annotated[
    str | None,
    Query(
        description="Keep the lines whose axis values match an expression such "
        "as `channel = 'SEO' and country in (FR, DE)` (docs/axes-custom.md).",
    ),
]
FromQuery = Annotated[
    str | None,
    Query(
        alias="from",
        description="First period: 2024-03, 2024-Q1 or 2024. Default: the first "
        "period with MRR.",
    ),
]
ToQuery = Annotated[
    str | None,
    Query(
        alias="to",
        description="Last period, written like `from`. Default: the period of the "
        "report day while anyone pays, else of the latest invoice or MRR change.",
    ),
]
IntervalQuery = Annotated[
    str,
    Query(description="Length of a period: month, quarter or year."),
]


@dataclass(frozen=True)
class ReportParameters:
    """Report parameters that passed their checks, ready for the Workspace."""

    by: list[str]
    filter: str | None
    start: str | None
    end: str | None
    interval: str
    currency: str
    as_of: dt.date | None

    def options(self) -> dict[str, Any]:
        """Return the keyword arguments that every report method takes."""
        return {"currency": self.currency, "as_of": self.as_of, "filter": self.filter}


def check_parameters(
    ws: Workspace,
    *,
    by: str | None = None,
    filter_text: str | None = None,
    start: str | None = None,
    end: str | None = None,
    interval: str = "month",
    currency: str | None = None,
    as_of: str | None = None,
) -> ReportParameters:
    """Check each report parameter and raise ApiError naming the first invalid
    one. Filter values are checked later, by the report itself."""
    registry = ws.axes_registry()
    keys = split_axes(by)
    try:
        _axes.resolve(keys, registry)
    except UnknownAxisError as exc:
        raise ApiError(str(exc), "by") from None

    flt_text = filter_text if filter_text and filter_text.strip() else None
    if flt_text is not None:
        try:
            _filters.check_filter(_filters.parse_filter(flt_text), registry, {})
        except _filters.FilterError as exc:
            raise ApiError(str(exc), "filter") from None

    try:
        period_interval = _periods.check_interval(interval)
    except PeriodError as exc:
        raise ApiError(str(exc), "interval") from None
    first = _period(start, period_interval, "from")
    last = _period(end, period_interval, "to")
    if first is not None and last is not None and last < first:
        raise ApiError(
            f"Invalid period range: from {start!r} is after to {end!r}. Give a "
            "`from` before `to`, or leave either out.",
            "from",
        )
    if first is not None and last is not None:
        try:
            _periods.period_range(first, last, period_interval)
        except PeriodRangeError as exc:
            raise ApiError(str(exc), "to") from None

    reporting = reporting_currency(ws, currency)
    return ReportParameters(
        by=keys,
        filter=flt_text,
        start=start or None,
        end=end or None,
        interval=period_interval,
        currency=reporting,
        as_of=parse_day(as_of, "as_of"),
    )


def _period(
    text: str | None, interval: _periods.Interval, parameter: str
) -> dt.date | None:
    if text is None or not text.strip():
        return None
    try:
        return _periods.parse_label(text, interval)
    except PeriodError as exc:
        raise ApiError(str(exc), parameter) from None


def range_error(
    exc: PeriodRangeError, start: str | None, end: str | None, as_of: str | None
) -> ApiError:
    """Return the ApiError for a period range that a report found empty or too
    long, naming the parameter that set one of its bounds. When `from` and `to`
    are both given, `check_parameters` has already checked their range, so
    here at least one bound is a default."""
    given_start = bool(start and start.strip())
    given_end = bool(end and end.strip())
    if exc.count == 0 and given_start:
        return ApiError(
            f"The period range is empty: from {exc.first} is after the last "
            f"period {exc.last}, that of the report day or of the latest data. "
            f"Give a `from` on or before {exc.last}, or leave `from` out.",
            "from",
        )
    if exc.count == 0 and given_end:
        return ApiError(
            f"The period range is empty: to {exc.last} is before the first "
            f"period with MRR, {exc.first}. Give a `to` on or after {exc.first}, "
            "or leave `to` out.",
            "to",
        )
    if given_end:
        parameter = "to"
    elif given_start:
        parameter = "from"
    elif as_of and as_of.strip():
        parameter = "as_of"
    else:
        parameter = None
    return ApiError(str(exc), parameter)


def run_report(report: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a report method and name the parameter behind the errors that are
    only found while the report runs: a filter value that no line carries
    (`filter`), and a missing exchange rate to the reporting currency
    (`currency`)."""
    try:
        return report(*args, **kwargs)
    except _filters.FilterError as exc:
        raise ApiError(str(exc), "filter") from None
    except MissingRateError as exc:
        raise ApiError(str(exc), "currency") from None


@router.get("/mrr", response_model=None)
def mrr(
    request: Request,
    user: AnyUser,
    by: ByQuery = None,
    filter: FilterQuery = None,
    start: FromQuery = None,
    end: ToQuery = None,
    interval: IntervalQuery = "month",
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = "json",
) -> Response | list:
    """Return the MRR bridge: one row per period (and segment) with mrr_start,
    each movement, mrr_end and customer counts, amounts in the reporting
    currency (docs/metrics.md)."""
    return _period_report(
        request, "mrr", by, filter, start, end, interval, currency, as_of, fmt
    )


@router.get("/kpis", response_model=None)
def kpis(
    request: Request,
    user: AnyUser,
    by: ByQuery = None,
    filter: FilterQuery = None,
    start: FromQuery = None,
    end: ToQuery = None,
    interval: IntervalQuery = "month",
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = "json",
) -> Response | list:
    """Return the KPIs per period (and segment): MRR, ARR, ARPA, churn rates,
    quick ratio, NRR, GRR, LTV, lifetime and CAC (docs/kpis.md). Rates are
    fractions, and an undefined rate is null."""
    return _period_report(
        request, "kpis", by, filter, start, end, interval, currency, as_of, fmt
    )


def _period_report(
    request: Request,
    report: str,
    by: str | None,
    filter: str | None,
    start: str | None,
    end: str | None,
    interval: str,
    currency: str | None,
    as_of: str | None,
    fmt: str,
) -> Response | list:
    """Check the parameters and run `ws.mrr` or `ws.kpis`, which take the same."""
    check_format(fmt)
    with workspace_of(request) as ws:
        checked = check_parameters(
            ws,
            by=by,
            filter_text=filter,
            start=start,
            end=end,
            interval=interval,
            currency=currency,
            as_of=as_of,
        )
        try:
            frame = run_report(
                getattr(ws, report),
                checked.by,
                start=checked.start,
                end=checked.end,
                interval=checked.interval,
                **checked.options(),
            )
        except PeriodRangeError as exc:
            raise range_error(exc, start, end, as_of) from None
    return table_response(frame, report, fmt)


@router.get("/cohorts", response_model=None)
def cohorts(
    request: Request,
    user: AnyUser,
    by: ByQuery = None,
    filter: FilterQuery = None,
    interval: Annotated[
        str,
        Query(
            description="Length of a cohort and of each age step: month, "
            "quarter or year."
        ),
    ] = "month",
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = "json",
) -> Response | list:
    """Return the retention of acquisition cohorts in long form: one row per
    cohort, segment at acquisition and age (docs/kpis.md)."""
    check_format(fmt)
    with workspace_of(request) as ws:
        checked = check_parameters(
            ws,
            by=by,
            filter_text=filter,
            interval=interval,
            currency=currency,
            as_of=as_of,
        )
        frame = run_report(
            ws.cohorts, checked.by, interval=checked.interval, **checked.options()
        )
    return table_response(frame, "cohorts", fmt)


@router.get("/lifetimes", response_model=None)
def lifetimes(
    request: Request,
    user: AnyUser,
    by: ByQuery = None,
    filter: FilterQuery = None,
    curve: Annotated[
        bool,
        Query(
            description="Return the Kaplan-Meier survival curve (months, "
            "survival, ci_lower, ci_upper) instead of the median lifetimes."
        ),
    ] = False,
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = "json",
) -> Response | list:
    """Return Kaplan-Meier customer lifetimes by the segment at acquisition: the
    median in months with its 95 % confidence interval, null while the curve
    stays above 50 %, or the curve itself with `curve=true`."""
    check_format(fmt)
    with workspace_of(request) as ws:
        checked = check_parameters(
            ws, by=by, filter_text=filter, currency=currency, as_of=as_of
        )
        frame = run_report(ws.lifetimes, checked.by, curve=curve, **checked.options())
    return table_response(frame, "lifetimes", fmt)


@router.get("/movements", response_model=None)
def movements(
    request: Request,
    user: AnyUser,
    by: ByQuery = None,
    filter: FilterQuery = None,
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = "json",
) -> Response | list:
    """Return one row per customer, segment and day with a movement: the amount
    of each movement type, churn and contraction as positive numbers."""
    check_format(fmt)
    with workspace_of(request) as ws:
        checked = check_parameters(
            ws, by=by, filter_text=filter, currency=currency, as_of=as_of
        )
        frame = run_report(ws.movements, checked.by, **checked.options())
    return table_response(frame, "movements", fmt)
