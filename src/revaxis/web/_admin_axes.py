"""The axes pages: the axis list with coverage, metadata keys to turn into axes,
creating and deleting axes, and per axis its label rules with a live preview
and an upload of values."""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from revaxis._axes import NONE_LABEL, SENTINEL_START, Axis, Rule
from revaxis._computed_axes import KINDS as COMPUTED_KINDS
from revaxis._custom_axes import LEVELS, VALUE_TYPES
from revaxis._errors import ImportRejected, InputError, UnknownAxisError
from revaxis._workspace_axes import RULE_KINDS, check_rule
from revaxis.web._admin_common import (
    MAX_SHOWN_ROWS,
    download,
    export_or_none,
    flash,
    gettext,
    page,
    redirect,
)
from revaxis.web._app import ApiError, render, workspace_of
from revaxis.web._security import AnyUser, EditorUser
from revaxis.web._uploads import upload_name
from revaxis.workspace import Workspace

router = APIRouter()
log = logging.getLogger("revaxis.web.axes")

FormatQuery = Annotated[str | None, Query(alias="format")]
# Upload suffixes that `Workspace.import_axis_values` reads.
VALUE_FILE_SUFFIXES = (".csv", ".xlsx", ".xlsm")


def axis_rows(ws: Workspace) -> list[dict[str, object]]:
    """Describe every axis of the registry, without the costly coverage."""
    rows = []
    for key, axis in ws.axes_registry().items():
        rows.append(
            {
                "key": key,
                "label": axis.label,
                "level": axis.level,
                "source": axis.source,
                "value_type": axis.value_type,
                "parent": axis.parent,
                "rules": len(axis.rules),
                "custom": axis.source != "native",
            }
        )
    return rows


def metadata_candidates(ws: Workspace) -> pd.DataFrame:
    """Return `ws.metadata_candidates()` with the metadata key alone and a
    proposed axis key for the one-click "Create axis" buttons."""
    frame = ws.metadata_candidates()
    taken = set(ws.axes_registry())
    frame.insert(1, "metadata_key", frame["source"].str.removeprefix("metadata."))
    frame.insert(
        3,
        "axis_key",
        [proposed_axis_key(key, taken) for key in frame["metadata_key"]],
    )
    return frame


def proposed_axis_key(metadata_key: str, taken: set[str]) -> str:
    """Turn a metadata key into a valid, unused axis key ("Sales Rep" gives
    sales_rep, and sales_rep_2 when that is taken)."""
    key = re.sub(r"[^a-z0-9]+", "_", metadata_key.lower()).strip("_")
    if not key or not key[0].isalpha():
        key = f"m_{key}".rstrip("_")
    key = key[:36]
    candidate, number = key, 2
    while candidate in taken:
        candidate = f"{key}_{number}"
        number += 1
    return candidate


def _axis_or_404(ws: Workspace, key: str) -> Axis:
    registry = ws.axes_registry()
    if key not in registry:
        raise ApiError(f"Axis {key!r} not found: see the list of axes.", "key", 404)
    return registry[key]


def values_settable(axis: Axis) -> bool:
    """Return whether the axis takes values set by hand or uploaded, as
    `Workspace.set_axis_value` allows. Custom axes that read metadata or manual
    values take them, and so does the churn reason. Derived and computed axes
    never do."""
    if axis.parent is not None:
        return False
    if axis.key == "churn_reason":
        return True
    return axis.source == "manual" or axis.source.startswith("metadata.")


def manual_values(ws: Workspace, key: str) -> pd.DataFrame:
    """Return the values set by hand or by upload on axis `key`: id, value and
    valid_from (empty for all time), as `revaxis axes import` reads them."""
    table = ws.con.table("axis_values")
    frame = (
        table.filter(table.axis_key == key)
        .order_by(["entity_id", "valid_from"])
        .execute()
    )
    valid_from = [
        None if pd.Timestamp(day).date() == SENTINEL_START else pd.Timestamp(day).date()
        for day in frame["valid_from"]
    ]
    return pd.DataFrame(
        {"id": frame["entity_id"], "value": frame["value"], "valid_from": valid_from}
    )


