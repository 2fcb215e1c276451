"""The report commands `revaxis mrr`, `kpis`, `cohorts` and `lifetimes`.

`revaxis.cli` imports this module at its end, so the commands register on its
`app`.
"""

from __future__ import annotations

import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from revaxis._cli_options import (
    AsOfOption,
    ByOption,
    CurrencyOption,
    FilterOption,
    FromOption,
    ToOption,
)
from revaxis._cohorts import retention_matrix
from revaxis._errors import RevaxisError
from revaxis._kpis import COUNT_COLUMNS, RATE_COLUMNS, split_axes
from revaxis.cli import (
    IntervalOption,
    OutputFormat,
    _fail,
    _print_frame,
    _workspace,
    app,
    err,
    parse_day,
)


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


FormatOption = Annotated[
    ReportFormat,
    typer.Option(
        "--format",
        help="Output format: table, csv or json on stdout, or xlsx written to "
        "--output.",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        help="File to write instead of stdout; required with --format xlsx.",
        dir_okay=False,
    ),
]

# Columns that the table format prints as percentages or as whole counts;
# other numbers print with two decimals.
_PERCENT_COLUMNS = {
    *RATE_COLUMNS,
    "logo_retention",
    "net_mrr_retention",
    "survival",
    "ci_lower",
    "ci_upper",
}
_COUNT_COLUMNS = {*COUNT_COLUMNS, "age", "customers_retained", "churned"}


