"""Custom axes: metadata values, label rules, derived axes, buckets and value
history with transfers, each checked against a hand-built history."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import revaxis
from conftest import AS_OF, line


def _by(ws, key, period, **kwargs):
    frame = ws.mrr(by=key, start=period, end=period, as_of=AS_OF, **kwargs)
    return {row[key]: row for row in frame.to_dict(orient="records")}


@pytest.fixture
def channel_ws(make_workspace):
    # Four customers paying 10, 20, 40 and 80 a month through 2024, with messy
    # channel labels in their billing metadata, and one without a channel.
    lines = [
        line(c, "2024-01-01", "2025-01-01", 12 * amount)
        for c, amount in [("a", 10), ("b", 20), ("c", 40), ("d", 80), ("e", 5)]
    ]
    customers = [
        {"customer_id": "a", "metadata.channel": "SEO"},
        {"customer_id": "b", "metadata.channel": "seo "},
        {"customer_id": "c", "metadata.channel": "Adwords"},
        {"customer_id": "d", "metadata.channel": "sea"},
        {"customer_id": "e"},
    ]
    ws = make_workspace(lines, customers=customers)
    ws.create_axis("channel", source="metadata.channel", level="customer")
    return ws


def test_metadata_axis_raw_labels(channel_ws):
    rows = _by(channel_ws, "channel", "2024-03")
    # Without rules, labels are only trimmed: "seo " becomes "seo", still apart
    # from "SEO".
    assert {k: r["mrr_end"] for k, r in rows.items()} == {
        "SEO": 10,
        "seo": 20,
        "Adwords": 40,
        "sea": 80,
        "(none)": 5,
    }


def test_label_rules_clean_channel(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    channel_ws.add_rule("channel", "regex", r"(?i)^(adwords|sea)$", "Paid search")
    rows = _by(channel_ws, "channel", "2024-03")
    # SEO = a 10 + b 20 = 30; Paid search = c 40 + d 80 = 120; e has none: 5.
    assert {k: r["mrr_end"] for k, r in rows.items()} == {
        "SEO": 30,
        "Paid search": 120,
        "(none)": 5,
    }
    assert rows["SEO"]["customers_end"] == 2
    assert channel_ws.rules("channel")["kind"].tolist() == ["map", "regex"]


def test_regex_rule_matches_in_linear_time(make_workspace):
    # (a|a)*$ backtracks exponentially in a backtracking engine: by estimate,
    # Python's re would take about 2**60 steps on this label. RE2 matches at
    # once. The pattern matches the empty string at the label's end, so the
    # label becomes "A".
    label = "a" * 60 + "b"
    ws = make_workspace(
        [line("x", "2024-01-01", "2024-02-01", 10)],
        customers=[{"customer_id": "x", "metadata.channel": label}],
    )
    ws.create_axis("channel", source="metadata.channel", level="customer")
    ws.add_rule("channel", "regex", "(a|a)*$", "A")
    rows = _by(ws, "channel", "2024-01")
    assert {k: r["mrr_end"] for k, r in rows.items()} == {"A": 10}


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [("(a)\\1", "invalid escape sequence"), ("(?=a)b", "invalid perl operator")],
    ids=["backreference", "lookahead"],
)
def test_regex_rule_needs_re2_syntax(channel_ws, pattern, reason):
    with pytest.raises(revaxis.InputError, match=reason) as raised:
        channel_ws.add_rule("channel", "regex", pattern, "X")
    assert "RE2 syntax" in str(raised.value)
    assert channel_ws.rules("channel").empty


def test_first_matching_rule_wins(channel_ws):
    channel_ws.add_rule("channel", "regex", "(?i)s", "Has an s")
    channel_ws.add_rule("channel", "map", "SEO", "SEO")
    labels = channel_ws.clean_values("channel", ["SEO", "Adwords", "Referral"])
    # "SEO" and "Adwords" contain an s, so the first rule takes them.
    assert labels == {"SEO": "Has an s", "Adwords": "Has an s", "Referral": "Referral"}


def test_derived_axis_groups_parent(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    channel_ws.create_axis("channel_group", parent="channel")
    channel_ws.add_rule("channel_group", "map", "SEO", "Organic")
    channel_ws.add_rule("channel_group", "regex", ".*", "Paid")
    rows = _by(channel_ws, "channel_group", "2024-03")
    # Organic = SEO (30); Paid = Adwords 40 + sea 80 = 120; (none) stays 5.
    assert {k: r["mrr_end"] for k, r in rows.items()} == {
        "Organic": 30,
        "Paid": 120,
        "(none)": 5,
    }


def test_plan_family_from_native_plan(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 10, plan_id="Pro monthly"),
            line("b", "2024-01-01", "2024-02-01", 20, plan_id="pro-monthly "),
            line("c", "2024-01-01", "2024-02-01", 40, plan_id="Pro (annual) v2"),
            line("d", "2024-01-01", "2024-02-01", 80, plan_id="Basic"),
        ]
    )
    ws.create_axis("plan_family", parent="plan")
    ws.add_rule("plan_family", "regex", "(?i)^pro", "Pro")
    rows = _by(ws, "plan_family", "2024-01")
    # Pro = 10 + 20 + 40 = 70; Basic stays as it is: 80.
    assert {k: r["mrr_end"] for k, r in rows.items()} == {"Pro": 70, "Basic": 80}


def _plan_workspace(make_workspace):
    return make_workspace(
        [line("a", "2024-01-01", "2024-02-01", 10, plan_id="Pro monthly")]
    )


def test_derived_axis_takes_parent_level(make_workspace):
    ws = _plan_workspace(make_workspace)
    ws.create_axis("plan_family", parent="plan")
    ws.create_axis("plan_group", parent="plan_family")
    ws.create_axis("manager", source="manual")
    ws.create_axis("team", parent="manager")
    registry = ws.axes_registry()
    assert registry["plan_family"].level == "line"
    assert registry["plan_group"].level == "line"
    assert registry["team"].level == "customer"
    listed = ws.axes(as_of=AS_OF).set_index("key")
    assert listed.loc["plan_family", "level"] == "line"
    assert listed.loc["team", "level"] == "customer"


def test_derived_axis_accepts_parent_level(make_workspace):
    ws = _plan_workspace(make_workspace)
    ws.create_axis("plan_family", parent="plan", level="line")
    assert ws.axes_registry()["plan_family"].level == "line"


def test_derived_axis_rejects_other_level(make_workspace):
    ws = _plan_workspace(make_workspace)
    with pytest.raises(
        revaxis.InputError,
        match=r"Invalid level 'customer' for axis 'plan_family': an axis derived "
        r"from 'plan' takes its line level\. Leave out the level\.",
    ):
        ws.create_axis("plan_family", parent="plan", level="customer")
    assert "plan_family" not in ws.axes_registry()


def test_stored_derived_level_read_from_parent(make_workspace):
    ws = _plan_workspace(make_workspace)
    ws.create_axis("plan_family", parent="plan")
    # Earlier versions stored `customer` for an axis derived from a line axis.
    ws.con.con.execute("UPDATE axes SET level = 'customer' WHERE key = 'plan_family'")
    assert ws.axes_registry()["plan_family"].level == "line"
    listed = ws.axes(as_of=AS_OF).set_index("key")
    assert listed.loc["plan_family", "level"] == "line"


def test_size_bands_from_number_axis(make_workspace):
    ws = make_workspace(
        [line(c, "2024-01-01", "2024-02-01", 10) for c in "abcde"],
        customers=[
            {"customer_id": c, "metadata.employees": n}
            for c, n in zip("abcde", ["3", "10", "49", "250", "many"], strict=True)
        ],
    )
    ws.create_axis("employees", source="metadata.employees", value_type="number")
    ws.create_axis("size", parent="employees", buckets=[0, 10, 50, 250])
    rows = _by(ws, "size", "2024-01")
    # 3 -> [0, 10); 10 and 49 -> [10, 50); 250 -> 250+; "many" is no number.
    assert {k: r["customers_end"] for k, r in rows.items()} == {
        "0-10": 1,
        "10-50": 2,
        "250+": 1,
        "(none)": 1,
    }


def test_manager_change_mid_month_is_transfer(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 100),
            line("a", "2024-02-01", "2024-03-01", 100),
            line("a", "2024-03-01", "2024-04-01", 100),
            # 450 over three whole months: 150 a month.
            line("b", "2024-01-01", "2024-04-01", 450),
        ]
    )
    ws.create_axis("manager", level="customer")
    ws.set_axis_value("manager", "a", "Alice")
    ws.set_axis_value("manager", "a", "Bob", valid_from="2024-02-15")
    ws.set_axis_value("manager", "b", "Bob")
    moves = ws.movements(by="manager", as_of=AS_OF)
    a = moves[moves.customer_id == "a"]
    transfer_day = a[a.date == dt.date(2024, 2, 15)]
    # On 15 February a's 100 moves from Alice to Bob.
    assert transfer_day.set_index("manager")[["transfer_in", "transfer_out"]].to_dict(
        "index"
    ) == {
        "Alice": {"transfer_in": 0, "transfer_out": 100},
        "Bob": {"transfer_in": 100, "transfer_out": 0},
    }
    # a churns on 1 April under Bob, the manager of the day.
    churn = a[a.churn > 0]
    assert churn[["date", "manager", "churn"]].values.tolist() == [
        [dt.date(2024, 4, 1), "Bob", 100.0]
    ]
    february = _by(ws, "manager", "2024-02")
    assert february["Alice"]["mrr_start"] == 100
    assert february["Alice"]["transfer_out"] == 100
    assert february["Alice"]["mrr_end"] == 0
    # Bob: b's 150 plus a's 100 from 15 February.
    assert february["Bob"]["mrr_end"] == 250
    assert february["Bob"]["transfer_in"] == 100
    for row in february.values():
        bridge = (
            row["mrr_start"]
            + row["new"]
            + row["reactivation"]
            + row["expansion"]
            - row["contraction"]
            - row["churn"]
            + row["transfer_in"]
            - row["transfer_out"]
            + row["fx"]
        )
        assert round(bridge, 2) == row["mrr_end"]
    april = _by(ws, "manager", "2024-04")
    # b (150) and a (100) both churn on 1 April, both under Bob.
    assert april["Bob"]["churn"] == 250
    assert april["Bob"]["churned_customers"] == 2
    assert "Alice" not in april


def test_dated_value_without_earlier_value(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2024-03-01", 200)])
    ws.create_axis("manager")
    ws.set_axis_value("manager", "a", "Alice", valid_from="2024-02-01")
    rows = _by(ws, "manager", "2024-02")
    # Before 1 February a has no manager: 100 moves from (none) to Alice.
    assert rows["(none)"]["transfer_out"] == 100
    assert rows["Alice"]["transfer_in"] == 100
    assert rows["Alice"]["mrr_end"] == 100


def test_manual_value_overrides_metadata(channel_ws):
    channel_ws.set_axis_value("channel", "d", "Partner")
    rows = _by(channel_ws, "channel", "2024-03")
    assert rows["Partner"]["mrr_end"] == 80
    assert "sea" not in rows


def test_churn_reason_axis(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 30, subscription_id="s1"),
            line("b", "2024-01-01", "2024-02-01", 70, subscription_id="s2"),
        ],
        subscriptions=[
            {
                "subscription_id": "s1",
                "customer_id": "a",
                "cancellation_reason": "price",
            },
            {
                "subscription_id": "s2",
                "customer_id": "b",
                "cancellation_reason": "poor adoption",
            },
        ],
    )
    ws.set_axis_value("churn_reason", "s2", "missing feature")
    rows = _by(ws, "churn_reason", "2024-02")
    # Both churn on 1 February; s2's reason was replaced by hand.
    assert {k: r["churn"] for k, r in rows.items()} == {
        "price": 30,
        "missing feature": 70,
    }


def test_axis_values_import_file(channel_ws, tmp_path):
    path = tmp_path / "managers.csv"
    path.write_text("id,value,valid_from\na,Alice,\nb,Bob,2024-02-01\n")
    channel_ws.create_axis("manager")
    assert channel_ws.import_axis_values("manager", path) == 2
    rows = _by(channel_ws, "manager", "2024-02")
    assert rows["Alice"]["mrr_end"] == 10
    assert rows["Bob"]["mrr_end"] == 20


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "id,value\nzz,Alice\n",
            r"managers.csv:2: field 'id', value 'zz': unknown "
            "customer id",
        ),
        (
            "id,value,valid_from\na,Alice,2024-01-01\na,Bob,2024-01-01\n",
            r"managers.csv:2: field 'value', value 'Alice': id 'a' also gets "
            r"'Bob' for 2024-01-01",
        ),
        (
            "id,value,valid_from\na,Alice,01/02/2024\n",
            r"field 'valid_from', value '01/02/2024': invalid date",
        ),
        ("name,value\na,Alice\n", "missing column"),
    ],
    ids=["unknown-id", "duplicate-same-date", "bad-date", "missing-column"],
)
def test_axis_values_import_errors_change_nothing(
    channel_ws, tmp_path, content, message
):
    channel_ws.create_axis("manager")
    channel_ws.set_axis_value("manager", "c", "Carol")
    before = channel_ws.con.table("axis_values").execute()
    path = tmp_path / "managers.csv"
    path.write_text(content)
    with pytest.raises(revaxis.ImportRejected, match=message):
        channel_ws.import_axis_values("manager", path)
    after = channel_ws.con.table("axis_values").execute()
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "Channel"}, "Invalid axis key 'Channel'"),
        ({"key": "plan"}, "Axis 'plan' already exists"),
        ({"key": "x", "level": "invoice"}, "Invalid level 'invoice'"),
        ({"key": "x", "source": "crm"}, "Invalid source 'crm'"),
        ({"key": "x", "parent": "nothing"}, "Unknown axis 'nothing'"),
        ({"key": "x", "parent": "plan", "buckets": [0, 10]}, "needs a number axis"),
    ],
    ids=["key", "exists", "level", "source", "parent", "buckets"],
)
def test_create_axis_errors(channel_ws, kwargs, message):
    key = kwargs.pop("key")
    with pytest.raises(revaxis.InputError, match=message):
        channel_ws.create_axis(key, **kwargs)


def test_delete_axis(channel_ws):
    channel_ws.create_axis("channel_group", parent="channel")
    with pytest.raises(revaxis.InputError, match="source of channel_group"):
        channel_ws.delete_axis("channel")
    channel_ws.delete_axis("channel_group")
    channel_ws.delete_axis("channel")
    assert "channel" not in channel_ws.axes_registry()
    with pytest.raises(revaxis.InputError, match="native"):
        channel_ws.delete_axis("plan")


def test_mrr_band_moves_by_transfer(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 50),
            line("a", "2024-02-01", "2024-03-01", 150),
            line("b", "2024-01-01", "2024-04-01", 600),
        ]
    )
    ws.create_axis("band", source="computed.mrr_band", buckets=[0, 100])
    february = _by(ws, "band", "2024-02")
    # a goes from 50 (band 0-100) to 150 (100+) on 1 February: 50 moves by
    # transfer and 100 is expansion; b pays 200 a month in 100+ throughout.
    assert february["0-100"]["transfer_out"] == 50
    assert february["0-100"]["mrr_end"] == 0
    assert february["100+"]["transfer_in"] == 50
    assert february["100+"]["expansion"] == 100
    assert february["100+"]["mrr_end"] == 350
    assert february["100+"]["customers_end"] == 2


def test_lifecycle_stages_by_tenure_and_renewal(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2025-01-01", 1200)])
    ws.create_axis("stage", source="computed.lifecycle")
    moves = ws.movements(by="stage", as_of=AS_OF)
    steps = [
        (row.date.isoformat(), row.stage, row.new + row.transfer_in, row.churn)
        for row in moves.itertuples()
        if row.new or row.transfer_in or row.churn
    ]
    # Acquired 1 January 2024 (MRR 100): new for 30 days, onboarding until day
    # 90 (31 March), then established; up for renewal 60 days before the annual
    # period ends on 1 January 2025, that is from 2 November 2024.
    assert steps == [
        ("2024-01-01", "new", 100, 0),
        ("2024-01-31", "onboarding", 100, 0),
        ("2024-03-31", "established", 100, 0),
        ("2024-11-02", "up for renewal", 100, 0),
        ("2025-01-01", "up for renewal", 0, 100),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "computed.mrr_band"}, "needs --buckets"),
        ({"source": "computed.mrr_band", "buckets": [100, 0]}, "increasing"),
        ({"source": "computed.lifecycle", "buckets": [30, 90]}, "three numbers"),
        ({"source": "computed.lifecycle", "buckets": [90, 30, 60]}, "below the days"),
        ({"source": "computed.health"}, "computed.mrr_band and computed.lifecycle"),
        (
            {"source": "computed.mrr_band", "buckets": [0], "level": "plan"},
            "customer axis",
        ),
    ],
    ids=[
        "band-no-edges",
        "band-order",
        "lifecycle-count",
        "lifecycle-order",
        "unknown",
        "level",
    ],
)
def test_computed_axis_errors(channel_ws, kwargs, message):
    with pytest.raises(revaxis.InputError, match=message):
        channel_ws.create_axis("x", **kwargs)


def test_rules_apply_to_native_axes(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 10, plan_id="pro_m"),
            line("b", "2024-01-01", "2024-02-01", 20, plan_id="PRO-Y"),
            line("c", "2024-01-01", "2024-02-01", 40),
        ],
        customers=[
            {"customer_id": "a", "country": "Fiji Islands"},
            {"customer_id": "b", "country": "FJ"},
            {"customer_id": "c", "country": "Fiji"},
        ],
    )
    ws.add_rule("plan", "regex", "(?i)^pro", "Pro")
    ws.add_rule("country", "map", "fiji islands", "FJ")
    plans = _by(ws, "plan", "2024-01")
    # pro_m 10 + PRO-Y 20 = 30 under Pro; c has no plan.
    assert {k: r["mrr_end"] for k, r in plans.items()} == {"Pro": 30, "(none)": 40}
    countries = _by(ws, "country", "2024-01")
    # "Fiji Islands" names no country on its own; the rule maps it to FJ.
    assert {k: r["mrr_end"] for k, r in countries.items()} == {"FJ": 70}
