"""The customer pages: the searchable list with MRR and status, and one
customer's details, MRR history chart, movements and attributes, whose manual
values editors change in place."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from revaxis._axes import SENTINEL_START, Axis
from revaxis._customers import MAX_LIMIT, MAX_OFFSET, check_search
from revaxis._errors import InputError
from revaxis.web._admin_axes import values_settable
from revaxis.web._admin_common import download, gettext, page, redirect
from revaxis.web._app import ApiError, render, workspace_of
from revaxis.web._security import AnyUser, EditorUser
from revaxis.workspace import Workspace

router = APIRouter()
log = logging.getLogger("revaxis.web.customers")

FormatQuery = Annotated[str | None, Query(alias="format")]
AsOfQuery = Annotated[dt.date | None, Query(description="report day")]
PAGE_SIZE = 50
# The last page number that keeps the page's offset within MAX_OFFSET.
MAX_PAGE_NUMBER = MAX_OFFSET // PAGE_SIZE + 1
# Movement columns of `Workspace.movements` with their headings (msgids).
MOVEMENT_COLUMNS = [
    ("new", "New"),
    ("expansion", "Expansion"),
    ("contraction", "Contraction"),
    ("churn", "Churn"),
    ("reactivation", "Reactivation"),
    ("transfer_in", "Transfer in"),
    ("transfer_out", "Transfer out"),
    ("fx", "FX"),
]


def _query(**params: object) -> str:
    """Return a query string of the parameters that are set."""
    kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return urlencode(kept)


# The list ---------------------------------------------------------------------


@router.get("/customers")
def customers_page(
    request: Request,
    user: AnyUser,
    q: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE_NUMBER)] = 1,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = None,
) -> Response:
    """Show one page of customers sorted by MRR; an htmx request for the
    results (the live search) gets only the results fragment."""
    try:
        check_search(q)
    except InputError as exc:
        raise ApiError(str(exc), "q") from None
    with workspace_of(request) as ws:
        if fmt:
            return download(_all_customers(ws, q, as_of), "customers", fmt)
        offset = (page_number - 1) * PAGE_SIZE
        frame, total = ws.customers(q, limit=PAGE_SIZE, offset=offset, as_of=as_of)
        currency = ws.report_currency()
    pages = max(1, -(-total // PAGE_SIZE))
    context: dict[str, Any] = {
        "customers": frame.to_dict(orient="records"),
        "total": total,
        "q": q,
        "page_number": page_number,
        "pages": pages,
        "page_size": PAGE_SIZE,
        "as_of": as_of,
        "currency": currency,
        "query": _query(q=q, as_of=as_of),
        "page_query": lambda n: _query(q=q, as_of=as_of, page=n),
    }
    if request.headers.get("hx-target") == "customer-results":
        return render(request, "admin/_customer_results.html", **context)
    return page(request, "admin/customers.html", **context)


def _all_customers(ws: Workspace, q: str, as_of: dt.date | None) -> pd.DataFrame:
    """Return every customer matching `q`, reading pages of MAX_LIMIT rows."""
    pages = []
    offset = 0
    while True:
        frame, total = ws.customers(q, limit=MAX_LIMIT, offset=offset, as_of=as_of)
        pages.append(frame)
        offset += MAX_LIMIT
        if offset >= total:
            break
    return pd.concat(pages, ignore_index=True)


# One customer -----------------------------------------------------------------


def _details(ws: Workspace, customer_id: str, as_of: dt.date | None) -> dict:
    try:
        return ws.customer(customer_id, as_of=as_of)
    except InputError as exc:
        if "not found" in str(exc):
            raise ApiError(str(exc), "customer_id", 404) from exc
        raise


def attribute_rows(
    ws: Workspace, customer_id: str, attributes: dict[str, str | None]
) -> list[dict[str, object]]:
    """Describe each customer-level axis value: the axis, its value on the
    report day, whether it can be edited, and the values set by hand."""
    registry = ws.axes_registry()
    set_by_hand = _values_set_by_hand(ws, customer_id)
    rows = []
    for key, value in attributes.items():
        axis = registry[key]
        rows.append(
            {
                "key": key,
                "label": axis.label,
                "source": axis.source,
                "value": value,
                "editable": _editable(axis),
                "history": set_by_hand.get(key, []),
            }
        )
    return rows


def _editable(axis: Axis) -> bool:
    return values_settable(axis) and axis.level == "customer"


def _values_set_by_hand(
    ws: Workspace, customer_id: str
) -> dict[str, list[dict[str, object]]]:
    """Return the values set by hand for the customer, by axis, oldest first;
    valid_from is None for a value that holds for all time."""
    table = ws.con.table("axis_values")
    frame = (
        table.filter(table.entity_id == customer_id)
        .order_by(["axis_key", "valid_from"])
        .execute()
    )
    out: dict[str, list[dict[str, object]]] = {}
    for row in frame.itertuples(index=False):
        day = pd.Timestamp(row.valid_from).date()
        out.setdefault(row.axis_key, []).append(
            {"value": row.value, "valid_from": None if day == SENTINEL_START else day}
        )
    return out


def history_figure(history: pd.DataFrame, currency: str, title: str) -> dict:
    """Build the Plotly figure of the MRR at the end of each month."""
    return {
        "data": [
            {
                "type": "bar",
                "x": history["period"].tolist(),
                "y": history["mrr"].tolist(),
                "name": "MRR",
                "marker": {"color": "#1f4e79"},
            }
        ],
        "layout": {
            "height": 320,
            "yaxis": {"title": {"text": title}, "rangemode": "tozero"},
            "xaxis": {"type": "category"},
        },
    }


@router.get("/customers/{customer_id}")
def customer_page(
    request: Request, customer_id: str, user: AnyUser, as_of: AsOfQuery = None
) -> Response:
    _ = gettext(request)
    with workspace_of(request) as ws:
        details = _details(ws, customer_id, as_of)
        attributes = attribute_rows(ws, customer_id, details["attributes"])
        currency = ws.report_currency()
    history = details["mrr_history"]
    movements = details["movements"]
    title = _("MRR at month end (%(currency)s)", currency=currency)
    return page(
        request,
        "admin/customer.html",
        customer=details["customer"],
        metadata=details["metadata"],
        attributes=attributes,
        history=history.to_dict(orient="records"),
        figure=history_figure(history, currency, title),
        movements=movements.to_dict(orient="records"),
        movement_columns=MOVEMENT_COLUMNS,
        currency=currency,
        as_of=as_of,
        query=_query(as_of=as_of),
    )


@router.get("/customers/{customer_id}/{table}")
def export_table(
    request: Request,
    customer_id: str,
    table: Literal["history", "movements", "attributes"],
    user: AnyUser,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = None,
) -> Response:
    """Download one table of the customer page: MRR history, movements, or
    attributes (axis values and billing metadata)."""
    with workspace_of(request) as ws:
        details = _details(ws, customer_id, as_of)
    if table == "history":
        return download(details["mrr_history"], f"mrr-{customer_id}", fmt)
    if table == "movements":
        return download(details["movements"], f"movements-{customer_id}", fmt)
    rows = [
        {"kind": "axis", "key": k, "value": v} for k, v in details["attributes"].items()
    ]
    rows += [
        {"kind": "metadata", "key": k, "value": v}
        for k, v in details["metadata"].items()
    ]
    frame = pd.DataFrame(rows, columns=["kind", "key", "value"])
    return download(frame, f"attributes-{customer_id}", fmt)


@router.post("/customers/{customer_id}/attributes/{key}")
def set_attribute(
    request: Request,
    customer_id: str,
    key: str,
    user: EditorUser,
    value: Annotated[str, Form()] = "",
    valid_from: Annotated[str, Form()] = "",
    remove: Annotated[str, Form()] = "",
    as_of: AsOfQuery = None,
) -> Response:
    """Set (or with `remove`, delete) the customer's value of a manual axis,
    for all time or from `valid_from`. An htmx request gets the attribute's
    row back; a plain form post is redirected to the customer page."""
    is_htmx = bool(request.headers.get("hx-request"))
    new_value = None if remove else value.strip() or None
    with workspace_of(request) as ws:
        registry = ws.axes_registry()
        if key not in registry:
            raise ApiError(f"Axis {key!r} not found.", "key", 404)
        error = None
        try:
            if not _editable(registry[key]):
                raise InputError(
                    f"Axis {key!r} takes no value set by hand: only custom "
                    "customer axes with a manual or metadata source do."
                )
            ws.set_axis_value(
                key,
                customer_id,
                new_value,
                valid_from=valid_from.strip() or None,
                level="customer",
            )
        except InputError as exc:
            log.info("value of %r for %s not set: %s", key, customer_id, exc)
            error = str(exc)
        if error is None:
            log.info(
                "%s set %r of customer %s to %r from %s",
                user.email,
                key,
                customer_id,
                new_value,
                valid_from or "all time",
            )
        if not is_htmx:
            if error is not None:
                return render(request, "error.html", 400, message=error)
            return redirect(f"/customers/{customer_id}?{_query(as_of=as_of)}")
        details = _details(ws, customer_id, as_of)
        rows = attribute_rows(ws, customer_id, details["attributes"])
    row = next(r for r in rows if r["key"] == key)
    return render(
        request,
        "admin/_attribute_row.html",
        customer={"customer_id": customer_id},
        attribute=row,
        error=error,
        saved=error is None,
        query=_query(as_of=as_of),
    )
