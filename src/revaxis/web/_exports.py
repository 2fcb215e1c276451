"""CSV and XLSX downloads of the tables shown by the web app and the API."""

from __future__ import annotations

import io
import re

import pandas as pd
from fastapi.responses import Response

from revaxis.web._app import ApiError

EXPORT_FORMATS = ("csv", "xlsx")
# A text cell starting with one of these is a formula to Excel and LibreOffice,
# which would run it when the file is opened (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_response(frame: pd.DataFrame, name: str, fmt: str) -> Response:
    """Return `frame` as a downloaded file `name.csv` or `name.xlsx`.

    Text cells that a spreadsheet would read as a formula get a leading `'`,
    the spreadsheet convention for "this is text"; numbers stay numbers."""
    frame = neutralise_formulas(frame)
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


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `frame` whose text cells cannot start a formula."""
    out = frame.copy()
    for column in out.columns:
        if not (
            pd.api.types.is_object_dtype(out[column])
            or pd.api.types.is_string_dtype(out[column])
        ):
            continue
        out[column] = [
            "'" + value
            if isinstance(value, str) and value.startswith(_FORMULA_START)
            else value
            for value in out[column]
        ]
    return out
