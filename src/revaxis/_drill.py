"""Drill-down: the customers and movements behind one number of a report.

`Workspace.drill` lists, for one KPI, period and segment, the rows that make up
the number that `Workspace.mrr` or `Workspace.kpis` reports there:

- MRR, ARR and customer counts list each customer paying in the segment at the
  end of the period (or of the period before it, for the `_start` values),
  with their MRR then;
- movement amounts list each movement of that type in the period, with its day;
- customer counts of movements (new, reactivated, churned) list one row per
  customer;
- ARPA and the rates list the rows of their numerator, and report their
  denominator beside them.

The `contribution` column of the rows always sums to `Drill.total`, the
number clicked for amounts and counts, the numerator for ARPA and rates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from revaxis import _periods
from revaxis._errors import InputError

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

# Movement types whose amounts the MRR bridge adds (+1) or subtracts (-1).
_SIGNS = {
    "new": 1,
    "expansion": 1,
    "reactivation": 1,
    "contraction": -1,
    "churn": -1,
    "transfer_in": 1,
    "transfer_out": -1,
    "fx": 1,
}

# Each KPI that can be drilled, with what its rows are.
DRILL_KPIS: dict[str, str] = {
    "mrr": "customers paying at the period's end, with their MRR",
    "arr": "customers paying at the period's end, with 12 x their MRR",
    "mrr_start": "customers paying at the end of the previous period",
    "customers": "customers paying at the period's end, 1 each",
    "customers_start": "customers paying at the end of the previous period, 1 each",
    "arpa": "customers paying at the period's end; MRR / their number",
    "new": "new movements of the period",
    "expansion": "expansion movements of the period",
    "contraction": "contraction movements of the period",
    "churn": "churn movements of the period",
    "reactivation": "reactivation movements of the period",
    "transfer_in": "transfers into the segment during the period",
    "transfer_out": "transfers out of the segment during the period",
    "fx": "exchange-rate movements of the period",
    "net_new_mrr": "new, expansion and reactivation less contraction and churn",
    "new_customers": "customers with a new movement in the period, 1 each",
    "reactivated_customers": "customers with a reactivation in the period, 1 each",
    "churned_customers": "customers paying at the start and not at the end, 1 each",
    "customer_churn_rate": "churned customers / customers at the start",
    "gross_mrr_churn_rate": "churn and contraction / MRR at the start",
    "net_mrr_churn_rate": (
        "churn and contraction less expansion and reactivation / MRR at the start"
    ),
}

# Movement types of the KPIs that list movements, with their sign in the total.
_MOVEMENT_KPIS: dict[str, dict[str, int]] = {
    **{name: {name: 1} for name in _SIGNS},
    "net_new_mrr": {
        "new": 1,
        "expansion": 1,
        "reactivation": 1,
        "contraction": -1,
        "churn": -1,
    },
    "gross_mrr_churn_rate": {"churn": 1, "contraction": 1},
    "net_mrr_churn_rate": {
        "churn": 1,
        "contraction": 1,
        "expansion": -1,
        "reactivation": -1,
    },
}
_LEVEL_KPIS = {"mrr", "arr", "mrr_start", "customers", "customers_start", "arpa"}
_COUNT_KPIS = {"new_customers", "reactivated_customers"}
_CHURNED_KPIS = {"churned_customers", "customer_churn_rate"}

ROW_COLUMNS = [
    "customer_id",
    "name",
    "date",
    "movement",
    "amount",
    "contribution",
    "acquired_on",
    "tenure_days",
]


@dataclass(frozen=True)
class Drill:
    """The rows behind one number of a report.

    `rows` has these columns:
    - customer_id, name, then one column per axis;
    - date: the movement's day, or the last day of the period for MRR rows;
    - movement: the movement type, empty for MRR rows;
    - amount: the MRR or the movement, with churn and contraction positive;
    - contribution: what the row adds to `total`;
    - acquired_on: the day of the customer's new movement;
    - tenure_days: days from acquired_on to date.
    """

    kpi: str
    period: str
    interval: str
    segment: dict[str, str]
    rows: pd.DataFrame
    # Sum of rows.contribution: the KPI itself, or the numerator of a ratio.
    total: float
    # Denominator of ARPA and the rates, None for the other KPIs.
    denominator: float | None = None
    # The KPI: `total`, or total / denominator (None when that is 0).
    value: float | None = None


def drill(
    ws: Workspace,
    kpi: str,
    period: str,
    *,
    by: Sequence[str] = (),
    segment: Mapping[str, str] | Sequence[str] | None = None,
    interval: str = "month",
    currency: str | None = None,
    as_of: dt.date | None = None,
    filter: str | None = None,
) -> Drill:
    """List the customers and movements behind `kpi` in `period` and `segment`."""
    if kpi not in DRILL_KPIS:
        raise InputError(
            f"Invalid KPI {kpi!r} for a drill-down: use one of {', '.join(DRILL_KPIS)}."
        )
    keys = list(by)
    values = _segment_values(keys, segment)
    unit = _periods.check_interval(interval)
    start = _periods.parse_label(period, unit)
    end = _periods.next_start(start, unit)
    previous = _periods.period_start(start - dt.timedelta(days=1), unit)
    options = {"currency": currency, "as_of": as_of}

    denominator: float | None = None
    if kpi in _LEVEL_KPIS:
        at = previous if kpi.endswith("_start") else start
        rows = _paying_rows(ws, keys, values, at, unit, filter, options)
        acquired = rows.groupby("customer_id")["acquired_on"].min()
        rows["contribution"] = {
            "arr": rows["amount"] * 12,
            "customers": 1.0,
            "customers_start": 1.0,
        }.get(kpi, rows["amount"])
        if kpi == "arpa":
            denominator = float(rows["customer_id"].nunique())
    else:
        all_moves = ws.movements(keys, filter=filter, **options)
        # Acquisition days and churn status are the customer's, over every
        # segment. Segments add up to the customer, but a filter drops the
        # lines outside it, so then the whole business is read once more.
        whole = ws.movements(**options) if filter else all_moves
        acquired = whole[whole["new"] > 0].groupby("customer_id")["date"].min()
        moves = _select(all_moves, keys, values)
        moves = moves[(moves["date"] >= start) & (moves["date"] < end)]
        if kpi in _MOVEMENT_KPIS:
            rows = _movement_rows(moves, _MOVEMENT_KPIS[kpi])
        elif kpi in _COUNT_KPIS:
            movement = "new" if kpi == "new_customers" else "reactivation"
            rows = _customer_rows(moves[moves[movement] > 0], movement)
        else:
            churned = _churned_days(whole, start, end)
            rows = _churned_rows(moves, churned)
        if kpi == "customer_churn_rate":
            base = _paying_rows(ws, keys, values, previous, unit, filter, options)
            denominator = float(len(base))
        elif kpi in ("gross_mrr_churn_rate", "net_mrr_churn_rate"):
            base = _paying_rows(ws, keys, values, previous, unit, filter, options)
            denominator = round(float(base["amount"].sum()), 2)

    rows = _finish(ws, rows, keys, acquired)
    total = round(float(rows["contribution"].sum()), 2)
    if denominator is None:
        value: float | None = total
    else:
        value = total / denominator if denominator else None
    return Drill(
        kpi=kpi,
        period=_periods.label(start, unit),
        interval=unit,
        segment=dict(zip(keys, values or [], strict=True)),
        rows=rows,
        total=total,
        denominator=denominator,
        value=value,
    )


def _segment_values(
    keys: list[str], segment: Mapping[str, str] | Sequence[str] | None
) -> list[str] | None:
    """Return the segment's value for each axis in `keys`, or None for the whole
    business (no axis)."""
    if not keys:
        if segment:
            raise InputError(
                "A segment was given without an axis: pass `by` with one axis "
                "key per segment value."
            )
        return None
    if isinstance(segment, Mapping):
        missing = [key for key in keys if key not in segment]
        if missing or len(segment) != len(keys):
            raise InputError(
                f"The segment {dict(segment)!r} does not match the axes "
                f"{', '.join(keys)}: give one value per axis."
            )
        return [str(segment[key]) for key in keys]
    values = [str(value) for value in segment or ()]
    if len(values) != len(keys):
        raise InputError(
            f"Expected {len(keys)} segment value(s), one per axis of "
            f"{', '.join(keys)}, and got {len(values)}."
        )
    return values


def _select(frame: pd.DataFrame, keys: list[str], values: list[str] | None):
    if values is None:
        return frame
    mask = pd.Series(True, index=frame.index)
    for key, value in zip(keys, values, strict=True):
        mask &= frame[key].astype(str) == value
    return frame[mask]


def _paying_rows(
    ws: Workspace,
    keys: list[str],
    values: list[str] | None,
    start: dt.date,
    unit: _periods.Interval,
    filter: str | None,
    options: dict[str, object],
) -> pd.DataFrame:
    """List the customers paying in the segment at the end of the period that
    starts on `start`, with `amount` their MRR then."""
    label = _periods.label(start, unit)
    levels = ws.customer_mrr(
        keys, start=label, end=label, interval=unit, filter=filter, **options
    )
    levels = _select(levels, keys, values)
    last_day = _periods.next_start(start, unit) - dt.timedelta(days=1)
    return pd.DataFrame(
        {
            "customer_id": levels["customer_id"],
            **{key: levels[key] for key in keys},
            "date": last_day,
            "movement": "",
            "amount": levels["mrr"],
            "acquired_on": levels["acquired_on"],
        }
    )


def _movement_rows(moves: pd.DataFrame, signs: dict[str, int]) -> pd.DataFrame:
    """Turn movement columns into one row per movement, with its signed
    contribution."""
    parts = []
    for movement, sign in signs.items():
        chosen = moves[moves[movement] != 0]
        part = chosen.drop(columns=list(_SIGNS)).assign(
            movement=movement,
            amount=chosen[movement],
            contribution=chosen[movement] * sign,
        )
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _customer_rows(moves: pd.DataFrame, movement: str) -> pd.DataFrame:
    """Return one row per customer and segment: the first day of the movement in
    the period and its total amount, contributing 1."""
    group = [c for c in moves.columns if c not in (*_SIGNS, "date")]
    rows = (
        moves.groupby(group, dropna=False, sort=False)
        .agg(date=("date", "min"), amount=(movement, "sum"))
        .reset_index()
    )
    return rows.assign(movement=movement, contribution=1.0)


def _churned_days(whole: pd.DataFrame, start: dt.date, end: dt.date) -> pd.Series:
    """Return, for each customer paying at `start` and not at the end of the day
    before `end`, the last day in between on which they stopped paying."""
    net = sum(whole[name] * sign for name, sign in _SIGNS.items())
    mrr_start = net[whole["date"] < start].groupby(whole["customer_id"]).sum()
    mrr_end = net[whole["date"] < end].groupby(whole["customer_id"]).sum()
    inside = whole[
        (whole["date"] >= start) & (whole["date"] < end) & (whole["churn"] > 0)
    ]
    last_churn = inside.groupby("customer_id")["date"].max()
    # Amounts are whole cents, so a rounded sum is exact.
    paying_start = mrr_start.round(2) > 0
    paying_end = mrr_end.round(2).reindex(mrr_start.index, fill_value=0) > 0
    left = paying_start & ~paying_end
    churned = left[left].index
    return last_churn[last_churn.index.isin(churned)]


def _churned_rows(moves: pd.DataFrame, churned: pd.Series) -> pd.DataFrame:
    """Return one row per churned customer and segment they left on their last
    churn day, contributing 1."""
    day = moves["customer_id"].map(churned)
    chosen = moves[(moves["date"] == day) & (moves["churn"] > 0)]
    return chosen.drop(columns=list(_SIGNS)).assign(
        movement="churn", amount=chosen["churn"], contribution=1.0
    )


def _finish(
    ws: Workspace, rows: pd.DataFrame, keys: list[str], acquired: pd.Series
) -> pd.DataFrame:
    """Add names, acquisition days and tenure, and order the columns."""
    columns = ["customer_id", "name", *keys, *ROW_COLUMNS[2:]]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    customers = ws.table("customers").select("customer_id", "name").execute()
    names = customers.set_index("customer_id")["name"]
    rows = rows.copy()
    rows["name"] = rows["customer_id"].map(names).fillna("")
    rows["acquired_on"] = rows["customer_id"].map(acquired)
    tenure = pd.to_datetime(rows["date"]) - pd.to_datetime(rows["acquired_on"])
    rows["tenure_days"] = tenure.dt.days.astype("Int64")
    # Amounts are whole cents, but ARR (12 x MRR) and sums of floats carry
    # noise such as 399.96000000000004; round it off.
    for column in ("amount", "contribution"):
        rows[column] = (rows[column].astype(float) * 100).round() / 100
    rows = rows.sort_values(
        ["contribution", "customer_id", "date"],
        ascending=[False, True, True],
        kind="stable",
    )
    return rows[columns].reset_index(drop=True)
