"""Monthly MRR bridge by plan in pandas, from the rules in docs/metrics.md.

These are the two pandas baselines that bench_mrr.py times the engine against:

- `mrr_by_plan` works, like the engine, on change events (one row where a
  customer's MRR changes), with sorts, `groupby().cumsum()` for running values
  and `groupby().shift()` for "before". It never builds a dense panel, and it
  gives the engine's bridge to the cent. Each step is named for the table it
  builds and follows a common table expression of mrr_by_plan.sql.
- `mrr_by_plan_panel` samples MRR at every month end into a dense customer x
  plan x month panel and compares each month with the previous one. Its MRR
  and customer counts at each month's end equal the engine's. Its movements
  do not, because a change undone within a month leaves none and it has no
  fx column.

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
EVENT_AMOUNTS = [
    "d_cents",
    "d_micros",
    "end_cents",
    "end_micros",
    "new_cents",
    "new_micros",
]
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
    # A start on its month's last day may be a clamped billing day, so there
    # any end day from the start's day on counts as the same day.
    whole = (end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)
    same_day = (end.dt.day == np.minimum(start.dt.day, end.dt.days_in_month)) | (
        start.dt.is_month_end & (end.dt.day >= start.dt.day)
    )
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
    plan, currency and day up to `as_of` on which MRR changes. The row has the
    net change (`d_cents`, `d_micros`) and the MRR of the lines that end that
    day (`end_cents`, `end_micros`). It also has the MRR of the positive lines
    that start that day (`new_cents`, `new_micros`)."""
    keys = ["customer_id", "plan", "currency"]
    cents, micros = lm["mrr_cents"], lm["mrr_micros"]
    positive = micros > 0

    starts = lm[keys].assign(
        day=lm["start_day"],
        d_cents=cents,
        d_micros=micros,
        end_cents=0,
        end_micros=0,
        new_cents=cents.where(positive, 0),
        new_micros=micros.where(positive, 0),
    )
    ends = lm[keys].assign(
        day=lm["end_day"],
        d_cents=-cents,
        d_micros=-micros,
        end_cents=cents,
        end_micros=micros,
        new_cents=0,
        new_micros=0,
    )

    both = pd.concat([starts, ends], ignore_index=True)
    both = both.loc[both["day"] <= pd.Timestamp(as_of)]
    ev = both.groupby([*keys, "day"], as_index=False, sort=True)[EVENT_AMOUNTS].sum()
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


