"""Customer routes of the REST API: the searchable list, one customer's details,
and the values of manual customer axes."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from revaxis._customers import MAX_OFFSET, check_search, customer_exists
from revaxis._errors import ImportRejected, InputError
from revaxis.web._api_common import (
    AsOfQuery,
    CurrencyQuery,
    parse_day,
    plain,
    records,
    reporting_currency,
)
from revaxis.web._app import ApiError, workspace_of
from revaxis.web._security import AnyUser, EditorUser
from revaxis.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["customers"])
log = logging.getLogger("revaxis.web.api")

# Page sizes of GET /api/v1/customers.
MAX_PAGE = 500
DEFAULT_PAGE = 50


class CustomerPage(BaseModel):
    total: int = Field(description="Customers that match the search.")
    limit: int
    offset: int
    items: list[dict[str, Any]]


class AttributeIn(BaseModel):
    value: str | None = Field(
        description="The value; null removes the value set from `valid_from`."
    )
    valid_from: dt.date | None = Field(
        default=None,
        description="First day on which the value is in force; earlier days "
        "keep the earlier value. Default: for all time.",
    )


class AttributeOut(BaseModel):
    customer_id: str
    axis: str
    value: str | None
    valid_from: dt.date | None


@router.get("/customers")
def list_customers(
    request: Request,
    user: AnyUser,
    search: Annotated[
        str | None,
        Query(
            description="Text to find in the id, name, email or company, ignoring case."
        ),
    ] = None,
    limit: Annotated[
        int, Query(description=f"Page size, 1 to {MAX_PAGE}.")
    ] = DEFAULT_PAGE,
    offset: Annotated[
        int,
        Query(
            le=MAX_OFFSET,
            description=f"Matching customers to skip before the page, 0 to "
            f"{MAX_OFFSET}.",
        ),
    ] = 0,
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
) -> CustomerPage:
    """List customers with their MRR and status at the report day, the largest
    MRR first, then by id."""
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(f"Invalid limit {limit}: use 1 to {MAX_PAGE}.", "limit")
    if offset < 0:
        raise ApiError(f"Invalid offset {offset}: it cannot be negative.", "offset")
    try:
        check_search(search)
    except InputError as exc:
        raise ApiError(str(exc), "search") from None
    day = parse_day(as_of, "as_of")
    with workspace_of(request) as ws:
        reporting = reporting_currency(ws, currency)
        frame, total = ws.customers(
            search, limit=limit, offset=offset, currency=reporting, as_of=day
        )
    return CustomerPage(total=total, limit=limit, offset=offset, items=records(frame))


@router.get("/customers/{customer_id}")
def get_customer(
    customer_id: str,
    request: Request,
    user: AnyUser,
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
) -> dict[str, Any]:
    """Return one customer: the customer row, billing metadata, the value of
    every customer-level axis at the report day, the MRR at each month's end
    and the customer's movements."""
    day = parse_day(as_of, "as_of")
    with workspace_of(request) as ws:
        reporting = reporting_currency(ws, currency)
        _check_customer(ws, customer_id)
        details = ws.customer(customer_id, currency=reporting, as_of=day)
    return {
        "customer": plain(details["customer"]),
        "metadata": plain(details["metadata"]),
        "attributes": plain(details["attributes"]),
        "mrr_history": records(details["mrr_history"]),
        "movements": records(details["movements"]),
    }


@router.put("/customers/{customer_id}/attributes/{axis}")
def set_attribute(
    customer_id: str,
    axis: str,
    body: AttributeIn,
    request: Request,
    user: EditorUser,
) -> AttributeOut:
    """Set (or with a null value remove) the value of a manual customer axis for
    one customer. Axes read from billing metadata, computed or native are
    rejected with 400, because their values come from the data."""
    with workspace_of(request) as ws:
        registry = ws.axes_registry()
        if axis not in registry:
            raise ApiError(
                f"Unknown axis {axis!r}; list axes with GET /api/v1/axes.", "axis", 404
            )
        found = registry[axis]
        if found.level != "customer" or found.source != "manual":
            raise ApiError(
                f"Axis {axis!r} is not a manual customer axis (its level is "
                f"{found.level} and its source {found.source}), so its values "
                "cannot be set here. Create a customer axis with source manual, "
                "or use PUT /api/v1/axes/{key}/values/{entity_id} for a value that "
                "overrides billing metadata.",
                "axis",
            )
        _check_customer(ws, customer_id)
        try:
            ws.set_axis_value(axis, customer_id, body.value, valid_from=body.valid_from)
        except ImportRejected as exc:
            reasons = "; ".join(problem.reason for problem in exc.problems)
            raise ApiError(
                f"Cannot set {axis!r} for customer {customer_id!r}: {reasons}.",
                "value",
            ) from None
    log.info(
        "%s set axis %s of customer %s to %r from %s",
        user.email,
        axis,
        customer_id,
        body.value,
        body.valid_from or "all time",
    )
    return AttributeOut(
        customer_id=customer_id,
        axis=axis,
        value=body.value,
        valid_from=body.valid_from,
    )


def _check_customer(ws: Workspace, customer_id: str) -> None:
    """Raise a 404 ApiError when the workspace has no such customer."""
    if not customer_exists(ws, customer_id):
        raise ApiError(
            f"Customer {customer_id!r} not found; list customers with "
            "GET /api/v1/customers.",
            "customer_id",
            404,
        )
