"""The `periods` import format: one CSV of subscription periods (customer,
start, end, monthly amount), turned into customers and monthly invoice lines.

The periods file is checked here with pandas, then its customers and lines go
through the same validation and staging as the canonical tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from revaxis import _engine
from revaxis._errors import Problem
from revaxis._readers import CsvFile, ProgressBar
from revaxis._schema import TABLES, TableSpec
from revaxis._staging import Target
from revaxis._validate import LINE, known_currency_codes

if TYPE_CHECKING:
    from revaxis._importers import _Run
    from revaxis.workspace import Workspace

PERIOD_REQUIRED = ("customer_id", "start_date", "end_date", "monthly_amount")
PERIOD_OPTIONAL = ("subscription_id", "currency")


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.strip() == "")


class FrameChecker:
    """Collects the problems of one frame of a canonical table."""

    def __init__(self, spec: TableSpec, frame: pd.DataFrame, file: str) -> None:
        self.spec = spec
        self.frame = frame
        self.file = file
        self.problems: list[Problem] = []
        self.bad = pd.Series(False, index=frame.index)

    def report(self, mask: pd.Series, column: str, reason: str) -> None:
        for idx in mask[mask].index:
            raw = self.frame.at[idx, column] if column in self.frame else None
            value = None if raw is None or pd.isna(raw) else str(raw)
            self.problems.append(
                Problem(self.file, int(self.frame.at[idx, LINE]), column, value, reason)
            )
        self.bad |= mask

    def text(self, column: str) -> pd.Series:
        series = self.frame[column].astype("string").str.strip()
        return series.mask(series == "")

    def date(self, column: str) -> pd.Series:
        raw = self.text(column)
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        self.report(
            raw.notna() & parsed.isna(),
            column,
            "invalid date; write dates as YYYY-MM-DD",
        )
        return parsed.dt.date.astype("object").where(parsed.notna(), None)

    def number(self, column: str) -> pd.Series:
        raw = self.text(column)
        parsed = pd.to_numeric(raw, errors="coerce")
        self.report(
            raw.notna() & parsed.isna(),
            column,
            "invalid number; write amounts with a dot for decimals and no "
            "thousands separator",
        )
        return parsed.astype("float64")


# Subscription periods -------------------------------------------------------


def import_periods(run: _Run, path: Path, progress: bool) -> None:
    file = path.name
    csv = CsvFile(path)
    header = run.read_header(csv, file)
    if header is None:
        return
    missing = [c for c in PERIOD_REQUIRED if c not in header]
    if missing:
        run.problem(
            file,
            1,
            f"missing required column(s) {', '.join(missing)}; a periods file has "
            f"the columns {', '.join(PERIOD_REQUIRED)} and optionally "
            f"{', '.join(PERIOD_OPTIONAL)}",
        )
        return
    currency = str(run.ws.settings["currency"])
    customers = Target("customers", file, conflicts="last", write="missing")
    lines = Target(
        "invoice_lines",
        file,
        fields={
            "invoice_id": "customer_id/subscription_id/start_date/end_date",
            "service_period_start": "start_date",
            "service_period_end": "end_date",
            "amount": "monthly_amount",
        },
        key_shown="invoice_id",
        duplicate_reason=(
            "another period with the same customer_id, subscription_id and dates "
            "has another monthly_amount or currency on line(s) {others}; give the "
            "two periods different subscription_id values"
        ),
    )
    with ProgressBar(progress, path.stat().st_size, "bytes") as bar:
        for chunk in run.csv_chunks(csv, file, lambda n: bar.update(n, file)):
            periods = _check_periods(run, chunk.to_pandas(), file, currency)
            ids = periods[["customer_id", LINE]]
            run.stage(customers, ids.drop_duplicates("customer_id", keep="last"))
            for batch in _period_lines(run.ws, periods, run.chunk_size):
                run.stage(lines, batch)


def _check_periods(
    run: _Run, chunk: pd.DataFrame, file: str, currency: str
) -> pd.DataFrame:
    """Check one chunk of periods: add its problems to `run` and return the typed
    periods that pass."""
    checker = FrameChecker(TABLES["invoice_lines"], chunk, file)
    customer = checker.text("customer_id")
    start = pd.to_datetime(checker.date("start_date"))
    end = pd.to_datetime(checker.date("end_date"))
    amount = checker.number("monthly_amount")

    for column in PERIOD_REQUIRED:
        checker.report(
            _blank(chunk[column]) & ~checker.bad,
            column,
            "missing value in a required field",
        )
    checker.report(
        start.notna() & end.notna() & (end < start),
        "end_date",
        "the period ends before it starts; swap the dates or fix end_date",
    )

    if "currency" in chunk:
        codes = checker.text("currency").str.upper().fillna(currency)
        checker.report(
            ~codes.isin(known_currency_codes()),
            "currency",
            "unknown currency; use an ISO 4217 code such as USD or EUR",
        )
    else:
        codes = pd.Series(currency, index=chunk.index)
    if "subscription_id" in chunk:
        subscription = checker.text("subscription_id")
    else:
        subscription = pd.Series(pd.NA, index=chunk.index, dtype="string")

    run.problems.extend(checker.problems)
    good = ~checker.bad
    return pd.DataFrame(
        {
            "customer_id": customer[good],
            "subscription_id": subscription[good],
            "currency": codes[good],
            "start": start[good],
            "end": end[good],
            "monthly_amount": amount[good],
            LINE: chunk.loc[good, LINE],
        }
    )


def _add_months(day: pd.Series, months: np.ndarray) -> pd.Series:
    """`day` plus whole calendar months, on the same day of the month or on the
    last day of a shorter month (31 January + 1 month = 28 or 29 February)."""
    index = day.dt.year.to_numpy() * 12 + day.dt.month.to_numpy() - 1 + months
    first = pd.to_datetime(
        pd.DataFrame({"year": index // 12, "month": index % 12 + 1, "day": 1})
    )
    last_day = first.dt.days_in_month.to_numpy()
    offset = np.minimum(day.dt.day.to_numpy(), last_day) - 1
    return (first + pd.to_timedelta(offset, unit="D")).set_axis(day.index)


def _months_by_engine(ws: Workspace, start: pd.Series, end: pd.Series) -> np.ndarray:
    """Length of each [start, end) in months, computed by the engine's own
    `months_between`, so that a line's MRR is exactly its monthly amount."""
    frame = pd.DataFrame(
        {
            "position": np.arange(len(start)),
            "start": start.to_numpy(),
            "end": end.to_numpy(),
        }
    )
    table = ibis.memtable(frame)
    months = _engine.months_between(table.start.cast("date"), table.end.cast("date"))
    expr = table.select("position", months=months).order_by("position")
    return ws.con.execute(expr)["months"].to_numpy(dtype="float64")