def _cell(column: str, value: object) -> str:
    """Text of one table cell: rates as percentages, money with cents, counts
    with thousands separators, null as an empty cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    # Columns named by a number are the ages of the cohort matrix.
    if column in _PERCENT_COLUMNS or column.isdigit():
        return f"{float(value):.1%}"
    if column in _COUNT_COLUMNS:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _print_table(frame: pd.DataFrame, title: str, text_columns: int) -> None:
    """Print `frame` as a Rich table whose first `text_columns` columns are labels
    and the others numbers."""
    table = Table(title=title)
    for i, column in enumerate(frame.columns):
        table.add_column(
            str(column), justify="left" if i < text_columns else "right", no_wrap=True
        )
    rows = [
        [
            _cell(str(column), value)
            for column, value in zip(frame.columns, row, strict=True)
        ]
        for row in frame.itertuples(index=False)
    ]
    for cells in rows:
        table.add_row(*cells)
    # Wide enough for every cell, so that a narrow terminal or a pipe never
    # truncates a number.
    widths = [
        max([len(str(column)), *(len(cells[i]) for cells in rows)])
        for i, column in enumerate(frame.columns)
    ]
    Console(width=max(80, sum(widths) + 3 * len(widths) + 1)).print(table)


def _check_output(fmt: ReportFormat, output: Path | None) -> None:
    """Reject --format and --output combinations that cannot be written, before
    any computation."""
    if fmt is ReportFormat.xlsx and output is None:
        message = "--format xlsx writes a file: give its path with --output."
    elif fmt is ReportFormat.table and output is not None:
        message = "--output writes csv, json or xlsx: add --format csv, json or xlsx."
    else:
        return
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(code=2)


def _emit(
    frame: pd.DataFrame,
    fmt: ReportFormat,
    output: Path | None,
    title: str,
    sheet: str,
    table: tuple[pd.DataFrame, int] | None = None,
) -> None:
    """Write `frame` as csv, json or xlsx (one sheet named `sheet`), or print
    `table` (a display frame and its number of label columns) for the table
    format. `_check_output` has accepted `fmt` and `output`."""
    if fmt is ReportFormat.xlsx:
        frame.to_excel(output, index=False, sheet_name=sheet, engine="openpyxl")
        return
    if fmt is ReportFormat.table:
        display_frame, labels = table if table is not None else (frame, 0)
        _print_table(display_frame, title, labels)
        return
    if fmt is ReportFormat.csv:
        text = frame.to_csv(index=False)
    else:
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        text = json.dumps(records, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def _period_report(
    report: str,
    by: str | None,
    from_: str | None,
    to: str | None,
    interval: IntervalOption,
    currency: str | None,
    filter_: str | None,
    as_of: str | None,
) -> tuple[pd.DataFrame, str]:
    """Run `ws.mrr` or `ws.kpis`, which take the same options, and return the
    frame with the reporting currency."""
    try:
        with _workspace() as ws:
            frame = getattr(ws, report)(
                by=by,
                start=from_,
                end=to,
                interval=interval.value,
                currency=currency,
                filter=filter_,
                as_of=parse_day(as_of, "--as-of"),
            )
            return frame, ws.report_currency(currency)
    except RevaxisError as exc:
        _fail(exc)


@app.command()
def mrr(
    by: ByOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    interval: Annotated[
        IntervalOption, typer.Option(help="Length of a period.")
    ] = IntervalOption.month,
    currency: CurrencyOption = None,
    filter_: FilterOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = ReportFormat.table,
    output: OutputOption = None,
) -> None:
    """MRR bridge per period: MRR at start and end, movements and customer counts.

    Amounts are in the reporting currency, rounded to cents; churn and
    contraction are positive numbers.
    """
    _check_output(format, output)
    frame, shown_currency = _period_report(
        "mrr", by, from_, to, interval, currency, filter_, as_of
    )
    title = f"MRR in {shown_currency}"
    if format is ReportFormat.table:
        _print_frame(frame, OutputFormat.table, title)
    else:
        _emit(frame, format, output, title, "mrr")


@app.command()
def kpis(
    by: ByOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    interval: Annotated[
        IntervalOption, typer.Option(help="Length of a period.")
    ] = IntervalOption.month,
    currency: CurrencyOption = None,
    filter_: FilterOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = ReportFormat.table,
    output: OutputOption = None,
) -> None:
    """KPIs per period: MRR, ARR, ARPA, churn rates, quick ratio, 12-month NRR and
    GRR, LTV, lifetime, CAC, LTV/CAC and payback.

    Rates are fractions (percentages in the table format), and an undefined value
    (zero denominator) is empty. CAC is empty under --filter. Definitions:
    docs/kpis.md.
    """
    _check_output(format, output)
    frame, shown_currency = _period_report(
        "kpis", by, from_, to, interval, currency, filter_, as_of
    )
    labels = 1 + len(split_axes(by))
    _emit(frame, format, output, f"KPIs in {shown_currency}", "kpis", (frame, labels))


@app.command()
def cohorts(
    by: ByOption = None,
    interval: Annotated[
        IntervalOption,
        typer.Option(help="Length of a cohort and of each age step."),
    ] = IntervalOption.month,
    currency: CurrencyOption = None,
    filter_: FilterOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = ReportFormat.table,
    output: OutputOption = None,
) -> None:
    """Retention of acquisition cohorts at each age: customers retained and net MRR
    retention, by the segment each customer had at acquisition.

    The table format prints the logo retention matrix (cohorts x ages); csv, json
    and xlsx give the long form with every column.
    """
    _check_output(format, output)
    try:
        with _workspace() as ws:
            frame = ws.cohorts(
                by=by,
                interval=interval.value,
                currency=currency,
                filter=filter_,
                as_of=parse_day(as_of, "--as-of"),
            )
    except RevaxisError as exc:
        _fail(exc)
    keys = split_axes(by)
    matrix = retention_matrix(frame, keys)
    title = f"Logo retention by acquisition {interval.value} and age"
    _emit(frame, format, output, title, "cohorts", (matrix, 1 + len(keys)))


@app.command()
def lifetimes(
    by: ByOption = None,
    curve: Annotated[
        bool,
        typer.Option(
            "--curve",
            help="Print the survival curve (months, survival and its 95 % "
            "confidence interval) in place of the medians.",
        ),
    ] = False,
    currency: CurrencyOption = None,
    filter_: FilterOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = ReportFormat.table,
    output: OutputOption = None,
) -> None:
    """Customer lifetimes from Kaplan-Meier survival curves, by the segment each
    customer had at acquisition: median months to first churn with its 95 %
    confidence interval (empty while the curve stays above 50 %)."""
    _check_output(format, output)
    try:
        with _workspace() as ws:
            frame = ws.lifetimes(
                by=by,
                curve=curve,
                currency=currency,
                filter=filter_,
                as_of=parse_day(as_of, "--as-of"),
            )
    except RevaxisError as exc:
        _fail(exc)
    title = "Survival curve" if curve else "Lifetimes in months"
    _emit(frame, format, output, title, "lifetimes", (frame, len(split_axes(by))))
