"""The data page: upload an import, show its report or every problem that
rejected it, and the import log."""

from __future__ import annotations

import collections
import logging
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from revaxis._errors import ImportRejected, InputError, Problem, RevaxisError
from revaxis._importers import CANONICAL_FILES, FORMATS
from revaxis._mapping import packaged_mappings
from revaxis.web._admin_common import MAX_SHOWN_ROWS, download, gettext, page, redirect
from revaxis.web._app import ApiError, workspace_of
from revaxis.web._security import AnyUser, EditorUser
from revaxis.web._uploads import extract_zip, upload_name
from revaxis.workspace import ImportReport, Workspace

router = APIRouter()
log = logging.getLogger("revaxis.web.data")

FormatQuery = Annotated[str | None, Query(alias="format")]
# The format select's first choice: guess from the files and the mapping.
AUTO_FORMAT = "auto"
# Import reports kept in memory for their download links, newest last.
_KEPT_REPORTS = 20


class UploadError(InputError):
    """The uploaded files cannot be imported as sent: wrong count, name or kind."""


def _reports(request: Request) -> collections.OrderedDict[str, dict[str, object]]:
    """Return the recent import reports of this app, by id (kept in memory)."""
    state = request.app.state
    if not hasattr(state, "admin_import_reports"):
        state.admin_import_reports = collections.OrderedDict()
    return state.admin_import_reports


def _keep_report(request: Request, user_id: int, report: dict[str, object]) -> str:
    reports = _reports(request)
    report_id = secrets.token_urlsafe(8)
    reports[report_id] = {**report, "user_id": user_id}
    while len(reports) > _KEPT_REPORTS:
        reports.popitem(last=False)
    return report_id


def _report_of(request: Request, report_id: str, user_id: int) -> dict[str, object]:
    report = _reports(request).get(report_id)
    if report is None or report["user_id"] != user_id:
        raise ApiError(
            f"Import report {report_id!r} not found: reports are kept in memory "
            "for the last imports only, and are lost when the server restarts.",
            "report",
            404,
        )
    return report


def summary_frame(report: ImportReport) -> pd.DataFrame:
    """Return the rows new or changed per table of a successful import."""
    rows = [
        {"table": table, "rows_changed": int(count)}
        for table, count in sorted(report.rows_changed.items())
    ]
    return pd.DataFrame(rows, columns=["table", "rows_changed"])


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    rows = [
        {
            "file": p.file,
            "line": p.line,
            "field": p.field,
            "value": p.value,
            "problem": p.reason,
        }
        for p in problems
    ]
    frame = pd.DataFrame(rows, columns=["file", "line", "field", "value", "problem"])
    frame["line"] = frame["line"].astype("Int64")
    return frame


# Page -------------------------------------------------------------------------


@router.get("/data")
def data_page(request: Request, user: AnyUser, report: str | None = None) -> Response:
    shown = _report_of(request, report, user.user_id) if report else None
    with workspace_of(request) as ws:
        return _data_page(request, ws, report=shown, report_id=report)


