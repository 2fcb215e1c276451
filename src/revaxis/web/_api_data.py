"""Data routes of the REST API: import a file of billing data, read the import
log, and read and change the workspace settings."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from revaxis._errors import ImportRejected, InputError
from revaxis._importers import FORMATS
from revaxis._mapping import packaged_mappings
from revaxis.web._api_common import problem_dicts, records, rejected_response
from revaxis.web._app import ApiError, workspace_of
from revaxis.web._security import AnyUser, EditorUser
from revaxis.web._uploads import extract_zip, upload_name
from revaxis.workspace import SETTINGS, ImportReport

router = APIRouter(prefix="/api/v1", tags=["data"])
log = logging.getLogger("revaxis.web.api")


class SettingIn(BaseModel):
    value: str | None = Field(
        description="The new value as text; null or an empty string restores the "
        "default."
    )


# Imports -----------------------------------------------------------------------


@router.post("/imports", response_model=None)
def import_file(
    request: Request,
    user: EditorUser,
    file: Annotated[
        UploadFile,
        File(
            description="A ZIP archive of canonical CSV files (customers.csv, "
            "invoice_lines.csv, ...), a subscription-periods CSV, a CSV or Excel "
            "export read through a mapping, or a JSON file of Stripe objects."
        ),
    ],
    format: Annotated[
        str | None,
        Form(
            description=f"One of {', '.join(FORMATS)}. Default: csv for a ZIP "
            "archive, stripe-json for a .json file, mapped when a mapping is given."
        ),
    ] = None,
    mapping: Annotated[
        str | None,
        Form(description="Name of a mapping shipped with revaxis, for mapped."),
    ] = None,
) -> dict[str, Any] | JSONResponse:
    """Import one uploaded file in one transaction. A rejected import returns
    400 with every problem (file, line, field, value, reason) and leaves the
    workspace unchanged."""
    if not (file.filename or "").strip():
        raise ApiError("No file was uploaded: send it in the `file` field.", "file")
    try:
        name = upload_name(file.filename)
    except InputError as exc:
        raise ApiError(str(exc), "file") from None
    chosen_mapping = (mapping or "").strip() or None
    if chosen_mapping is not None and chosen_mapping not in packaged_mappings():
        raise ApiError(
            f"Unknown mapping {chosen_mapping!r}: use one of "
            f"{', '.join(packaged_mappings())}.",
            "mapping",
        )
    chosen = _format(name, (format or "").strip() or None, chosen_mapping)
    with tempfile.TemporaryDirectory(prefix="revaxis-import-") as folder:
        path = _stage(Path(folder), name, file, chosen)
        log.info("%s started an import of %s (%s)", user.email, name, chosen)
        with workspace_of(request) as ws:
            try:
                report = ws.import_path(
                    path, format=chosen, mapping=chosen_mapping, source_name=name
                )
            except ImportRejected as exc:
                log.info(
                    "import of %s by %s rejected: %d problem(s) in %d row(s)",
                    name,
                    user.email,
                    len(exc.problems),
                    exc.rows_read,
                )
                return rejected_response(
                    f"Import rejected: {len(exc.problems)} problem(s) in "
                    f"{exc.rows_read} row(s) read; nothing was changed in the "
                    "workspace.",
                    "file",
                    exc.problems,
                )
            except InputError as exc:
                log.info("import of %s by %s failed: %s", name, user.email, exc)
                raise ApiError(str(exc), "file") from None
    log.info("import of %s by %s done: %s", name, user.email, report.summary())
    return _report_json(report, name, chosen)


def _format(name: str, given: str | None, mapping: str | None) -> str:
    """Return the import format of an uploaded file: `given`, else guessed
    from the file's type and the mapping."""
    suffix = Path(name).suffix.lower()
    if given is not None:
        if given not in FORMATS:
            raise ApiError(
                f"Invalid format {given!r}: use one of {', '.join(FORMATS)}.",
                "format",
            )
        if (given == "csv") != (suffix == ".zip"):
            raise ApiError(
                "The csv format reads a folder of canonical CSV files: upload it "
                "as a ZIP archive. Other formats read one file, not an archive.",
                "format",
            )
        return given
    if suffix == ".zip":
        return "csv"
    if mapping is not None:
        return "mapped"
    if suffix == ".json":
        return "stripe-json"
    raise ApiError(
        f"Cannot tell the format of {name!r}: send format=periods for a "
        "subscription-periods CSV, format=mapped with a mapping for another "
        "export, or a ZIP archive of canonical CSV files.",
        "format",
    )


def _stage(folder: Path, name: str, upload: UploadFile, chosen: str) -> Path:
    """Write the upload under `folder` and return what `import_path` reads: the
    folder of an archive's files for the csv format, else the file itself."""
    target = folder / name
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    if chosen != "csv":
        return target
    extracted = folder / Path(name).stem
    extracted.mkdir()
    try:
        extract_zip(target, extracted)
    except InputError as exc:
        raise ApiError(str(exc), "file") from None
    return extracted


def _report_json(report: ImportReport, name: str, chosen: str) -> dict[str, Any]:
    return {
        "source": name,
        "format": chosen,
        "rows_read": report.rows_read,
        "rows_imported": report.rows_imported,
        "rows_rejected": report.rows_rejected,
        "rows_skipped": report.rows_skipped,
        "rows_changed": dict(report.rows_changed),
        "problems": problem_dicts(report.problems),
        "summary": report.summary(),
    }


@router.get("/imports")
def list_imports(request: Request, user: AnyUser) -> list[dict[str, Any]]:
    """List the imports of the workspace, newest first: imported_at, source,
    format, rows_read, rows_imported and rows_rejected."""
    with workspace_of(request) as ws:
        frame = ws.import_log()
    return records(frame)


# Settings ----------------------------------------------------------------------


@router.get("/settings")
def list_settings(request: Request, user: AnyUser) -> list[dict[str, Any]]:
    """List every workspace setting with its value, default and meaning."""
    with workspace_of(request) as ws:
        values = ws.settings
    return [
        {
            "key": key,
            "value": values[key],
            "default": spec.default,
            "description": spec.help,
        }
        for key, spec in SETTINGS.items()
    ]


@router.put("/settings/{key}")
def set_setting(
    key: str, body: SettingIn, request: Request, user: EditorUser
) -> dict[str, Any]:
    """Validate and store a setting; a null or empty value restores its default."""
    if key not in SETTINGS:
        raise ApiError(
            f"Unknown setting {key!r}. Settings: {', '.join(SETTINGS)}.", "key", 404
        )
    with workspace_of(request) as ws:
        try:
            ws.set_setting(key, body.value)
        except InputError as exc:
            raise ApiError(str(exc), "value") from None
        value = ws.settings[key]
    log.info("%s set setting %s to %r", user.email, key, value)
    return {"key": key, "value": value}
