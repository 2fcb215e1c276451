"""Monthly MRR bridge by plan in pandas, from the rules in docs/metrics.md.

This is the pandas baseline that bench_mrr.py times the engine against. Like
the engine, it works on change events (one row where a customer's MRR
changes), with sorts, `groupby().cumsum()` for running values and
`groupby().shift()` for "before", and never builds a dense customer x day or
customer x month panel. Each step is named for the table it builds and
follows a common table expression of mrr_by_plan.sql.

Defaults only: grace_days 0, no delinquency_days, refunded lines counted.
Rates come from fx_rates stored against the reporting currency as their base.
The output has the columns of `revaxis mrr --by plan`, amounts in integer
cents.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

DAYS_PER_MONTH = 365.25 / 12
# A day without a published rate takes the last rate at most this many days
# before it.
MAX_RATE_AGE = pd.Timedelta(days=7)
NONE_LABEL = "(none)"
MOVEMENTS = [
    "new",
    "expansion",
    "contraction",
    "churn",
    "reactivation",
    "transfer_in",
    "transfer_out",
    "fx",
]
OUTPUT_COLUMNS = [
    "period",
    "plan",
    "mrr_start",
    *MOVEMENTS,
    "mrr_end",
    "customers_start",
    "customers_end",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
]


def round_half_away(values: np.ndarray | pd.Series) -> np.ndarray:
    """Round to whole numbers, halves away from zero (as DuckDB's round() does),
    where numpy's round() takes halves to the even neighbour."""
    values = np.asarray(values, dtype="float64")
    whole = np.trunc(values)
    fraction = values - whole
    return whole + np.where(np.abs(fraction) >= 0.5, np.sign(values), 0.0)


def read_tables(db_path: str) -> dict[str, pd.DataFrame]:
    """Read the tables the bridge needs from a workspace file, read-only."""
    with duckdb.connect(db_path, read_only=True) as con:
        return {
            name: con.execute(f'SELECT * FROM "{name}"').df()
            for name in ("invoice_lines", "subscriptions", "plans", "fx_rates")
        }


def _strip(text: pd.Series) -> pd.Series:
    """Trimmed text, with NaN for a value that is empty once trimmed."""
    trimmed = text.str.replace(r"^\s+|\s+$", "", regex=True)
    return trimmed.mask(trimmed == "")


def line_mrr(tables: dict[str, pd.DataFrame], currency: str) -> pd.DataFrame:
    """Compute the MRR of each counted line: one row per invoice line with its
    plan label, currency, effective period [start_day, end_day), `mrr_cents` in
    `currency` and `mrr_micros` in the line's own currency."""
    lines = tables["invoice_lines"]
    counted = (
        lines["kind"].isin(["subscription", "usage"])
        & lines["status"].notna()
        & (lines["status"] != "void")
        & (lines["service_period_end"] > lines["service_period_start"])
    )
    lines = lines.loc[counted]
    subs = tables["subscriptions"][["subscription_id", "plan_id", "ended_at"]]
    lines = lines.merge(
        subs.rename(columns={"plan_id": "sub_plan_id"}),
        on="subscription_id",
        how="left",
    )
    lines["plan_id"] = lines["plan_id"].fillna(lines["sub_plan_id"])

    amount, discount = lines["amount"], lines["discount"]
    net = np.where(amount >= 0, np.maximum(amount - discount, 0.0), amount - discount)
    start, end = lines["service_period_start"], lines["service_period_end"]
    # Whole calendar months when the end falls on the start's day of the
    # month (clamped to a shorter month's last day), else days / (365.25 / 12).
    whole = (end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)
    same_day = end.dt.day == np.minimum(start.dt.day, end.dt.days_in_month)
    days = (end - start).dt.days
    months = np.where(
        same_day & (whole > 0), whole.astype("float64"), days / DAYS_PER_MONTH
    )
    lines = lines.assign(net=net, months=months)

    lines = _add_rates(lines, tables["fx_rates"], currency)
    plans = tables["plans"][["plan_id", "name"]]
    lines = lines.merge(plans, on="plan_id", how="left")
    plan = _strip(lines["name"]).fillna(_strip(lines["plan_id"])).fillna(NONE_LABEL)

    ended_at = lines["ended_at"]
    end_day = lines["service_period_end"].where(
        ~(ended_at < lines["service_period_end"]), ended_at
    )
    monthly = lines["net"] / lines["months"]
    out = pd.DataFrame(
        {
            "customer_id": lines["customer_id"],
            "plan": plan,
            "currency": lines["currency"],
            "start_day": lines["service_period_start"],
            "end_day": end_day,
            "mrr_cents": round_half_away(monthly / lines["rate"] * 100).astype("int64"),
            "mrr_micros": round_half_away(monthly * 1_000_000).astype("int64"),
        }
    )
    return out.loc[out["end_day"] > out["start_day"]]


def _add_rates(
    lines: pd.DataFrame, fx_rates: pd.DataFrame, currency: str
) -> pd.DataFrame:
    """Add `rate`: units of the line's currency per one unit of `currency` on the
    service-period start day, or the last rate at most 7 days before it.

    Raises ValueError naming the currencies of lines without a rate."""
    rates = fx_rates.loc[fx_rates["base"] == currency, ["date", "currency", "rate"]]
    rates = rates.sort_values("date")
    lines = lines.sort_values("service_period_start")
    lines = pd.merge_asof(
        lines,
        rates,
        left_on="service_period_start",
        right_on="date",
        by="currency",
        tolerance=MAX_RATE_AGE,
        direction="backward",
    )
    lines.loc[lines["currency"] == currency, "rate"] = 1.0
    missing = lines.loc[lines["rate"].isna(), "currency"].unique()
    if len(missing):
        raise ValueError(
            f"No rate against {currency} within 7 days before the service-period "
            f"start of some lines in {', '.join(sorted(missing))}: import "
            f"fx_rates with base {currency}."
        )
    return lines.drop(columns=["date"])


def events(lm: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Net the lines' starts and ends into change events: one row per customer,
    plan, currency and day up to `as_of` on which MRR changes, with the net
    change `d_cents` and `d_micros`."""
    keys = ["customer_id", "plan", "currency"]
    starts = lm[keys].assign(
        day=lm["start_day"], d_cents=lm["mrr_cents"], d_micros=lm["mrr_micros"]
    )
    ends = lm[keys].assign(
        day=lm["end_day"], d_cents=-lm["mrr_cents"], d_micros=-lm["mrr_micros"]
    )
    both = pd.concat([starts, ends], ignore_index=True)
    both = both.loc[both["day"] <= pd.Timestamp(as_of)]
    ev = both.groupby([*keys, "day"], as_index=False, sort=True)[
        ["d_cents", "d_micros"]
    ].sum()
    return ev.loc[(ev["d_cents"] != 0) | (ev["d_micros"] != 0)].reset_index(drop=True)


def customer_states(ev: pd.DataFrame) -> pd.DataFrame:
    """Classify each customer's change days: one row per customer and change day
    with MRR before (`m0`) and after (`m1`), floored at zero, and the type of
    the change (`kind`)."""
    days = ev.groupby(["customer_id", "day"], as_index=False, sort=True)[
        "d_cents"
    ].sum()
    by_customer = days.groupby("customer_id", sort=False)
    raw1 = by_customer["d_cents"].cumsum()
    # Paid before: any earlier change day of the customer ended above zero.
    ever_paid = (raw1 > 0).groupby(days["customer_id"], sort=False).cummax()
    paid_before = ever_paid.groupby(days["customer_id"], sort=False).shift(
        1, fill_value=False
    )
    m0 = (raw1 - days["d_cents"]).clip(lower=0)
    m1 = raw1.clip(lower=0)
    kind = np.select(
        [
            (m0 == 0) & (m1 > 0) & ~paid_before.astype(bool),
            (m0 == 0) & (m1 > 0),
            (m0 > 0) & (m1 == 0),
            (m0 > 0) & (m1 > 0),
        ],
        ["new", "reactivation", "churn", "change"],
        default="none",
    )
    return days[["customer_id", "day"]].assign(m0=m0, m1=m1, kind=kind)


def currency_fx(ev: pd.DataFrame, states: pd.DataFrame) -> pd.DataFrame:
    """Compute the fx movement of each currency: one row per customer, currency
    and change day with a non-zero fx. The fx is the old amount (l0 micros)
    revalued at the rate of the lines in force after the change (v1 cents / l1
    micros), minus its old value."""
    keys = ["customer_id", "currency"]
    per_currency = ev.groupby([*keys, "day"], as_index=False, sort=True)[
        ["d_cents", "d_micros"]
    ].sum()
    running = per_currency.groupby(keys, sort=False)
    v1 = running["d_cents"].cumsum()
    l1 = running["d_micros"].cumsum()
    per_currency = per_currency.assign(
        v1=v1, l1=l1, v0=v1 - per_currency["d_cents"], l0=l1 - per_currency["d_micros"]
    )
    joined = per_currency.merge(states, on=["customer_id", "day"], how="inner")
    counted = (joined["kind"] == "change") & (joined["l0"] > 0) & (joined["l1"] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        revalued = round_half_away(
            joined["l0"].astype("float64") * joined["v1"] / joined["l1"]
        )
    fx = np.where(counted, revalued - joined["v0"], 0).astype("int64")
    out = joined[["customer_id", "currency", "day"]].assign(fx=fx)
    return out.loc[out["fx"] != 0]


def _telescoping_share(
    total: pd.Series, weight: pd.Series, weight_sum: pd.Series, cumulative: pd.Series
) -> np.ndarray:
    """Integer shares of `total` in proportion to `weight` that add up to exactly
    `total`: each row takes round(total x cumulative / sum) less the same for
    the rows before it."""
    upto = round_half_away(total * (cumulative / weight_sum))
    before = round_half_away(total * ((cumulative - weight) / weight_sum))
    return (upto - before).astype("int64")


def segment_fx(ev: pd.DataFrame, cur_fx: pd.DataFrame) -> pd.DataFrame:
    """Share each currency's fx between the plans whose lines in it changed that
    day, in proportion to their value before the change (after it when none had
    one). Returns one row per customer, plan and day with an fx share."""
    v1 = ev.groupby(["customer_id", "plan", "currency"], sort=False)["d_cents"].cumsum()
    sc = ev[["customer_id", "plan", "currency", "day"]].assign(
        abs0=(v1 - ev["d_cents"]).abs(), abs1=v1.abs()
    )
    sc = sc.merge(cur_fx, on=["customer_id", "currency", "day"], how="inner")

    sc = sc.sort_values(["customer_id", "currency", "day", "plan"], kind="stable")
    group = sc.groupby(["customer_id", "currency", "day"], sort=False)
    sum0 = group["abs0"].transform("sum")
    sum1 = group["abs1"].transform("sum")
    count = group["abs0"].transform("size")
    weight = np.select(
        [sum0 > 0, sum1 > 0], [sc["abs0"], sc["abs1"]], default=1
    ).astype("float64")
    weight_sum = np.select([sum0 > 0, sum1 > 0], [sum0, sum1], default=count).astype(
        "float64"
    )
    sc = sc.assign(weight=weight, weight_sum=weight_sum)

    cumulative = sc.groupby(["customer_id", "currency", "day"], sort=False)[
        "weight"
    ].cumsum()
    share = _telescoping_share(sc["fx"], sc["weight"], sc["weight_sum"], cumulative)
    return (
        sc[["customer_id", "plan", "day"]]
        .assign(fx=share)
        .groupby(["customer_id", "plan", "day"], as_index=False)["fx"]
        .sum()
    )


def segment_movements(
    ev: pd.DataFrame, states: pd.DataFrame, seg_fx: pd.DataFrame
) -> pd.DataFrame:
    """Split each change of a customer into movements per plan: one row per
    customer, plan and change day of the plan with the movements in cents
    (churn and contraction positive), the plan's value before (`v0`) and after
    (`v1`) and its customer count change (`count_change`)."""
    seg = ev.groupby(["customer_id", "plan", "day"], as_index=False, sort=True)[
        "d_cents"
    ].sum()
    raw_v1 = seg.groupby(["customer_id", "plan"], sort=False)["d_cents"].cumsum()
    seg = seg.assign(raw_v0=raw_v1 - seg["d_cents"], raw_v1=raw_v1)
    m = seg.merge(states, on=["customer_id", "day"], how="inner")
    m = m.merge(seg_fx, on=["customer_id", "plan", "day"], how="left")
    m["fx"] = m["fx"].fillna(0).astype("int64")
    # A customer who is not paying has value 0 in every plan that changes.
    m["v0"] = np.where(m["m0"] > 0, m["raw_v0"], 0)
    m["v1"] = np.where(m["m1"] > 0, m["raw_v1"], 0)
    rest = m["v1"] - m["v0"] - m["fx"]
    m["up"] = rest.clip(lower=0)
    m["down"] = (-rest).clip(lower=0)
    m["rest"] = rest

    # Between plans, S = min(sum of increases, sum of decreases) moves: shares
    # are taken in ascending plan order.
    m = m.sort_values(["customer_id", "day", "plan"], kind="stable")
    group = m.groupby(["customer_id", "day"], sort=False)
    p_sum = group["up"].transform("sum")
    n_sum = group["down"].transform("sum")
    cum_up = group["up"].cumsum()
    cum_down = group["down"].cumsum()
    moved = np.minimum(p_sum, n_sum)
    change = m["kind"] == "change"
    with np.errstate(divide="ignore", invalid="ignore"):
        transfer_in = np.where(
            change & (m["up"] > 0), _telescoping_share(moved, m["up"], p_sum, cum_up), 0
        )
        transfer_out = np.where(
            change & (m["down"] > 0),
            _telescoping_share(moved, m["down"], n_sum, cum_down),
            0,
        )
    kind, rest = m["kind"], m["rest"]
    return m[["customer_id", "plan", "day", "kind", "v0", "v1"]].assign(
        new=np.where(kind == "new", rest, 0),
        expansion=np.where(change, m["up"] - transfer_in, 0),
        contraction=np.where(change, m["down"] - transfer_out, 0),
        churn=np.where(kind == "churn", -rest, 0),
        reactivation=np.where(kind == "reactivation", rest, 0),
        transfer_in=transfer_in,
        transfer_out=transfer_out,
        fx=m["fx"],
        count_change=np.select(
            [(m["v0"] <= 0) & (m["v1"] > 0), (m["v0"] > 0) & (m["v1"] <= 0)],
            [1, -1],
            default=0,
        ),
    )


def _month(days: pd.Series) -> pd.Series:
    return days.dt.to_period("M").dt.to_timestamp()


def monthly_bridge(
    movements: pd.DataFrame,
    states: pd.DataFrame,
    last_month: pd.Timestamp,
) -> pd.DataFrame:
    """Sum the movements per month and plan, from the first month with MRR to
    `last_month`, with MRR and customer counts at the month's start and end
    from running sums. Months of a plan without any activity are left out."""
    mv = movements.assign(period=_month(movements["day"]))
    keys = ["plan", "period"]
    sums = mv.groupby(keys)[[*MOVEMENTS, "count_change"]].sum()
    new_mv = mv.loc[(mv["kind"] == "new") & (mv["new"] != 0)]
    sums["new_customers"] = new_mv.groupby(keys)["customer_id"].nunique()
    back = mv.loc[(mv["kind"] == "reactivation") & (mv["reactivation"] != 0)]
    sums["reactivated_customers"] = back.groupby(keys)["customer_id"].nunique()
    sums["churned_customers"] = _churned_customers(mv, states)

    # Every plan x every month from the first month with a movement, so that
    # the running sums carry MRR through months without a movement.
    months = pd.date_range(mv["period"].min(), last_month, freq="MS")
    grid = pd.MultiIndex.from_product([sorted(mv["plan"].unique()), months], names=keys)
    bridge = sums.reindex(grid, fill_value=0).fillna(0).astype("int64")
    net = (
        bridge["new"]
        + bridge["reactivation"]
        + bridge["expansion"]
        - bridge["contraction"]
        - bridge["churn"]
        + bridge["transfer_in"]
        - bridge["transfer_out"]
        + bridge["fx"]
    )
    by_plan = bridge.groupby(level="plan", sort=False)
    bridge["mrr_end"] = net.groupby(level="plan", sort=False).cumsum()
    bridge["customers_end"] = by_plan["count_change"].cumsum()
    bridge["mrr_start"] = bridge["mrr_end"] - net
    bridge["customers_start"] = bridge["customers_end"] - bridge["count_change"]
    bridge = bridge.reset_index()

    first_paying = _month(states.loc[states["m1"] > 0, "day"]).min()
    values = OUTPUT_COLUMNS[2:]
    active = (bridge[values] != 0).any(axis=1) & (bridge["period"] >= first_paying)
    bridge = bridge.loc[active].copy()
    bridge["period"] = bridge["period"].dt.strftime("%Y-%m")
    bridge = bridge.sort_values(["period", "plan"], kind="stable")
    return bridge[OUTPUT_COLUMNS].reset_index(drop=True)


def _churned_customers(mv: pd.DataFrame, states: pd.DataFrame) -> pd.Series:
    """Count per plan and month the customers paying at the month's start and not
    at its end, in the plans they left on their last change day of the month."""
    st = states.assign(period=_month(states["day"]))
    per_month = (
        st.sort_values(["customer_id", "day"])
        .groupby(["customer_id", "period"], as_index=False, sort=False)
        .agg(first_m0=("m0", "first"), last_m1=("m1", "last"), last_day=("day", "max"))
    )
    churned = per_month.loc[(per_month["first_m0"] > 0) & (per_month["last_m1"] == 0)]
    left = mv.merge(
        churned[["customer_id", "last_day"]].rename(columns={"last_day": "day"}),
        on=["customer_id", "day"],
        how="inner",
    )
    left = left.loc[left["v0"] > 0]
    return left.groupby(["plan", "period"])["customer_id"].nunique()


def mrr_by_plan(
    tables: dict[str, pd.DataFrame], currency: str, as_of: dt.date
) -> pd.DataFrame:
    """Compute the monthly MRR bridge by plan up to `as_of`, amounts in cents."""
    lm = line_mrr(tables, currency)
    ev = events(lm, as_of)
    states = customer_states(ev)
    cur_fx = currency_fx(ev, states)
    seg_fx = segment_fx(ev, cur_fx)
    movements = segment_movements(ev, states, seg_fx)
    latest_invoice = tables["invoice_lines"]["invoice_date"].max()
    last_month = min(latest_invoice, pd.Timestamp(as_of)).to_period("M").to_timestamp()
    return monthly_bridge(movements, states, last_month)