def _data_page(
    request: Request,
    ws: Workspace,
    status_code: int = 200,
    *,
    report: dict[str, object] | None = None,
    report_id: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    history = ws.import_log()
    return page(
        request,
        "admin/data.html",
        status_code,
        formats=[AUTO_FORMAT, *FORMATS],
        mappings=packaged_mappings(),
        counts=ws.counts(),
        history=history.head(MAX_SHOWN_ROWS).to_dict(orient="records"),
        history_total=len(history),
        report=report,
        report_id=report_id,
        error=error,
        form=form or {"format": AUTO_FORMAT},
        max_rows=MAX_SHOWN_ROWS,
    )


@router.get("/data/log")
def export_log(request: Request, user: AnyUser, fmt: FormatQuery = None) -> Response:
    with workspace_of(request) as ws:
        frame = ws.import_log()
    return download(frame, "import-log", fmt)


@router.get("/data/counts")
def export_counts(request: Request, user: AnyUser, fmt: FormatQuery = None) -> Response:
    with workspace_of(request) as ws:
        counts = ws.counts()
    frame = pd.DataFrame(list(counts.items()), columns=["table", "rows"])
    return download(frame, "table-rows", fmt)


@router.get("/data/reports/{report_id}")
def export_report(
    request: Request, report_id: str, user: AnyUser, fmt: FormatQuery = None
) -> Response:
    """Download the table of an import report: the rows changed per table, or
    the problems of a rejected import."""
    report = _report_of(request, report_id, user.user_id)
    frame = report["frame"]
    assert isinstance(frame, pd.DataFrame)
    name = "import-problems" if report["rejected"] else "import-report"
    return download(frame, name, fmt)


# Import -----------------------------------------------------------------------


@router.post("/data/import")
def upload_import(
    request: Request,
    user: EditorUser,
    files: Annotated[list[UploadFile], File()],
    format: Annotated[str, Form()] = AUTO_FORMAT,
    mapping: Annotated[str, Form()] = "",
    mapping_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import the uploaded files in one transaction. A rejected import changes
    nothing, and the page lists every problem with its file, line and field."""
    _ = gettext(request)
    form = {"format": format, "mapping": mapping}
    names = ", ".join(Path(f.filename or "").name for f in files)
    with (
        tempfile.TemporaryDirectory(prefix="revaxis-import-") as folder,
        workspace_of(request) as ws,
    ):
        try:
            path, chosen, mapping_path = _stage_upload(
                Path(folder), files, format, mapping, mapping_file
            )
            log.info("%s started an import of %s (%s)", user.email, names, chosen)
            report = ws.import_path(
                path, format=chosen, mapping=mapping_path, source_name=names
            )
        except ImportRejected as exc:
            log.info(
                "import of %s by %s rejected: %d problem(s) in %d row(s)",
                names,
                user.email,
                len(exc.problems),
                exc.rows_read,
            )
            rejected = {
                "rejected": True,
                "files": names,
                "rows_read": exc.rows_read,
                "problems": exc.problems,
                "frame": problems_frame(exc.problems),
            }
            report_id = _keep_report(request, user.user_id, rejected)
            return _data_page(
                request, ws, 400, report=rejected, report_id=report_id, form=form
            )
        except RevaxisError as exc:
            log.info("import of %s by %s failed: %s", names, user.email, exc)
            return _data_page(request, ws, 400, error=str(exc), form=form)
    done = {
        "rejected": False,
        "files": names,
        "format": chosen,
        "rows_read": report.rows_read,
        "rows_imported": report.rows_imported,
        "rows_skipped": report.rows_skipped,
        "rows_rejected": report.rows_rejected,
        "frame": summary_frame(report),
    }
    report_id = _keep_report(request, user.user_id, done)
    return redirect(f"/data?report={report_id}#report")


def _stage_upload(
    folder: Path,
    files: list[UploadFile],
    format: str,
    mapping: str,
    mapping_file: UploadFile | None,
) -> tuple[Path, str, Path | str | None]:
    """Write the uploads under `folder` and return what `import_path` reads:
    the path (a folder of canonical CSV files, or one file), the format, and
    the mapping (a shipped mapping's name or the uploaded TOML file)."""
    uploads = folder / "upload"
    uploads.mkdir()
    written: list[Path] = []
    names: set[str] = set()
    for upload in files:
        base = Path(upload.filename or "").name
        if not base or base.startswith("."):
            continue
        target = uploads / upload_name(base)
        if target.name in names:
            raise UploadError(
                f"Two uploaded files are named {target.name}: upload each file "
                "once, under its own name."
            )
        names.add(target.name)
        with target.open("wb") as out:
            shutil.copyfileobj(upload.file, out)
        if target.suffix.lower() == ".zip":
            written.extend(extract_zip(target, uploads))
            target.unlink()
        else:
            written.append(target)
    if not written:
        raise UploadError("No file was uploaded: choose one or more files.")

    mapping_path: Path | str | None = mapping.strip() or None
    if mapping_file is not None and mapping_file.filename:
        # A folder of its own, so that no name clashes with the uploads folder.
        mappings = folder / "mapping"
        mappings.mkdir()
        mapping_path = mappings / upload_name(mapping_file.filename)
        with mapping_path.open("wb") as out:
            shutil.copyfileobj(mapping_file.file, out)

    chosen = format if format != AUTO_FORMAT else _guess_format(written, mapping_path)
    if chosen == "csv":
        return uploads, chosen, mapping_path
    if len(written) != 1:
        raise UploadError(
            f"The {chosen} format reads one file, and {len(written)} were uploaded: "
            "upload one file, or use the csv format for a set of canonical files."
        )
    return written[0], chosen, mapping_path


def _guess_format(written: list[Path], mapping: Path | str | None) -> str:
    if mapping is not None:
        return "mapped"
    if len(written) > 1 or written[0].name in CANONICAL_FILES:
        return "csv"
    if written[0].suffix.lower() == ".json":
        return "stripe-json"
    raise UploadError(
        f"Cannot tell the format of {written[0].name}: choose periods for a "
        "subscription-periods CSV, or mapped with a mapping for another export. "
        "Canonical files must keep their names (customers.csv, invoice_lines.csv...)."
    )
