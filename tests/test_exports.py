"""CSV and XLSX downloads of the web app: formulas in text cells stay text."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd

from revaxis.web._exports import export_response

FRAME = pd.DataFrame(
    {
        "company": ["=cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "+1", "Acme", None],
        "mrr": [-50.0, 10.0, 0.0, 1.5, 2.0, 3.0],
    }
)


def test_csv_cells_cannot_start_formula():
    response = export_response(FRAME, "customers", "csv")
    frame = pd.read_csv(io.StringIO(response.body.decode()), keep_default_na=False)
    assert list(frame["company"]) == [
        "'=cmd|' /C calc'!A0",
        "'@SUM(A1)",
        "'-2+3",
        "'+1",
        "Acme",
        "",
    ]
    # Numbers are not text: a negative amount stays a number.
    assert list(frame["mrr"]) == [-50.0, 10.0, 0.0, 1.5, 2.0, 3.0]


def test_xlsx_cells_are_not_formulas():
    response = export_response(FRAME, "customers", "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.body)).active
    cells = [sheet.cell(row=row, column=1) for row in range(2, 6)]
    assert [cell.data_type for cell in cells] == ["s", "s", "s", "s"]
    assert [cell.value for cell in cells] == [
        "'=cmd|' /C calc'!A0",
        "'@SUM(A1)",
        "'-2+3",
        "'+1",
    ]
    assert sheet.cell(row=2, column=2).value == -50
    assert sheet.cell(row=2, column=2).data_type == "n"


def test_export_leaves_frame_unchanged():
    export_response(FRAME, "customers", "csv")
    assert FRAME["company"].iloc[0] == "=cmd|' /C calc'!A0"