# The list of axes -------------------------------------------------------------


@router.get("/axes")
def axes_page(request: Request, user: AnyUser) -> Response:
    with workspace_of(request) as ws:
        return _axes_page(request, ws)


def _axes_page(
    request: Request,
    ws: Workspace,
    status_code: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    rows = axis_rows(ws)
    return page(
        request,
        "admin/axes.html",
        status_code,
        axes=rows,
        coverage=None,
        candidates=metadata_candidates(ws).to_dict(orient="records"),
        metadata_sources=_metadata_sources(ws),
        computed_sources=[f"computed.{kind}" for kind in COMPUTED_KINDS],
        levels=LEVELS,
        value_types=VALUE_TYPES,
        error=error,
        form=form or {},
    )


def _metadata_sources(ws: Workspace) -> list[str]:
    keys = set()
    for level in LEVELS:
        keys.update(ws.metadata_keys(level))
    return [f"metadata.{key}" for key in sorted(keys)]


@router.get("/axes/coverage")
def axes_coverage(request: Request, user: AnyUser, fmt: FormatQuery = None) -> Response:
    """Return the axes with their coverage, as an HTML fragment or a download.
    It runs one report per axis, so the page loads it after showing itself."""
    with workspace_of(request) as ws:
        frame = ws.axes()
        rows = axis_rows(ws)
    exported = export_or_none(frame, "axes", fmt)
    if exported is not None:
        return exported
    coverage = {row["key"]: row for row in frame.to_dict(orient="records")}
    return render(request, "admin/_axes_rows.html", axes=rows, coverage=coverage)


@router.get("/axes/candidates")
def axes_candidates(
    request: Request, user: AnyUser, fmt: FormatQuery = None
) -> Response:
    with workspace_of(request) as ws:
        frame = metadata_candidates(ws)
    return download(frame, "metadata-keys", fmt)


@router.post("/axes")
def create_axis(
    request: Request,
    user: EditorUser,
    key: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    level: Annotated[str, Form()] = "customer",
    value_type: Annotated[str, Form()] = "category",
    source: Annotated[str, Form()] = "manual",
    parent: Annotated[str, Form()] = "",
    buckets: Annotated[str, Form()] = "",
) -> Response:
    """Create a custom axis from the form, or show the page again with the
    reason it was rejected and the values typed."""
    _ = gettext(request)
    form = {
        "key": key,
        "label": label,
        "level": level,
        "value_type": value_type,
        "source": source,
        "parent": parent,
        "buckets": buckets,
    }
    with workspace_of(request) as ws:
        try:
            ws.create_axis(
                key.strip(),
                label=label.strip() or None,
                # The form always sends a level, but a derived axis takes its
                # parent's level, as the page explains.
                level=None if parent.strip() else level,
                value_type=value_type,
                source=source.strip() or "manual",
                parent=parent.strip() or None,
                buckets=_parse_buckets(buckets),
            )
        except InputError as exc:
            log.info("axis %r not created: %s", key, exc)
            return _axes_page(request, ws, 400, error=str(exc), form=form)
    log.info("%s created axis %r from %s", user.email, key, source or parent)
    flash(request, _("Axis %(key)s created.", key=key.strip()))
    return redirect(f"/axes/{key.strip()}")


def _parse_buckets(text: str) -> list[float] | None:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        return None
    try:
        return [float(part) for part in parts]
    except ValueError:
        raise InputError(
            f"Invalid buckets {text!r}: give increasing numbers separated by "
            "commas, such as 0,10,50,250."
        ) from None


@router.post("/axes/{key}/delete")
def delete_axis(request: Request, key: str, user: EditorUser) -> Response:
    _ = gettext(request)
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        try:
            ws.delete_axis(key)
        except InputError as exc:
            log.info("axis %r not deleted: %s", key, exc)
            return _axes_page(request, ws, 400, error=str(exc))
    log.info("%s deleted axis %r", user.email, key)
    flash(request, _("Axis %(key)s deleted.", key=key))
    return redirect("/axes")


# One axis: rules, preview and values --------------------------------------------


@router.get("/axes/{key}")
def axis_page(request: Request, key: str, user: AnyUser) -> Response:
    with workspace_of(request) as ws:
        return _axis_page(request, ws, key)


def _axis_page(
    request: Request,
    ws: Workspace,
    key: str,
    status_code: int = 200,
    error: str | None = None,
    rule_form: dict[str, str] | None = None,
    problems: list[object] | None = None,
) -> Response:
    axis = _axis_or_404(ws, key)
    settable = values_settable(axis)
    values = manual_values(ws, key) if settable else None
    try:
        draft = _draft_rule(rule_form or {})
    except InputError:
        # The caller shows the error; the preview keeps to the saved rules.
        draft = None
    preview = _preview_context(ws, key, draft)
    return page(
        request,
        "admin/axis.html",
        status_code,
        axis=axis,
        custom=axis.source != "native",
        rules=ws.rules(key).to_dict(orient="records"),
        rule_kinds=RULE_KINDS,
        rule_form=rule_form or {"kind": "map"},
        settable=settable,
        values=None if values is None else values.head(MAX_SHOWN_ROWS),
        values_total=0 if values is None else len(values),
        error=error,
        problems=problems or [],
        max_rows=MAX_SHOWN_ROWS,
        **preview,
    )


def _draft_rule(form: dict[str, str]) -> Rule | None:
    """Return the rule typed in the form, or None while it is incomplete. An
    invalid regular expression raises InputError."""
    kind = form.get("kind", "map")
    pattern = form.get("pattern", "")
    label = form.get("label", "").strip()
    if kind not in RULE_KINDS or not pattern or not label:
        return None
    return check_rule(kind, pattern, label)


def _preview_context(ws: Workspace, key: str, draft: Rule | None) -> dict[str, object]:
    """Build the preview of axis `key` with the draft rule (if any) applied
    after the saved ones, marking each raw label whose landing it changes."""
    frame = ws.preview(key, draft_rules=[draft] if draft else [])
    real = [raw for raw in frame["raw_label"] if raw != NONE_LABEL]
    saved = ws.clean_values(key, real)
    before = [
        NONE_LABEL if raw == NONE_LABEL else (saved[raw] or NONE_LABEL)
        for raw in frame["raw_label"]
    ]
    frame = frame.assign(saved_label=before)
    frame["moved"] = frame["saved_label"] != frame["label"]
    moved = frame[frame["moved"]]
    return {
        "preview": frame.to_dict(orient="records"),
        "draft": draft,
        "moved_labels": len(moved),
        "moved_customers": int(moved["customers"].sum()),
        "moved_mrr": float(moved["mrr"].sum()),
        "unreviewed": int((~frame["reviewed"]).sum()),
        "currency": ws.report_currency(),
    }


def preview_frame(ws: Workspace, key: str, draft: Rule | None) -> pd.DataFrame:
    """Return the preview as a table to download, suggestions joined by "; "."""
    context = _preview_context(ws, key, draft)
    frame = pd.DataFrame(context["preview"])  # type: ignore[arg-type]
    frame["suggestions"] = ["; ".join(s) for s in frame["suggestions"]]
    return frame


@router.get("/axes/{key}/preview")
def rule_preview(
    request: Request,
    key: str,
    user: AnyUser,
    kind: str = "map",
    pattern: str = "",
    label: str = "",
    fmt: FormatQuery = None,
) -> Response:
    """Return the preview fragment with the rule being typed applied after the
    saved rules, or its download; the rule is not saved."""
    form = {"kind": kind, "pattern": pattern, "label": label}
    with workspace_of(request) as ws:
        axis = _axis_or_404(ws, key)
        error = None
        try:
            draft = _draft_rule(form)
        except InputError as exc:
            draft, error = None, str(exc)
        if fmt:
            return download(preview_frame(ws, key, draft), f"preview-{key}", fmt)
        context = _preview_context(ws, key, draft)
    return render(
        request,
        "admin/_rule_preview.html",
        axis=axis,
        rule_form=form,
        error=error,
        **context,
    )


@router.get("/axes/{key}/rules")
def export_rules(
    request: Request, key: str, user: AnyUser, fmt: FormatQuery = None
) -> Response:
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        frame = ws.rules(key)
    return download(frame, f"rules-{key}", fmt)


@router.post("/axes/{key}/rules")
def add_rule(
    request: Request,
    key: str,
    user: EditorUser,
    kind: Annotated[str, Form()] = "map",
    pattern: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext(request)
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        try:
            if not pattern:
                raise InputError("A rule needs a pattern: the raw label or expression.")
            ws.add_rule(key, kind, pattern, label)
        except InputError as exc:
            log.info("rule on axis %r not added: %s", key, exc)
            form = {"kind": kind, "pattern": pattern, "label": label}
            return _axis_page(request, ws, key, 400, error=str(exc), rule_form=form)
    log.info("%s added %s rule %r=%r to axis %r", user.email, kind, pattern, label, key)
    flash(
        request,
        _("Rule added: %(pattern)s → %(label)s.", pattern=pattern, label=label.strip()),
    )
    return redirect(f"/axes/{key}")


@router.post("/axes/{key}/rules/{position}/delete")
def remove_rule(
    request: Request, key: str, position: int, user: EditorUser
) -> Response:
    _ = gettext(request)
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        try:
            ws.remove_rule(key, position)
        except InputError as exc:
            raise ApiError(str(exc), "position", 404) from exc
    log.info("%s removed rule %d of axis %r", user.email, position, key)
    flash(request, _("Rule %(position)s removed.", position=position))
    return redirect(f"/axes/{key}")


@router.get("/axes/{key}/values")
def export_values(
    request: Request, key: str, user: AnyUser, fmt: FormatQuery = None
) -> Response:
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        frame = manual_values(ws, key)
    return download(frame, f"values-{key}", fmt)


@router.post("/axes/{key}/values")
def upload_values(
    request: Request,
    key: str,
    user: EditorUser,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Import the values of a CSV or Excel file (id, value, valid_from), all
    rows or none, like `revaxis axes import`."""
    _ = gettext(request)
    name = Path(file.filename or "values.csv").name
    suffix = Path(name).suffix.lower()
    with workspace_of(request) as ws:
        _axis_or_404(ws, key)
        if suffix not in VALUE_FILE_SUFFIXES:
            message = _(
                "Invalid file %(name)s: upload a .csv or .xlsx file with the "
                "columns id, value and optionally valid_from.",
                name=name,
            )
            return _axis_page(request, ws, key, 400, error=message)
        with tempfile.TemporaryDirectory(prefix="revaxis-values-") as folder:
            path = Path(folder) / upload_name(name)
            path.write_bytes(file.file.read())
            try:
                written = ws.import_axis_values(key, path)
            except ImportRejected as exc:
                log.info(
                    "values file %s for axis %r rejected: %d problem(s)",
                    name,
                    key,
                    len(exc.problems),
                )
                message = _(
                    "%(name)s was rejected: %(count)s problem(s) in %(rows)s "
                    "row(s). Nothing was changed.",
                    name=name,
                    count=len(exc.problems),
                    rows=exc.rows_read,
                )
                return _axis_page(
                    request, ws, key, 400, error=message, problems=exc.problems
                )
            except (InputError, UnknownAxisError) as exc:
                log.info("values file %s for axis %r rejected: %s", name, key, exc)
                return _axis_page(request, ws, key, 400, error=str(exc))
    log.info(
        "%s imported %d value(s) of axis %r from %s", user.email, written, key, name
    )
    flash(
        request,
        _("%(count)s value(s) imported from %(name)s.", count=written, name=name),
    )
    return redirect(f"/axes/{key}")
