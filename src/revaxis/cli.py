"""The `revaxis` command line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from revaxis._errors import ImportRejected, PeriodError, RevaxisError, WorkspaceError
from revaxis.workspace import SETTINGS, Workspace, default_path

app = typer.Typer(
    help="Subscription revenue analytics: exact MRR movements, churn and retention "
    "by analytical axes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
axes_app = typer.Typer(
    help="Manage the analytical axes: create, delete, set values, label rules.",
    no_args_is_help=True,
)
settings_app = typer.Typer(
    help="Show and change workspace settings.", no_args_is_help=True
)
app.add_typer(axes_app, name="axes")
app.add_typer(settings_app, name="settings")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class IntervalOption(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


class ImportFormat(StrEnum):
    csv = "csv"
    periods = "periods"
    mapped = "mapped"
    stripe_json = "stripe-json"


_state: dict[str, Path] = {}


@app.callback()
def main_options(
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="Workspace file (DuckDB). Default: $REVAXIS_DB, else "
            "./revaxis.duckdb.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")
    ] = False,
) -> None:
    _state["db"] = db if db is not None else default_path()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _workspace(create: bool = False) -> Workspace:
    """Open the workspace of --db; only commands that write data create it."""
    path = _state.get("db", default_path())
    if not create and not path.exists():
        raise WorkspaceError(
            f"Workspace {path} not found. Create one with `revaxis demo` or "
            "`revaxis import PATH`, or point --db (or REVAXIS_DB) at an existing "
            "workspace file."
        )
    return Workspace(path)


def _print_frame(frame: pd.DataFrame, fmt: OutputFormat, title: str) -> None:
    if fmt is OutputFormat.csv:
        sys.stdout.write(frame.to_csv(index=False))
        return
    if fmt is OutputFormat.json:
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append(f"{value:,.2f}")
            elif isinstance(value, int):
                cells.append(f"{value:,}")
            elif value is None or (not isinstance(value, str) and pd.isna(value)):
                cells.append("")
            else:
                cells.append(escape(str(value)))
        rows.append(cells)
        table.add_row(*cells)
    # Wide enough for every cell, so that a narrow terminal or a pipe never
    # truncates a number.
    widths = [
        max([len(str(column)), *(len(r[i]) for r in rows)])
        for i, column in enumerate(frame.columns)
    ]
    Console(width=max(80, sum(widths) + 3 * len(widths) + 1)).print(table)


def parse_day(text: str | None, option: str) -> dt.date | None:
    """Parse a day given on the command line; None stays None."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(
            f"Invalid {option} {text!r}: write a day as YYYY-MM-DD."
        ) from None


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False)
    raise typer.Exit(code=2)


@app.command()
def demo(
    customers: Annotated[
        int, typer.Option(min=1, help="Number of customers to generate.")
    ] = 1000,
    months: Annotated[
        int, typer.Option(min=1, help="Months of history, ending this month.")
    ] = 36,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same data.")
    ] = 42,
) -> None:
    """Write a realistic generated SaaS billing history into the workspace."""
    from revaxis.demo import generate_demo

    tables = generate_demo(customers=customers, months=months, seed=seed)
    try:
        with _workspace(create=True) as ws:
            report = ws.load(tables, source=f"demo(seed={seed})", format="demo")
    except RevaxisError as exc:
        _fail(exc)
    out.print(report.summary())


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A folder (csv format) or a file.")],
    format: Annotated[
        ImportFormat | None,
        typer.Option(
            "--format",
            help="csv: a folder of canonical CSV files (default for a folder); "
            "periods: a subscription-periods CSV; mapped: any CSV or Excel export "
            "read through --mapping; stripe-json: a JSON file of Stripe objects.",
        ),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            help="TOML mapping file for --format mapped, or the name of a shipped "
            "mapping such as 'displayr'."
        ),
    ] = None,
) -> None:
    """Import billing data into the workspace; a failed import changes nothing."""
    try:
        with _workspace(create=True) as ws:
            report = ws.import_path(
                path,
                format=format.value if format else None,
                mapping=mapping,
                progress=sys.stderr.isatty(),
            )
    except ImportRejected as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False)
        raise typer.Exit(code=1) from None
    except RevaxisError as exc:
        _fail(exc)
    out.print(report.summary())


@axes_app.command("list")
def axes_list(
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Axes with their level, source, number of values and coverage: the share of
    paying customers and of MRR that have a value, at the end of the latest period.
    The table format then lists the metadata keys that no axis reads yet."""
    try:
        with _workspace() as ws:
            frame = ws.axes()
            candidates = ws.metadata_candidates()
    except RevaxisError as exc:
        _fail(exc)
    _print_frame(frame, format, "Axes")
    if format is OutputFormat.table and not candidates.empty:
        _print_frame(
            candidates,
            format,
            "Metadata keys without an axis (use one with axes create --source)",
        )


# Registers the create, delete, set, import, rules and preview commands on
# `axes_app`, after `axes list`.
from revaxis import _cli_axes  # noqa: E402, F401


@settings_app.command("show")
def settings_show() -> None:
    """Print every setting with its value and what it sets."""
    try:
        with _workspace() as ws:
            values = ws.settings
    except RevaxisError as exc:
        _fail(exc)
    frame = pd.DataFrame(
        [
            {"key": key, "value": values[key] or "", "meaning": spec.help}
            for key, spec in SETTINGS.items()
        ]
    )
    _print_frame(frame, OutputFormat.table, "Settings")


@settings_app.command("set")
def settings_set(
    key: Annotated[str, typer.Argument(help=f"One of: {', '.join(SETTINGS)}.")],
    value: Annotated[
        str, typer.Argument(help="New value; an empty string restores the default.")
    ],
) -> None:
    """Change a workspace setting."""
    try:
        with _workspace(create=True) as ws:
            ws.set_setting(key, value)
            shown = ws.settings[key]
    except RevaxisError as exc:
        _fail(exc)
    out.print(f"{key} = {shown}")


def main() -> None:
    app()


# Registers the mrr, kpis, cohorts and lifetimes commands, the `sync` command
# group (`revaxis sync stripe`), `serve` and `users`, on `app`.
from revaxis import _cli_kpis, _cli_sync, _cli_web  # noqa: E402, F401
