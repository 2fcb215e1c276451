"""Axis routes of the REST API: list, create and delete axes, set or upload
their values, manage their label rules, and preview where the raw labels land,
also under rules not saved yet."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from revaxis._axes import Axis, Rule
from revaxis._custom_axes import KEY_PATTERN, LEVELS, VALUE_TYPES
from revaxis._errors import ImportRejected, InputError, MissingRateError
from revaxis._workspace_axes import RuleError, check_rule
from revaxis.web._api_common import (
    AsOfQuery,
    CurrencyQuery,
    FormatQuery,
    check_format,
    parse_day,
    records,
    rejected_response,
    reporting_currency,
    table_response,
)
from revaxis.web._app import ApiError, workspace_of
from revaxis.web._security import AnyUser, EditorUser
from revaxis.web._uploads import upload_name
from revaxis.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["axes"])
log = logging.getLogger("revaxis.web.api")

# File types that `Workspace.import_axis_values` reads.
VALUE_FILE_SUFFIXES = (".csv", ".xlsx", ".xlsm")


class AxisIn(BaseModel):
    key: str = Field(
        description="Lower-case letters, digits and underscores, starting with a "
        "letter, at most 40 characters."
    )
    label: str | None = Field(
        default=None, description="Name shown in reports. Default: from the key."
    )
    level: str | None = Field(
        default=None,
        description=f"One of {', '.join(LEVELS)}. Default: customer, or the "
        "parent's level for an axis with a parent.",
    )
    value_type: str = Field(
        default="category", description=f"One of {', '.join(VALUE_TYPES)}."
    )
    source: str | None = Field(
        default=None,
        description="metadata.<key> (a billing metadata key of the level's "
        "entity), manual, computed.mrr_band or computed.lifecycle. Default: "
        "manual.",
    )
    parent: str | None = Field(
        default=None,
        description="Key of an axis whose clean labels this axis groups with "
        "its own rules or buckets.",
    )
    buckets: list[float] | None = Field(
        default=None,
        description="Increasing bucket edges, or the band edges and lifecycle "
        "thresholds of computed axes.",
    )


class AxisOut(BaseModel):
    key: str
    label: str
    level: str
    source: str
    value_type: str
    parent: str | None
    buckets: list[float]
    warning: str | None = Field(
        default=None,
        description="Set when no entity carries the metadata key yet, so every "
        "value is empty until an import brings it.",
    )


class ValueIn(BaseModel):
    value: str | None = Field(
        description="The value; null removes the value set from `valid_from`."
    )
    valid_from: dt.date | None = Field(
        default=None,
        description="First day on which the value is in force (customer and "
        "subscription axes only). Default: for all time.",
    )


class RuleIn(BaseModel):
    kind: str = Field(
        description="map: a whole label equal to `pattern` (trimmed, ignoring "
        "case); regex: a label in which the Python regular expression `pattern` "
        "finds a match."
    )
    pattern: str
    label: str = Field(description="The clean label that matching labels become.")


class PreviewIn(BaseModel):
    rules: list[RuleIn] = Field(
        default_factory=list,
        description="Draft rules applied after the saved ones, not saved.",
    )
    currency: str | None = None
    as_of: dt.date | None = None


# Axes --------------------------------------------------------------------------


@router.get("/axes", response_model=None)
def list_axes(
    request: Request,
    user: AnyUser,
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = "json",
) -> Any:
    """List every axis with its level, source, number of values and coverage.

    Coverage is the share of paying customers and of MRR with a value at the
    end of the latest period. `metadata_keys` lists, per level, the billing
    metadata keys that an axis can read. With format csv or xlsx, the response
    is a download of the axes table alone."""
    check_format(fmt)
    day = parse_day(as_of, "as_of")
    with workspace_of(request) as ws:
        frame = ws.axes(currency=reporting_currency(ws, currency), as_of=day)
        keys = {level: ws.metadata_keys(level) for level in LEVELS}
    if fmt != "json":
        return table_response(frame, "axes", fmt)
    return {"axes": records(frame), "metadata_keys": keys}


@router.post("/axes", status_code=201)
def create_axis(body: AxisIn, request: Request, user: EditorUser) -> AxisOut:
    """Create a custom axis from billing metadata, manual values, a computation
    or another axis (`parent`)."""
    if body.parent is not None and (body.source is not None or body.level):
        raise ApiError(
            "An axis with a parent takes the level and values of its parent; "
            "leave out level and source.",
            "parent",
        )
    if not KEY_PATTERN.match(body.key):
        raise ApiError(
            f"Invalid axis key {body.key!r}: use lower-case letters, digits and "
            "underscores, starting with a letter (at most 40 characters).",
            "key",
        )
    if body.level is not None and body.level not in LEVELS:
        raise ApiError(
            f"Invalid level {body.level!r}: use one of {', '.join(LEVELS)}.",
            "level",
        )
    if body.value_type not in VALUE_TYPES:
        raise ApiError(
            f"Invalid value_type {body.value_type!r}: use one of "
            f"{', '.join(VALUE_TYPES)}.",
            "value_type",
        )
    with workspace_of(request) as ws:
        registry = ws.axes_registry()
        if body.key in registry:
            raise ApiError(
                f"Axis {body.key!r} already exists; delete it first or choose "
                "another key.",
                "key",
                409,
            )
        if body.parent is not None and body.parent not in registry:
            raise ApiError(
                f"Unknown parent axis {body.parent!r}; list axes with "
                "GET /api/v1/axes.",
                "parent",
            )
        try:
            ws.create_axis(
                body.key,
                label=body.label,
                level=body.level,
                value_type=body.value_type,
                source=body.source or "manual",
                parent=body.parent,
                buckets=body.buckets,
            )
        except InputError as exc:
            raise ApiError(str(exc), _create_parameter(str(exc))) from None
        axis = ws.axes_registry()[body.key]
        warning = _missing_metadata_warning(ws, axis)
    log.info("%s created axis %s (source %s)", user.email, axis.key, axis.source)
    return AxisOut(
        key=axis.key,
        label=axis.label,
        level=axis.level,
        source=axis.source,
        value_type=axis.value_type,
        parent=axis.parent,
        buckets=list(body.buckets or ()),
        warning=warning,
    )


def _create_parameter(message: str) -> str | None:
    """Name the parameter that a `create_axis` error is about. The checks of
    key, level, value_type and parent run before, so the rest concern buckets
    or source."""
    lowered = message.lower()
    if "bucket" in lowered or "threshold" in lowered:
        return "buckets"
    if "source" in lowered or "computed" in lowered:
        return "source"
    return None


def _missing_metadata_warning(ws: Workspace, axis: Axis) -> str | None:
    if not axis.source.startswith("metadata."):
        return None
    meta_key = axis.source.removeprefix("metadata.")
    present = ws.metadata_keys(axis.level)
    if meta_key in present:
        return None
    listed = ", ".join(present) or "none yet"
    return (
        f"No {axis.level} has the metadata key {meta_key!r} yet, so every value "
        f"is empty until an import brings it. Keys present: {listed}."
    )


@router.delete("/axes/{key}", status_code=204)
def delete_axis(key: str, request: Request, user: EditorUser) -> Response:
    """Delete a custom axis with its values and label rules."""
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        try:
            ws.delete_axis(key)
        except InputError as exc:
            raise ApiError(str(exc), "key") from None
    log.info("%s deleted axis %s", user.email, key)
    return Response(status_code=204)


# Values ------------------------------------------------------------------------


@router.put("/axes/{key}/values/{entity_id}")
def set_value(
    key: str, entity_id: str, body: ValueIn, request: Request, user: EditorUser
) -> dict[str, Any]:
    """Set (or with a null value remove) the value of an axis for one entity:
    a customer, subscription, product or plan, by the axis' level. On an axis
    read from billing metadata, the value overrides the metadata."""
    with workspace_of(request) as ws:
        axis = _axis_or_404(ws, key)
        try:
            ws.set_axis_value(key, entity_id, body.value, valid_from=body.valid_from)
        except ImportRejected as exc:
            unknown = any(problem.field == "id" for problem in exc.problems)
            reasons = "; ".join(problem.reason for problem in exc.problems)
            raise ApiError(
                f"Cannot set {key!r} for {axis.level} {entity_id!r}: {reasons}.",
                "entity_id" if unknown else "value",
                404 if unknown else 400,
            ) from None
        except InputError as exc:
            message = str(exc)
            parameter = "valid_from" if "valid_from" in message else "key"
            raise ApiError(message, parameter) from None
    log.info(
        "%s set axis %s of %s %s to %r from %s",
        user.email,
        key,
        axis.level,
        entity_id,
        body.value,
        body.valid_from or "all time",
    )
    return {
        "key": key,
        "level": axis.level,
        "entity_id": entity_id,
        "value": body.value,
        "valid_from": body.valid_from.isoformat() if body.valid_from else None,
    }


@router.post("/axes/{key}/values", response_model=None)
def upload_values(
    key: str,
    request: Request,
    user: EditorUser,
    file: Annotated[
        UploadFile,
        File(
            description="CSV or Excel (.xlsx) file with the columns id, value and "
            "optionally valid_from (YYYY-MM-DD, empty for all time)."
        ),
    ],
) -> dict[str, Any] | JSONResponse:
    """Import the values of an axis from a file: every row or none. A rejected
    file returns 400 with every problem (file, line, field, value, reason)."""
    name = Path(file.filename or "values.csv").name
    suffix = Path(name).suffix.lower()
    if suffix not in VALUE_FILE_SUFFIXES:
        raise ApiError(
            f"Invalid file {name!r}: upload a {', '.join(VALUE_FILE_SUFFIXES)} "
            "file with the columns id, value and optionally valid_from.",
            "file",
        )
    with tempfile.TemporaryDirectory(prefix="revaxis-values-") as folder:
        # The problems of a rejected file name it, so it keeps its own name.
        path = Path(folder) / upload_name(name)
        path.write_bytes(file.file.read())
        with workspace_of(request) as ws:
            _axis_or_404(ws, key)
            try:
                written = ws.import_axis_values(key, path)
            except ImportRejected as exc:
                log.info(
                    "values of axis %s from %s rejected: %d problem(s)",
                    key,
                    name,
                    len(exc.problems),
                )
                return rejected_response(
                    f"Import rejected: {len(exc.problems)} problem(s) in "
                    f"{exc.rows_read} row(s) read; nothing was changed.",
                    "file",
                    exc.problems,
                )
            except InputError as exc:
                raise ApiError(str(exc), "key") from None
    log.info("%s imported %d value(s) of axis %s", user.email, written, key)
    return {"key": key, "rows_written": written}


# Rules -------------------------------------------------------------------------


@router.get("/axes/{key}/rules", response_model=None)
def list_rules(
    key: str, request: Request, user: AnyUser, fmt: FormatQuery = "json"
) -> Any:
    """List the label rules of an axis in the order they apply: position,
    kind, pattern, label."""
    check_format(fmt)
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        frame = ws.rules(key)
    return table_response(frame, f"rules-{key}", fmt)


@router.post("/axes/{key}/rules", status_code=201)
def add_rule(
    key: str, body: RuleIn, request: Request, user: EditorUser
) -> dict[str, Any]:
    """Append a label rule; the first matching rule decides a label."""
    rule = _checked_rule(body, "")
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        ws.add_rule(key, rule.kind, rule.pattern, rule.label)
        added = ws.rules(key).iloc[-1]
    log.info("%s added rule %s to axis %s", user.email, int(added["position"]), key)
    return {
        "position": int(added["position"]),
        "kind": added["kind"],
        "pattern": added["pattern"],
        "label": added["label"],
    }


@router.delete("/axes/{key}/rules/{position}", status_code=204)
def remove_rule(
    key: str, position: int, request: Request, user: EditorUser
) -> Response:
    """Remove the rule at `position`; the other rules keep their positions."""
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        if position not in set(ws.rules(key)["position"]):
            raise ApiError(
                f"Axis {key!r} has no rule {position}; list its rules with "
                f"GET /api/v1/axes/{key}/rules.",
                "position",
                404,
            )
        ws.remove_rule(key, position)
    log.info("%s removed rule %d of axis %s", user.email, position, key)
    return Response(status_code=204)


def _checked_rule(body: RuleIn, prefix: str) -> Rule:
    """Return the rule of `body`, or raise ApiError naming the invalid field.
    `prefix` locates the rule in a request body, such as `rules[0].`."""
    try:
        return check_rule(body.kind, body.pattern, body.label)
    except RuleError as exc:
        raise ApiError(str(exc), f"{prefix}{exc.field}") from None


# Preview -----------------------------------------------------------------------


@router.get("/axes/{key}/preview", response_model=None)
def preview(
    key: str,
    request: Request,
    user: AnyUser,
    currency: CurrencyQuery = None,
    as_of: AsOfQuery = None,
    fmt: FormatQuery = "json",
) -> Any:
    """Show where each raw label of the axis lands under its saved rules.

    Each row has the customers and MRR the label carries at the end of the
    latest month, whether a rule or bucket decided it (`reviewed`), the
    position of the first matching rule (`rule`) and near-duplicate labels to
    merge (`suggestions`)."""
    check_format(fmt)
    day = parse_day(as_of, "as_of")
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        frame = _preview(ws, key, currency, day, [])
    if fmt != "json":
        frame = frame.assign(suggestions=frame["suggestions"].map("; ".join))
    return table_response(frame, f"preview-{key}", fmt)


@router.post("/axes/{key}/preview")
def preview_draft(
    key: str, body: PreviewIn, request: Request, user: AnyUser
) -> list[dict[str, Any]]:
    """Preview the axis with draft rules applied after the saved ones, at the
    positions that adding them would give. Nothing is saved, so viewers may
    call it."""
    drafts = [
        _checked_rule(rule, f"rules[{index}].") for index, rule in enumerate(body.rules)
    ]
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        frame = _preview(ws, key, body.currency, body.as_of, drafts)
    return records(frame)


def _preview(
    ws: Workspace,
    key: str,
    currency: str | None,
    as_of: dt.date | None,
    drafts: list[Rule],
) -> Any:
    reporting = reporting_currency(ws, currency)
    try:
        return ws.preview(key, currency=reporting, as_of=as_of, draft_rules=drafts)
    except MissingRateError as exc:
        raise ApiError(str(exc), "currency") from None


# Shared ------------------------------------------------------------------------


def _axis_or_404(ws: Workspace, key: str) -> Axis:
    registry = ws.axes_registry()
    if key not in registry:
        raise ApiError(
            f"Unknown axis {key!r}; list axes with GET /api/v1/axes.", "key", 404
        )
    return registry[key]