def currency_fx(ev: pd.DataFrame, states: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Compute the fx movement of each currency: one row per customer, currency
    and change day with a non-zero fx. The fx is the MRR of the lines that end
    that day (`end_micros`) revalued at the rate of the positive lines that
    start that day (`new_cents` / `new_micros`), minus its old value
    `end_cents`. It is zero unless the customer pays before and after and
    lines both end and start in the currency, and always zero in `currency`."""
    keys = ["customer_id", "currency", "day"]
    amounts = ["end_cents", "end_micros", "new_cents", "new_micros"]
    per_currency = ev.groupby(keys, as_index=False, sort=False)[amounts].sum()
    joined = per_currency.merge(states, on=["customer_id", "day"], how="inner")
    counted = (
        (joined["kind"] == "change")
        & (joined["currency"] != currency)
        & (joined["new_micros"] > 0)
        & (joined["end_micros"] != 0)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        revalued = round_half_away(
            joined["end_micros"].astype("float64")
            * joined["new_cents"]
            / joined["new_micros"]
        )
    fx = np.where(counted, revalued - joined["end_cents"], 0).astype("int64")
    out = joined[keys].assign(fx=fx)
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
    """Share each currency's fx between the plans whose lines in it ended that
    day, in proportion to the MRR that ended (in micros, because a line worth
    less than a cent still ends). Returns one row per customer, plan and day
    with an fx share."""
    keys = ["customer_id", "currency", "day"]
    sc = ev[["customer_id", "plan", "currency", "day", "end_micros"]]
    sc = sc.merge(cur_fx, on=keys, how="inner")
    sc = sc.sort_values([*keys, "plan"], kind="stable")
    weight = sc["end_micros"].abs().astype("float64")
    group = weight.groupby([sc[k] for k in keys], sort=False)
    share = _telescoping_share(sc["fx"], weight, group.transform("sum"), group.cumsum())
    return (
        sc[["customer_id", "plan", "day"]]
        .assign(fx=share)
        .groupby(["customer_id", "plan", "day"], as_index=False)["fx"]
        .sum()
    )


def _segment_values(ev: pd.DataFrame, states: pd.DataFrame) -> pd.DataFrame:
    """Build one row per customer, plan and day on which the plan's value
    changes, with its raw value before (`raw_v0`) and after (`raw_v1`), all
    currencies. On a day the customer starts or stops paying, each plan whose
    value did not change but is not zero gets a row with `raw_v0` = `raw_v1`,
    so that the floor at zero applies to it."""
    keys = ["customer_id", "plan"]
    seg = ev.groupby([*keys, "day"], as_index=False, sort=True)["d_cents"].sum()
    raw_v1 = seg.groupby(keys, sort=False)["d_cents"].cumsum()
    seg = seg.assign(raw_v0=raw_v1 - seg["d_cents"], raw_v1=raw_v1)
    seg = seg.drop(columns="d_cents")

    # Runs of constant value [day, next_day) that span a start or stop day.
    next_day = seg.groupby(keys, sort=False)["day"].shift(-1)
    runs = seg.assign(next_day=next_day).loc[seg["raw_v1"] != 0]
    toggles = states.loc[
        states["kind"].isin(["new", "reactivation", "churn"]), ["customer_id", "day"]
    ].rename(columns={"day": "toggle_day"})
    spanning = runs.merge(toggles, on="customer_id", how="inner")
    spanning = spanning.loc[
        (spanning["day"] < spanning["toggle_day"])
        & (
            spanning["next_day"].isna()
            | (spanning["next_day"] > spanning["toggle_day"])
        )
    ]
    unchanged = pd.DataFrame(
        {
            "customer_id": spanning["customer_id"],
            "plan": spanning["plan"],
            "day": spanning["toggle_day"],
            "raw_v0": spanning["raw_v1"],
            "raw_v1": spanning["raw_v1"],
        }
    )
    return pd.concat([seg, unchanged], ignore_index=True)


def segment_movements(
    ev: pd.DataFrame, states: pd.DataFrame, seg_fx: pd.DataFrame
) -> pd.DataFrame:
    """Split each change of a customer into movements per plan: one row per
    customer, plan and day on which the plan changes or the customer starts or
    stops paying. The row has the movements in cents (churn and contraction
    positive), the plan's value before (`v0`) and after (`v1`) and its
    customer count change (`count_change`)."""
    seg = _segment_values(ev, states)
    m = seg.merge(states, on=["customer_id", "day"], how="inner")
    m = m.merge(seg_fx, on=["customer_id", "plan", "day"], how="left")
    m["fx"] = m["fx"].fillna(0).astype("int64")
    # A customer who is not paying has value 0 in every plan.
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
    cur_fx = currency_fx(ev, states, currency)
    seg_fx = segment_fx(ev, cur_fx)
    movements = segment_movements(ev, states, seg_fx)
    last_day = report_last_day(tables, states, as_of)
    return monthly_bridge(movements, states, last_day.to_period("M").to_timestamp())


def report_last_day(
    tables: dict[str, pd.DataFrame], states: pd.DataFrame, as_of: dt.date
) -> pd.Timestamp:
    """Return the report's last day: `as_of` while any customer pays at its end,
    else the latest invoice date or MRR change day, at most `as_of`."""
    last_m1 = states.sort_values("day").groupby("customer_id")["m1"].last()
    if (last_m1 > 0).any():
        return pd.Timestamp(as_of)
    latest = max(tables["invoice_lines"]["invoice_date"].max(), states["day"].max())
    return min(latest, pd.Timestamp(as_of))


# Month-end panel: the way an analyst usually writes the bridge in pandas ------


def _month_number(days: pd.Series) -> pd.Series:
    """Months since year 0 (January 2025 is 2025 * 12): consecutive integers, so
    that the month before m is m - 1."""
    return days.dt.year * 12 + days.dt.month - 1


def plan_month_panel(lm: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Sample each customer's MRR per plan at every month end into a dense panel.

    The panel has one row per customer, plan and month (`month`, a month
    number) from the first month with a line to the month of `as_of`, sorted
    in that order. `raw_cents` is the sum of the MRR of the lines in force at
    the end of the month's last day, 0 when there is none."""
    # A line [start_day, end_day) is in force at the end of the last day of
    # month m when start_day <= that day < end_day, so for the months from
    # the start day's month up to the month before the end day's month.
    first = _month_number(lm["start_day"])
    as_of_month = as_of.year * 12 + as_of.month - 1
    last = np.minimum(_month_number(lm["end_day"]) - 1, as_of_month)
    count = (last - first + 1).clip(lower=0).to_numpy()
    rows = np.repeat(np.arange(len(lm)), count)
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    sampled = pd.DataFrame(
        {
            "customer_id": lm["customer_id"].to_numpy()[rows],
            "plan": lm["plan"].to_numpy()[rows],
            "month": first.to_numpy()[rows] + offsets,
            "raw_cents": lm["mrr_cents"].to_numpy()[rows],
        }
    )

    # Wide form first, one row per customer and plan and one column per month
    # with 0 where no line is in force. stack() then gives the dense long form.
    wide = sampled.pivot_table(
        index=["customer_id", "plan"],
        columns="month",
        values="raw_cents",
        aggfunc="sum",
        fill_value=0,
    )
    months = range(int(sampled["month"].min()), as_of_month + 1)
    wide = wide.reindex(columns=months, fill_value=0)
    panel = wide.stack().rename("raw_cents").reset_index()
    return panel.astype({"raw_cents": "int64"})


def customer_month_panel(plan_panel: pd.DataFrame) -> pd.DataFrame:
    """Classify each customer's month: one row per customer and month.

    `mrr` is the MRR at the month's end (0 when the lines sum to zero or
    below) and `prev` that at the previous month's end. `kind` is new,
    reactivation, churn, change (paying at both month ends) or none. A
    customer who paid at any earlier month end reactivates instead of being
    new."""
    customers = plan_panel.groupby(["customer_id", "month"], as_index=False, sort=True)[
        "raw_cents"
    ].sum()
    mrr = customers["raw_cents"].clip(lower=0)
    by_customer = mrr.groupby(customers["customer_id"], sort=False)
    prev = by_customer.shift(fill_value=0)
    ever_paid = (mrr > 0).groupby(customers["customer_id"], sort=False).cummax()
    paid_before = ever_paid.groupby(customers["customer_id"], sort=False).shift(
        fill_value=False
    )
    kind = np.select(
        [
            (prev == 0) & (mrr > 0) & ~paid_before.astype(bool),
            (prev == 0) & (mrr > 0),
            (prev > 0) & (mrr == 0),
            (prev > 0) & (mrr > 0),
        ],
        ["new", "reactivation", "churn", "change"],
        default="none",
    )
    return customers[["customer_id", "month"]].assign(mrr=mrr, prev=prev, kind=kind)


def plan_month_movements(
    plan_panel: pd.DataFrame, customers: pd.DataFrame
) -> pd.DataFrame:
    """Split each customer's month-over-month change into movements per plan.

    The result has one row per customer, plan and month. `prev` and `mrr` are
    the plan's MRR at the previous and at this month's end, both 0 while the
    customer is not paying. The movements are in cents, churn and contraction
    positive. fx is always 0, so a change of exchange rate falls into
    expansion or contraction."""
    panel = plan_panel.merge(
        customers[["customer_id", "month", "mrr", "kind"]].rename(
            columns={"mrr": "customer_mrr"}
        ),
        on=["customer_id", "month"],
        how="left",
    )
    panel["mrr"] = panel["raw_cents"].where(panel["customer_mrr"] > 0, 0)
    panel["prev"] = panel.groupby(["customer_id", "plan"], sort=False)["mrr"].shift(
        fill_value=0
    )
    delta = panel["mrr"] - panel["prev"]
    kind = panel["kind"]
    panel["new"] = delta.where(kind == "new", 0)
    panel["reactivation"] = delta.where(kind == "reactivation", 0)
    panel["churn"] = (-delta).where(kind == "churn", 0)
    for name in ("expansion", "contraction", "transfer_in", "transfer_out", "fx"):
        panel[name] = 0

    # A paying customer's plans that changed: S = min(sum of increases, sum of
    # decreases) moved between plans, shared in ascending plan order.
    changed = panel.loc[(kind == "change") & (delta != 0)]
    up = delta[changed.index].clip(lower=0)
    down = (-delta[changed.index]).clip(lower=0)
    group = [changed["customer_id"], changed["month"]]
    p_sum = up.groupby(group, sort=False).transform("sum")
    n_sum = down.groupby(group, sort=False).transform("sum")
    moved = np.minimum(p_sum, n_sum)
    with np.errstate(divide="ignore", invalid="ignore"):
        transfer_in = np.where(
            up > 0,
            _telescoping_share(
                moved, up, p_sum, up.groupby(group, sort=False).cumsum()
            ),
            0,
        )
        transfer_out = np.where(
            down > 0,
            _telescoping_share(
                moved, down, n_sum, down.groupby(group, sort=False).cumsum()
            ),
            0,
        )
    panel.loc[changed.index, "transfer_in"] = transfer_in
    panel.loc[changed.index, "transfer_out"] = transfer_out
    panel.loc[changed.index, "expansion"] = up - transfer_in
    panel.loc[changed.index, "contraction"] = down - transfer_out
    return panel.drop(columns=["raw_cents", "customer_mrr"])


def panel_bridge(movements: pd.DataFrame) -> pd.DataFrame:
    """Sum the panel's movements per month and plan, with MRR and customer
    counts at the previous and this month's end, from the first month in
    which any customer pays. Rows that are all zero are left out."""
    mv = movements.assign(
        customers_start=(movements["prev"] > 0).astype("int64"),
        customers_end=(movements["mrr"] > 0).astype("int64"),
        new_customers=((movements["kind"] == "new") & (movements["new"] != 0)).astype(
            "int64"
        ),
        churned_customers=(
            (movements["kind"] == "churn") & (movements["prev"] > 0)
        ).astype("int64"),
        reactivated_customers=(
            (movements["kind"] == "reactivation") & (movements["reactivation"] != 0)
        ).astype("int64"),
    )
    mv = mv.rename(columns={"prev": "mrr_start", "mrr": "mrr_end"})
    values = OUTPUT_COLUMNS[2:]
    bridge = mv.groupby(["month", "plan"], as_index=False, sort=True)[values].sum()

    paying_months = mv.loc[mv["customers_end"] > 0, "month"]
    first_paying = paying_months.min() if len(paying_months) else np.inf
    active = (bridge[values] != 0).any(axis=1) & (bridge["month"] >= first_paying)
    bridge = bridge.loc[active]
    period = pd.PeriodIndex.from_ordinals(
        bridge["month"].to_numpy() - 1970 * 12, freq="M"
    )
    bridge = bridge.assign(period=period.strftime("%Y-%m"))
    return (
        bridge[OUTPUT_COLUMNS]
        .astype({c: "int64" for c in values})
        .reset_index(drop=True)
    )


def mrr_by_plan_panel(
    tables: dict[str, pd.DataFrame], currency: str, as_of: dt.date
) -> pd.DataFrame:
    """Compute the monthly MRR bridge by plan up to `as_of` from a dense
    customer x plan x month panel of month-end MRR, amounts in cents.

    Each month compares two month-end samples, so a change that is undone
    within a month (a customer who joins and leaves, or a plan switched twice)
    leaves no movement, and there is no fx column. MRR and customer counts at
    each month's end match the change-event bridge exactly.

    Raises ValueError when `as_of` is not the last day of a month, because the
    last month would then be sampled on a different day."""
    if (pd.Timestamp(as_of) + pd.Timedelta(days=1)).day != 1:
        raise ValueError(
            f"Invalid as_of {as_of}: the month-end panel needs the last day of a month."
        )
    lm = line_mrr(tables, currency)
    plan_panel = plan_month_panel(lm, as_of)
    customers = customer_month_panel(plan_panel)
    movements = plan_month_movements(plan_panel, customers)
    return panel_bridge(movements)
