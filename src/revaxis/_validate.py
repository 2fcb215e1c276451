"""Validation of canonical tables before they are written: types, required
fields, allowed values and consistency, with one Problem per bad value.

Each frame carries a `_line` column: the line number of the row in its source
file (1 is the header), so problems can point at it.
"""

from __future__ import annotations

import functools

import pandas as pd
import pycountry

from revaxis._errors import Problem
from revaxis._schema import INTERVAL_UNITS, KINDS, STATUSES, TABLES, TableSpec

METADATA_PREFIX = "metadata."
LINE = "_line"


@functools.cache
def known_currency_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


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


def check_frame(
    name: str, frame: pd.DataFrame, file: str, *, check_duplicates: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Validate and type one canonical table.

    Returns the typed rows that passed, the metadata rows (entity, entity_id,
    key, value and the source `_line`) taken from `metadata.<key>` columns, and
    the problems found. With `check_duplicates=False`, rows that repeat a key are
    neither checked nor merged, for a caller that checks keys across several
    frames itself.
    """
    spec = TABLES[name]
    frame = frame.copy()
    if LINE not in frame:
        frame[LINE] = range(2, len(frame) + 2)
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        problem = Problem(
            file,
            1,
            None,
            None,
            f"missing required column(s) {', '.join(missing)}; the header must "
            f"name them (expected columns: {', '.join(spec.columns)})",
        )
        return frame.iloc[0:0], pd.DataFrame(), [problem]

    checker = FrameChecker(spec, frame, file)
    out = pd.DataFrame(index=frame.index)
    for column, sql_type in spec.columns.items():
        if column not in frame:
            default = spec.defaults.get(column)
            out[column] = default
            continue
        if sql_type == "DATE":
            out[column] = checker.date(column)
        elif sql_type in ("DOUBLE", "BIGINT"):
            out[column] = checker.number(column)
        else:
            out[column] = checker.text(column)
        if column in spec.defaults:
            out[column] = out[column].where(out[column].notna(), spec.defaults[column])
    for column in spec.required:
        if column in spec.may_be_empty:
            continue
        checker.report(
            _blank(frame[column]) & ~checker.bad,
            column,
            "missing value in a required field",
        )
    _check_rules(name, out, checker)

    key = list(spec.key)
    if check_duplicates:
        _check_duplicates(out, key, list(spec.columns), checker)
        out = out[~checker.bad].drop_duplicates(key)
    else:
        out = out[~checker.bad].copy()
    out[LINE] = frame.loc[out.index, LINE]

    meta = pd.DataFrame(columns=["entity", "entity_id", "key", "value", LINE])
    if spec.metadata_entity is not None:
        meta_cols = [c for c in frame.columns if c.startswith(METADATA_PREFIX)]
        if meta_cols:
            kept = frame.loc[out.index, [key[0], LINE, *meta_cols]]
            long = kept.melt(id_vars=[key[0], LINE], var_name="key", value_name="value")
            long["key"] = long["key"].str.slice(len(METADATA_PREFIX))
            long = long.dropna(subset=["value"])
            long["value"] = long["value"].astype("string").str.strip()
            long = long[long["value"] != ""]
            meta = pd.DataFrame(
                {
                    "entity": spec.metadata_entity,
                    "entity_id": long[key[0]].astype("string").str.strip(),
                    "key": long["key"],
                    "value": long["value"],
                    LINE: long[LINE],
                }
            )
    return out, meta, checker.problems


def _check_duplicates(
    out: pd.DataFrame, key: list[str], columns: list[str], checker: FrameChecker
) -> None:
    """Report every row whose key appears again with other content."""
    comparable = out[columns].astype("string").fillna("\0")
    dup_key = out.duplicated(key, keep=False)
    if dup_key.any():
        distinct = comparable[dup_key].drop_duplicates()
        clash = distinct.duplicated(key, keep=False)
        clashing_keys = distinct[clash][key].drop_duplicates()
        if not clashing_keys.empty:
            merged = comparable.reset_index().merge(clashing_keys, on=key)["index"]
            mask = out.index.isin(merged)
            checker.report(
                pd.Series(mask, index=out.index),
                key[-1],
                f"the same {'/'.join(key)} appears again with other content; "
                "keep one row per id",
            )


def _check_rules(name: str, out: pd.DataFrame, checker: FrameChecker) -> None:
    if name == "invoice_lines":
        cur = out["currency"].str.upper()
        out["currency"] = cur
        checker.report(
            cur.notna() & ~cur.isin(known_currency_codes()),
            "currency",
            "unknown currency; use an ISO 4217 code such as USD or EUR",
        )
        kind = out["kind"].str.lower()
        out["kind"] = kind
        checker.report(
            ~kind.isin(KINDS), "kind", f"unknown kind; use one of {', '.join(KINDS)}"
        )
        status = out["status"].str.lower()
        out["status"] = status
        checker.report(
            ~status.isin(STATUSES),
            "status",
            f"unknown status; use one of {', '.join(STATUSES)}",
        )
        start, end = out["service_period_start"], out["service_period_end"]
        both = start.notna() & end.notna()
        backwards = both & (
            pd.to_datetime(end, errors="coerce")
            < pd.to_datetime(start, errors="coerce")
        )
        checker.report(
            backwards,
            "service_period_end",
            "service period ends before it starts; swap the dates or fix the end",
        )
        recurring = kind.isin(["subscription", "usage"])
        # Empty in the source, so that an invalid date is reported only once.
        raw = checker.frame
        one_sided = recurring & (
            _blank(raw["service_period_start"]) != _blank(raw["service_period_end"])
        )
        checker.report(
            one_sided,
            "service_period_end",
            "a recurring line needs both service_period_start and "
            "service_period_end, or neither (then its plan's interval applies)",
        )
        out["invoice_date"] = out["invoice_date"].where(
            out["invoice_date"].notna(), start
        )
    elif name == "plans":
        unit = out["interval_unit"].str.lower()
        out["interval_unit"] = unit
        checker.report(
            ~unit.isin(INTERVAL_UNITS),
            "interval_unit",
            f"unknown interval unit; use one of {', '.join(INTERVAL_UNITS)}",
        )
        count = out["interval_count"]
        checker.report(
            count.notna() & ((count < 1) | (count != count.round())),
            "interval_count",
            "interval_count must be a whole number of at least 1",
        )
    elif name in ("fx_rates",):
        out["currency"] = out["currency"].str.upper()
        checker.report(
            out["rate"].notna() & (out["rate"] <= 0),
            "rate",
            "a rate must be above zero (units of the currency per one unit of the "
            "base currency)",
        )
    elif name == "marketing_spend":
        out["currency"] = out["currency"].str.upper()