def _period_lines(
    ws: Workspace, periods: pd.DataFrame, max_rows: int
) -> Iterator[pd.DataFrame]:
    """Invoice lines of subscription periods, in frames of at most `max_rows`
    lines (or one period's lines when a period alone has more).

    A period [start, end) becomes one line per month from its start: the k-th
    line covers [start + k months, start + k + 1 months), the last one cut at
    end. Each line's amount is monthly_amount x its length in months by the
    engine's rule, so the line's MRR is monthly_amount on every day.
    """
    if periods.empty:
        return
    start, end = periods["start"], periods["end"]
    whole = (end.dt.year - start.dt.year).to_numpy() * 12 + (
        end.dt.month - start.dt.month
    ).to_numpy()
    counts = whole + (_add_months(start, whole) < end).to_numpy()
    counts = np.where(end > start, counts, 0)
    cumulative = np.cumsum(counts)
    first = 0
    while first < len(periods):
        before = cumulative[first] - counts[first]
        stop = int(np.searchsorted(cumulative, before + max_rows, side="right"))
        stop = max(stop, first + 1)
        yield _expand_periods(ws, periods.iloc[first:stop], counts[first:stop])
        first = stop


def _expand_periods(
    ws: Workspace, periods: pd.DataFrame, counts: np.ndarray
) -> pd.DataFrame:
    # One row per line: the period's row repeated, and the line's position k.
    rows = periods.iloc[np.repeat(np.arange(len(periods)), counts)]
    rows = rows.reset_index(drop=True)
    offsets = np.arange(int(counts.sum())) - np.repeat(
        np.cumsum(counts) - counts, counts
    )

    piece_start = _add_months(rows["start"], offsets)
    next_start = _add_months(rows["start"], offsets + 1)
    piece_end = next_start.where(next_start < rows["end"], rows["end"])
    months = _months_by_engine(ws, piece_start, piece_end)
    amount = rows["monthly_amount"].to_numpy() * months

    # Ids that name the period and the line's first day.
    period_start = rows["start"].dt.strftime("%Y-%m-%d")
    period_end = rows["end"].dt.strftime("%Y-%m-%d")
    subscription = rows["subscription_id"].fillna("")
    invoice_id = (
        rows["customer_id"] + "/" + subscription + "/" + period_start + "/" + period_end
    )
    line_start = piece_start.dt.strftime("%Y-%m-%d")

    return pd.DataFrame(
        {
            "invoice_id": invoice_id,
            "line_id": line_start,
            "customer_id": rows["customer_id"],
            "invoice_date": line_start,
            "currency": rows["currency"],
            "kind": "subscription",
            "subscription_id": rows["subscription_id"].fillna(""),
            "service_period_start": line_start,
            "service_period_end": piece_end.dt.strftime("%Y-%m-%d"),
            "amount": [repr(float(a)) for a in amount],
            "status": "paid",
            LINE: rows[LINE],
        }
    ).reset_index(drop=True)
