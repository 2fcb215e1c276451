"""CSV and XLSX downloads of the tables shown by the web app and the API."""

from __future__ import annotations

import io
import re

import pandas as pd
from fastapi.responses import Response

from revaxis.web._app import ApiError

EXPORT_FORMATS = ("csv", "xlsx")
_XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_response(frame: pd.DataFrame, name: str, fmt: str) -> Response:
    """Return `frame` as a downloaded file `name.csv` or `name.xlsx`."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "revaxis"
    if fmt == "csv":
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'},
        )
    if fmt == "xlsx":
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            # Excel limits sheet names to 31 characters.
            frame.to_excel(writer, index=False, sheet_name=safe[:31])
        return Response(
            buffer.getvalue(),
            media_type=_XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{safe}.xlsx"'},
        )
    raise ApiError(
        f"Invalid export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}.",
        "format",
    )
