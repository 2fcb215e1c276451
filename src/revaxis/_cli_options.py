"""Options shared by the report commands (`mrr`, `kpis`, `cohorts`,
`lifetimes`), declared once so their help text stays the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

ByOption = Annotated[
    str | None,
    typer.Option(
        help="Axis key, or several separated by commas to cross them (plan,country)."
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="First period (2024-03, 2024-Q1 or 2024). Default: the first "
        "period with MRR.",
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        help="Last period. Default: the report day's period while anyone "
        "pays, else the period of the latest invoice date or MRR change."
    ),
]
CurrencyOption = Annotated[
    str | None,
    typer.Option(
        help="Reporting currency (ISO 4217). Default: $REVAXIS_CURRENCY, else the "
        "workspace setting (USD unless changed)."
    ),
]
FilterOption = Annotated[
    str | None,
    typer.Option(
        "--filter",
        help="Keep the lines whose axis values match, e.g. \"plan = 'Pro' and "
        "country in ('FR', 'DE')\"; MRR moving into or out of the filter is a "
        "transfer.",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Report day (YYYY-MM-DD): changes after it are left out. Default: today.",
    ),
]
