"""Axis management: the label preview with its suggestions, and the `revaxis axes`
commands run with CliRunner on real DuckDB workspace files."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from conftest import AS_OF, line
from revaxis._axes import Rule
from revaxis._preview import fold_label, near_duplicates
from revaxis.cli import app

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "axes-custom.md"

# Monthly MRR and billing metadata channel per customer. Everyone pays from
# January to March 2024, except g, who pays in January only.
CHANNELS = [
    ("a", "SEO", 10),
    ("b", "seo", 20),
    ("c", "Adwords", 40),
    ("d", "Ad-words", 80),
    ("e", None, 5),
    ("f", "Referral", 7),
    ("g", "Partner", 100),
    ("h", "SEO", 30),
]
MONTHS = [
    ("2024-01-01", "2024-02-01"),
    ("2024-02-01", "2024-03-01"),
    ("2024-03-01", "2024-04-01"),
]


@pytest.fixture
def channel_ws(make_workspace):
    lines = []
    for customer, _, amount in CHANNELS:
        months = MONTHS[:1] if customer == "g" else MONTHS
        for start, end in months:
            lines.append(line(customer, start, end, amount, invoice_date=start))
    customers = [
        {"customer_id": c, **({"metadata.channel": v} if v is not None else {})}
        for c, v, _ in CHANNELS
    ]
    ws = make_workspace(lines, customers=customers)
    ws.create_axis("channel", source="metadata.channel")
    return ws


def _invoke(ws, *args: str):
    return runner.invoke(app, ["--db", str(ws.path), *args])


def _rows(frame: pd.DataFrame) -> dict[str, dict[str, object]]:
    return {row["raw_label"]: row for row in frame.to_dict(orient="records")}


# Preview ----------------------------------------------------------------------


def test_preview_counts_each_raw_label(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    frame = channel_ws.preview("channel", as_of=AS_OF)
    # At the end of March 2024: SEO is a (10) + h (30); g left in February.
    assert frame[["raw_label", "label", "customers", "mrr"]].values.tolist() == [
        ["Ad-words", "Ad-words", 1, 80.0],
        ["SEO", "SEO", 2, 40.0],
        ["Adwords", "Adwords", 1, 40.0],
        ["seo", "SEO", 1, 20.0],
        ["Referral", "Referral", 1, 7.0],
        ["Partner", "Partner", 0, 0.0],
        ["(none)", "(none)", 1, 5.0],
    ]
    assert list(frame.columns) == [
        "raw_label",
        "label",
        "customers",
        "mrr",
        "reviewed",
        "rule",
        "suggestions",
    ]


def test_preview_marks_reviewed_labels(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    rows = _rows(channel_ws.preview("channel", as_of=AS_OF))
    assert rows["seo"]["reviewed"] is True
    assert rows["seo"]["rule"] == 1
    # "SEO" lands where it was, but the map rule matched it.
    assert rows["SEO"]["reviewed"] is True
    assert rows["Referral"]["reviewed"] is False
    assert pd.isna(rows["Referral"]["rule"])
    # No rule applies to a missing value.
    assert rows["(none)"]["reviewed"] is True


def test_preview_suggests_near_duplicates(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    rows = _rows(channel_ws.preview("channel", as_of=AS_OF))
    assert rows["Adwords"]["suggestions"] == ["Ad-words"]
    assert rows["Ad-words"]["suggestions"] == ["Adwords"]
    # "SEO" and "seo" already land on the same label.
    assert rows["SEO"]["suggestions"] == []
    assert rows["seo"]["suggestions"] == []


def test_preview_after_merging_rule(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    channel_ws.add_rule("channel", "regex", r"(?i)^ad-?words$", "Paid search")
    channel_ws.remove_rule("channel", 1)
    rows = _rows(channel_ws.preview("channel", as_of=AS_OF))
    # Rule positions are kept after a removal: the regex is still rule 2.
    assert rows["Adwords"]["label"] == "Paid search"
    assert rows["Adwords"]["rule"] == 2
    assert rows["Adwords"]["suggestions"] == []
    assert rows["seo"]["label"] == "seo"
    assert rows["seo"]["suggestions"] == ["SEO"]


def test_preview_with_draft_rule(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    draft = [Rule("regex", r"(?i)^ad-?words$", "Paid search")]
    rows = _rows(channel_ws.preview("channel", as_of=AS_OF, draft_rules=draft))
    # The draft applies after the saved rule, at the position add_rule gives it.
    assert rows["Adwords"]["label"] == "Paid search"
    assert rows["Adwords"]["rule"] == 2
    assert rows["Ad-words"]["label"] == "Paid search"
    assert rows["Adwords"]["suggestions"] == []
    assert rows["seo"]["rule"] == 1
    assert len(channel_ws.rules("channel")) == 1


def test_preview_writes_nothing(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    before = channel_ws.con.table("axis_rules").execute()
    channel_ws.preview("channel", as_of=AS_OF)
    after = channel_ws.con.table("axis_rules").execute()
    pd.testing.assert_frame_equal(before, after)
    assert (
        channel_ws.mrr(by="channel", start="2024-03", end="2024-03", as_of=AS_OF)[
            "channel"
        ]
        .tolist()
        .count("seo")
        == 0
    )


def test_preview_derived_axis(make_workspace):
    ws = make_workspace(
        [
            line("a", "2024-01-01", "2024-02-01", 10, plan_id="Pro monthly"),
            line("b", "2024-01-01", "2024-02-01", 20, plan_id="pro-monthly "),
            line("c", "2024-01-01", "2024-02-01", 40, plan_id="Pro (annual) v2"),
            line("d", "2024-01-01", "2024-02-01", 80, plan_id="Basic"),
        ]
    )
    ws.add_rule("plan", "map", "pro-monthly", "Pro monthly")
    ws.create_axis("plan_family", parent="plan")
    ws.add_rule("plan_family", "regex", "(?i)^pro", "Pro")
    frame = ws.preview("plan_family", as_of=AS_OF)
    # The plan rule has merged a and b, so plan_family receives "Pro monthly" once:
    # 10 + 20 = 30 from two customers.
    assert frame[["raw_label", "label", "customers", "mrr"]].values.tolist() == [
        ["Basic", "Basic", 1, 80.0],
        ["Pro (annual) v2", "Pro", 1, 40.0],
        ["Pro monthly", "Pro", 2, 30.0],
    ]
    assert frame["reviewed"].tolist() == [False, True, True]


def test_preview_buckets(make_workspace):
    ws = make_workspace(
        [line(c, "2024-01-01", "2024-02-01", 10) for c in "abcde"],
        customers=[
            {"customer_id": c, "metadata.employees": n}
            for c, n in zip("abcde", ["3", "10", "49", "250", "many"], strict=True)
        ],
    )
    ws.create_axis("employees", source="metadata.employees", value_type="number")
    ws.create_axis("size", parent="employees", buckets=[0, 10, 50, 250])
    rows = _rows(ws.preview("size", as_of=AS_OF))
    assert {raw: row["label"] for raw, row in rows.items()} == {
        "3": "0-10",
        "10": "10-50",
        "49": "10-50",
        "250": "250+",
        "many": "(none)",
    }
    # A bucket decides where a number lands; "many" fits no bucket.
    assert rows["49"]["reviewed"] is True
    assert rows["many"]["reviewed"] is False


def test_preview_unknown_axis(channel_ws):
    with pytest.raises(ValueError, match="Unknown axis 'chanel'"):
        channel_ws.preview("chanel")


@pytest.mark.parametrize(
    ("first", "second", "suggested"),
    [
        ("Pro monthly", "pro-monthly ", True),
        ("Pro (annual) v2", "pro annual V2", True),
        ("Team", "Teams", True),
        ("Société", "societe", True),
        ("Direct", "Indirect", False),
        ("Plan 10", "Plan 100", False),
        ("Pro v1", "Pro v2", False),
        ("Pro", "Pro+", False),
        ("SEO", "SEA", False),
    ],
    ids=[
        "punctuation-case",
        "brackets",
        "plural",
        "accents",
        "prefix-word",
        "numbers",
        "versions",
        "plus",
        "one-letter",
    ],
)
def test_near_duplicates(first, second, suggested):
    found = near_duplicates([first, second], {first: first, second: second})
    assert (found.get(first) == [second]) is suggested
    assert (found.get(second) == [first]) is suggested


def test_near_duplicates_skip_merged():
    found = near_duplicates(
        ["Pro monthly", "pro monthly"], {"Pro monthly": "Pro", "pro monthly": "Pro"}
    )
    assert found == {}


def test_fold_label():
    assert fold_label("  Pro (Annual) -- v2 ") == "pro annual v2"
    assert fold_label("Pro+") == "pro plus"
    assert fold_label("Émile_Zola") == "emile zola"


# create / delete ---------------------------------------------------------------


def test_create_metadata_axis(channel_ws):
    result = _invoke(
        channel_ws,
        "axes",
        "create",
        "segment",
        "--source",
        "metadata.segment",
        "--label",
        "Segment",
        "--level",
        "customer",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "Created axis 'segment': customer level, source metadata.segment."
    )
    axis = channel_ws.axes_registry()["segment"]
    assert (axis.label, axis.level, axis.source) == (
        "Segment",
        "customer",
        "metadata.segment",
    )


def test_create_derived_axis_says_parent_level(make_workspace):
    ws = make_workspace([line("a", "2024-01-01", "2024-02-01", 10, plan_id="Pro")])
    result = _invoke(ws, "axes", "create", "plan_family", "--from", "plan")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "Created axis 'plan_family': line level, source derived from plan."
    )
    listed = _invoke(ws, "axes", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    levels = {row["key"]: row["level"] for row in json.loads(listed.stdout)}
    assert levels["plan_family"] == "line"


def test_create_bucket_axis(make_workspace):
    ws = make_workspace(
        [line(c, "2024-01-01", "2024-02-01", 10) for c in "ab"],
        customers=[
            {"customer_id": "a", "metadata.employees": "3"},
            {"customer_id": "b", "metadata.employees": "60"},
        ],
    )
    assert (
        _invoke(
            ws,
            "axes",
            "create",
            "employees",
            "--source",
            "metadata.employees",
            "--type",
            "number",
        ).exit_code
        == 0
    )
    result = _invoke(
        ws, "axes", "create", "size", "--from", "employees", "--buckets", "0,10,50,250"
    )
    assert result.exit_code == 0, result.output
    assert "source derived from employees" in result.stdout
    assert ws.axes_registry()["size"].buckets == (0.0, 10.0, 50.0, 250.0)
    frame = ws.mrr(by="size", start="2024-01", end="2024-01", as_of=AS_OF)
    assert dict(zip(frame["size"], frame["mrr_end"], strict=True)) == {
        "0-10": 10.0,
        "50-250": 10.0,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Channel"], "Invalid axis key 'Channel'"),
        (["channel"], "Axis 'channel' already exists"),
        (["x", "--source", "crm"], "Invalid source 'crm'"),
        (["x", "--from", "channel", "--level", "plan"], "leave out --level and "),
        (["x", "--from", "channel", "--source", "manual"], "leave out --level and "),
        (["x", "--from", "employees"], "Unknown axis 'employees'"),
        (["x", "--from", "channel", "--buckets", "0,ten"], "Invalid --buckets '0,ten'"),
        (["x", "--from", "channel", "--buckets", "0,10"], "needs a number axis"),
        (["x", "--level", "invoice"], "Invalid value for '--level'"),
    ],
    ids=[
        "key",
        "exists",
        "source",
        "from-level",
        "from-source",
        "from-unknown",
        "buckets-text",
        "buckets-category",
        "level-choice",
    ],
)
def test_create_errors(channel_ws, args, message):
    result = _invoke(channel_ws, "axes", "create", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "x" not in channel_ws.axes_registry()


def test_delete_axis(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    result = _invoke(channel_ws, "axes", "delete", "channel")
    assert result.exit_code == 0, result.output
    assert "Deleted axis 'channel'" in result.stdout
    assert "channel" not in channel_ws.axes_registry()
    assert channel_ws.con.table("axis_rules").count().execute() == 0


@pytest.mark.parametrize(
    ("key", "message"),
    [("plan", "Axis 'plan' is native"), ("nothing", "Unknown axis 'nothing'")],
    ids=["native", "unknown"],
)
def test_delete_errors(channel_ws, key, message):
    result = _invoke(channel_ws, "axes", "delete", key)
    assert result.exit_code == 2
    assert message in result.stderr


# set / import ------------------------------------------------------------------


def test_set_value_with_history(channel_ws):
    channel_ws.create_axis("manager")
    first = _invoke(channel_ws, "axes", "set", "manager", "--customer", "a", "Alice")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == (
        "Set 'manager' = 'Alice' for customer 'a' for all time."
    )
    second = _invoke(
        channel_ws,
        "axes",
        "set",
        "manager",
        "Bob",
        "--customer",
        "a",
        "--valid-from",
        "2024-03-01",
    )
    assert second.exit_code == 0, second.output
    assert "from 2024-03-01" in second.stdout
    moves = channel_ws.movements(by="manager", as_of=AS_OF)
    march = moves[(moves.customer_id == "a") & (moves.date.astype(str) == "2024-03-01")]
    # On 1 March a's 10 moves from Alice to Bob.
    assert march.set_index("manager")["transfer_in"].to_dict() == {
        "Alice": 0.0,
        "Bob": 10.0,
    }


def test_set_overrides_metadata(channel_ws):
    result = _invoke(channel_ws, "axes", "set", "channel", "--customer", "d", "Partner")
    assert result.exit_code == 0, result.output
    rows = _rows(channel_ws.preview("channel", as_of=AS_OF))
    assert "Ad-words" not in rows
    assert rows["Partner"]["mrr"] == 80.0


def test_set_remove(channel_ws):
    channel_ws.create_axis("manager")
    channel_ws.set_axis_value("manager", "a", "Alice", valid_from="2024-02-01")
    result = _invoke(
        channel_ws,
        "axes",
        "set",
        "manager",
        "--customer",
        "a",
        "--valid-from",
        "2024-02-01",
        "--remove",
    )
    assert result.exit_code == 0, result.output
    assert "Removed the value of 'manager' for customer 'a' from 2024-02-01" in (
        result.stdout
    )
    assert channel_ws.con.table("axis_values").count().execute() == 0
    again = _invoke(channel_ws, "axes", "set", "manager", "--customer", "a", "--remove")
    assert again.exit_code == 2
    assert "has no value set for customer 'a' for all time" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["manager", "Alice"], "Give exactly one of --customer"),
        (
            ["manager", "--customer", "a", "--plan", "p", "Alice"],
            "Give exactly one of --customer",
        ),
        (["manager", "--plan", "p1", "Alice"], "is a customer axis; use --customer"),
        (
            ["manager", "--customer", "zz", "Alice"],
            "Cannot set 'manager' for customer 'zz': unknown customer id",
        ),
        (["manager", "--customer", "a"], "Give either a VALUE to set or --remove"),
        (
            ["manager", "--customer", "a", "--remove", "Alice"],
            "Give either a VALUE to set or --remove",
        ),
        (
            ["manager", "--customer", "a", "--valid-from", "01/02/2024", "Alice"],
            "Invalid value for '--valid-from'",
        ),
        (["plan", "--customer", "a", "Alice"], "Axis 'plan' is native"),
        (["plan", "--customer", "a", "--remove"], "Axis 'plan' is native"),
        (["manager", "--plan", "p1", "--remove"], "use --customer"),
        (["managr", "--customer", "a", "--remove"], "Unknown axis 'managr'"),
    ],
    ids=[
        "no-entity",
        "two-entities",
        "wrong-level",
        "unknown-id",
        "no-value",
        "value-and-remove",
        "bad-date",
        "native",
        "remove-native",
        "remove-wrong-level",
        "remove-unknown-axis",
    ],
)
def test_set_errors(channel_ws, args, message):
    channel_ws.create_axis("manager")
    result = _invoke(channel_ws, "axes", "set", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert channel_ws.con.table("axis_values").count().execute() == 0


def test_import_values(channel_ws, tmp_path):
    channel_ws.create_axis("manager")
    path = tmp_path / "managers.csv"
    path.write_text("id,value,valid_from\na,Alice,\nb,Bob,2024-02-01\n")
    result = _invoke(channel_ws, "axes", "import", "manager", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "Imported 2 value(s) of axis 'manager' from managers.csv."
    )
    rows = _rows(channel_ws.preview("manager", as_of=AS_OF))
    assert rows["Alice"]["mrr"] == 10.0
    assert rows["Bob"]["mrr"] == 20.0


def test_import_lists_every_problem(channel_ws, tmp_path):
    channel_ws.create_axis("manager")
    path = tmp_path / "managers.csv"
    unknown = [f"zz{n},Alice" for n in range(60)]
    path.write_text("id,value\na,Alice\n" + "\n".join(unknown) + "\n")
    result = _invoke(channel_ws, "axes", "import", "manager", str(path))
    assert result.exit_code == 1
    assert "Import rejected: 60 problem(s) in 61 row(s) read" in result.stderr
    # Every problem, one per line, beyond the 50 that the exception message keeps.
    listed = re.findall(r"managers\.csv:(\d+): field 'id'", result.stderr)
    assert listed == [str(n) for n in range(3, 63)]
    assert channel_ws.con.table("axis_values").count().execute() == 0


def test_import_missing_file(channel_ws, tmp_path):
    channel_ws.create_axis("manager")
    result = _invoke(
        channel_ws, "axes", "import", "manager", str(tmp_path / "none.csv")
    )
    assert result.exit_code == 2
    assert "File not found" in result.stderr


# rules -------------------------------------------------------------------------


def _rules_csv(ws, key: str) -> list[list[object]]:
    result = _invoke(ws, "axes", "rules", key, "--format", "csv")
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout)).values.tolist()


def test_rules_add_in_order(channel_ws):
    result = _invoke(
        channel_ws,
        "axes",
        "rules",
        "channel",
        "--map",
        "seo=SEO",
        "--map",
        " sea = Paid search ",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Added rule 1 to axis 'channel': map 'seo' -> 'SEO'.",
        "Added rule 2 to axis 'channel': map ' sea ' -> 'Paid search'.",
    ]
    assert _rules_csv(channel_ws, "channel") == [
        [1, "map", "seo", "SEO"],
        [2, "map", " sea ", "Paid search"],
    ]


def test_rules_split_last_equals(channel_ws):
    result = _invoke(
        channel_ws,
        "axes",
        "rules",
        "channel",
        "--regex",
        "^utm_source=(google|bing)$=Paid search",
    )
    assert result.exit_code == 0, result.output
    assert _rules_csv(channel_ws, "channel") == [
        [1, "regex", "^utm_source=(google|bing)$", "Paid search"],
    ]
    labels = channel_ws.clean_values("channel", ["utm_source=bing", "utm_source"])
    assert labels == {"utm_source=bing": "Paid search", "utm_source": "utm_source"}


def test_rules_output_keeps_brackets(channel_ws):
    result = _invoke(
        channel_ws, "axes", "rules", "channel", "--regex", "[/a-z]+ads=Ads", "--list"
    )
    assert result.exit_code == 0, result.output
    assert "regex '[/a-z]+ads' -> 'Ads'" in result.stdout
    assert "[/a-z]+ads" in result.stdout.splitlines()[-2]


def test_rules_remove_and_list(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    channel_ws.add_rule("channel", "map", "sea", "Paid search")
    result = _invoke(
        channel_ws,
        "axes",
        "rules",
        "channel",
        "--remove",
        "1",
        "--list",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    # The confirmation goes to stderr so that stdout stays valid JSON.
    assert "Removed rule 1 of axis 'channel'." in result.stderr
    assert json.loads(result.stdout) == [
        {"position": 2, "kind": "map", "pattern": "sea", "label": "Paid search"}
    ]


def test_rules_list_empty(channel_ws):
    result = _invoke(channel_ws, "axes", "rules", "channel")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Axis 'channel' has no label rules."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "seo=SEO", "--regex", "a=b"], "Give --map and --regex in separate"),
        (["--map", "seo"], "Invalid --map 'seo': write RAW=CLEAN"),
        (["--map", "seo="], "Invalid --map 'seo=': write RAW=CLEAN"),
        (["--regex", "=Paid"], "Invalid --regex '=Paid': write PATTERN=CLEAN"),
        (
            ["--regex", "ok=Fine", "--regex", "(unclosed=Paid"],
            "Invalid regular expression '(unclosed'",
        ),
        (["--remove", "1", "--map", "seo=SEO"], "Axis 'channel' has no rule 1"),
    ],
    ids=[
        "map-and-regex",
        "no-equals",
        "empty-clean",
        "empty-pattern",
        "bad-regex",
        "unknown-position",
    ],
)
def test_rules_errors_change_nothing(channel_ws, args, message):
    result = _invoke(channel_ws, "axes", "rules", "channel", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert channel_ws.rules("channel").empty


def test_rules_unknown_axis(channel_ws):
    result = _invoke(channel_ws, "axes", "rules", "chanel", "--map", "a=b")
    assert result.exit_code == 2
    assert "Unknown axis 'chanel'" in result.stderr


# preview -----------------------------------------------------------------------


def test_preview_csv(channel_ws):
    channel_ws.add_rule("channel", "map", "seo", "SEO")
    result = _invoke(channel_ws, "axes", "preview", "channel", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)
    rows = {row["raw_label"]: row for row in frame.to_dict(orient="records")}
    assert rows["Adwords"]["suggestions"] == "Ad-words"
    assert rows["seo"]["label"] == "SEO"
    assert rows["seo"]["rule"] == "1"
    assert rows["Referral"]["rule"] == ""
    assert frame["mrr"].sum() == 192.0


def test_preview_json(channel_ws):
    result = _invoke(channel_ws, "axes", "preview", "channel", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["raw_label"]: row for row in json.loads(result.stdout)}
    assert rows["SEO"]["suggestions"] == ["seo"]
    assert rows["SEO"]["reviewed"] is False
    assert rows["SEO"]["rule"] is None
    assert rows["SEO"]["customers"] == 2


def test_preview_table_counts_unreviewed(channel_ws):
    result = _invoke(channel_ws, "axes", "preview", "channel")
    assert result.exit_code == 0, result.output
    assert "Labels of axis channel, MRR in USD" in result.stdout
    # Every raw label but "(none)" is unreviewed without rules.
    assert "6 raw label(s) not reviewed" in result.stdout


def test_preview_unknown_axis_cli(channel_ws):
    result = _invoke(channel_ws, "axes", "preview", "chanel")
    assert result.exit_code == 2
    assert "Unknown axis 'chanel'" in result.stderr


# docs ---------------------------------------------------------------------------


def test_axes_options_documented():
    text = DOCS.read_text()
    group = get_command(app).commands["axes"]
    missing = []
    for name in ("create", "delete", "set", "import", "rules", "preview"):
        command = group.commands[name]
        if f"revaxis axes {name}" not in text:
            missing.append(name)
        for param in command.params:
            for option in param.opts:
                if option.startswith("--") and option not in text:
                    missing.append(f"{name} {option}")
    assert missing == []
