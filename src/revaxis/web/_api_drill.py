"""`GET /api/v1/drill`: the customers and movements behind one report number.

Each parameter is checked before the drill-down runs, so that every error
names its parameter: `kpi`, `period`, `segment`, `by`, `filter`, `interval`,
`currency`, `as_of` or `format`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from revaxis import _periods
from revaxis._drill import DRILL_KPIS
from revaxis._errors import PeriodError
from revaxis.web._api_common import AsOfQuery
from revaxis.web._api_reports import check_parameters, run_report
from revaxis.web._app import ApiError, workspace_of
from revaxis.web._exports import EXPORT_FORMATS, export_response
from revaxis.web._security import AnyUser

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.get("/drill", response_model=None)
def drill(
    request: Request,
    user: AnyUser,
    kpi: Annotated[str, Query(description=f"one of {', '.join(DRILL_KPIS)}")],
    period: Annotated[str, Query(description="period label: 2025-03, 2025-Q1, 2025")],
    by: Annotated[str | None, Query(description="axis keys, comma-separated")] = None,
    segment: Annotated[
        list[str] | None,
        Query(description="one value per axis of `by`, in the same order"),
    ] = None,
    interval: Annotated[str, Query(description="month, quarter or year")] = "month",
    filter: Annotated[str | None, Query(description="filter expression")] = None,
    currency: Annotated[str | None, Query(description="ISO 4217 code")] = None,
    as_of: AsOfQuery = None,
    format: Annotated[str, Query(description="json, csv or xlsx")] = "json",
) -> Response | dict[str, object]:
    """List the customers and movements behind `kpi` in `period` for `segment`.

    `rows[].contribution` sums to `total`: the KPI itself, or for ARPA and the
    rates their numerator, with `denominator` beside it and `value` the ratio.
    """
    if format not in ("json", *EXPORT_FORMATS):
        raise ApiError(f"Invalid format {format!r}: use json, csv or xlsx.", "format")
    if kpi not in DRILL_KPIS:
        raise ApiError(
            f"Invalid KPI {kpi!r} for a drill-down: use one of "
            f"{', '.join(DRILL_KPIS)}.",
            "kpi",
        )
    with workspace_of(request) as ws:
        checked = check_parameters(
            ws,
            by=by,
            filter_text=filter,
            interval=interval,
            currency=currency,
            as_of=as_of,
        )
        try:
            _periods.parse_label(period, checked.interval)  # type: ignore[arg-type]
        except PeriodError as exc:
            raise ApiError(str(exc), "period") from None
        values = segment or []
        if len(values) != len(checked.by):
            raise ApiError(
                f"Expected {len(checked.by)} segment value(s), one per axis of "
                f"`by` ({', '.join(checked.by) or 'none'}), and got {len(values)}: "
                "repeat `segment` once per axis, in the same order.",
                "segment",
            )
        result = run_report(
            ws.drill,
            kpi,
            period,
            by=checked.by,
            segment=values,
            interval=checked.interval,
            **checked.options(),
        )
    if format != "json":
        return export_response(
            result.rows, f"revaxis-drill-{result.kpi}-{result.period}", format
        )
    return {
        "kpi": result.kpi,
        "period": result.period,
        "interval": result.interval,
        "segment": result.segment,
        "currency": checked.currency,
        "total": result.total,
        "denominator": result.denominator,
        "value": result.value,
        "rows": [_json_row(row) for row in result.rows.to_dict("records")],
    }


def _json_row(row: dict[str, object]) -> dict[str, object]:
    """Convert one drill row to JSON types: ISO dates, None for missing values."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if value is None or pd.isna(value):
            out[key] = None
        elif isinstance(value, dt.date):
            out[key] = value.isoformat()
        elif hasattr(value, "item"):
            out[key] = value.item()
        else:
            out[key] = value
    return out
