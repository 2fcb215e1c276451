"""Filter expressions: the parser, its error messages, the checks against a
registry, and the Ibis predicate run on DuckDB over a few hand-written rows."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from revaxis._axes import NATIVE_AXES
from revaxis._errors import InputError
from revaxis._filters import FilterError, check_filter, parse_filter

# One row per customer. "(none)" is how the engine writes a missing value.
ROWS = pd.DataFrame(
    [
        (1, "SEO", "FR", "Basic", "3"),
        (2, "Paid", "DE", "Pro", "12"),
        (3, "(none)", "FR", "Pro", "many"),
        (4, "O'Brien", "US", "Basic", "(none)"),
        (5, "x'; DROP TABLE customers; --", "IN", 'Pro "x"', "250"),
        (6, "SEO", "IS", "10", "9.5"),
    ],
    columns=["id", "channel", "country", "plan", "employees"],
)


@pytest.fixture(scope="module")
def con():
    backend = ibis.duckdb.connect()
    backend.create_table("customers", pd.DataFrame({"customer_id": ["a"]}))
    yield backend
    backend.disconnect()


def _ids(con, text: str) -> list[int]:
    """Ids of the rows that the filter keeps."""
    table = ibis.memtable(ROWS)
    flt = parse_filter(text)
    kept = table.filter(flt.predicate({key: table[key] for key in flt.axes}))
    return sorted(con.execute(kept.id).tolist())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channel = 'SEO'", [1, 6]),
        ("channel != 'SEO'", [2, 3, 4, 5]),
        ("country in ('FR', 'DE')", [1, 2, 3]),
        ("country not in ('FR', 'DE')", [4, 5, 6]),
        ("channel is null", [3]),
        ("channel is not null", [1, 2, 4, 5, 6]),
        ("channel = '(none)'", [3]),
        # 3, 12, 250 and 9.5 are numbers; "many" and "(none)" are not.
        ("employees > 9.5", [2, 5]),
        ("employees >= 9.5", [2, 5, 6]),
        ("employees < 12", [1, 6]),
        ("employees <= 12", [1, 2, 6]),
        # A quoted bound compares text: "250" < "3" < "9.5", and "many" > "3".
        ("employees > '3'", [3, 6]),
        ("plan < 'C'", [1, 4, 6]),
    ],
    ids=[
        "equal",
        "not-equal",
        "in",
        "not-in",
        "is-null",
        "is-not-null",
        "none-label",
        "gt-number",
        "ge-number",
        "lt-number",
        "le-number",
        "gt-text",
        "lt-text",
    ],
)
def test_operator(con, text, expected):
    assert _ids(con, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # and binds tighter: channel = SEO or (country = DE and plan = Pro).
        ("channel = SEO or country = DE and plan = Pro", [1, 2, 6]),
        ("(channel = SEO or country = DE) and plan = Basic", [1]),
        # not binds tighter than and: (not country = FR) and plan = Pro.
        ("not country = FR and plan = Pro", [2]),
        ("not (country = FR and plan = Pro)", [1, 2, 4, 5, 6]),
        ("not not channel is null", [3]),
        ("NOT channel = SEO AND country = FR OR channel IS NULL", [3]),
        ("channel = SEO and country = FR or channel = Paid", [1, 2]),
    ],
    ids=[
        "and-over-or",
        "parentheses",
        "not-over-and",
        "not-parentheses",
        "double-not",
        "upper-case-keywords",
        "and-then-or",
    ],
)
def test_precedence(con, text, expected):
    assert _ids(con, text) == expected


def test_number_bound_skips_non_numbers(con):
    # "many" and "(none)" are neither above nor below a number, so `not`
    # keeps them.
    assert _ids(con, "not employees > 5") == [1, 3, 4]
    assert _ids(con, "employees > -1e9") == [1, 2, 5, 6]


def test_text_bound_skips_none(con):
    # "(" sorts before every letter, but a missing value is never below a bound.
    assert _ids(con, "channel < 'A'") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("channel = 'O''Brien'", "O'Brien"),
        ('channel = "O\'Brien"', "O'Brien"),
        ('plan = "Pro ""x"""', 'Pro "x"'),
        ("plan = 'Pro \"x\"'", 'Pro "x"'),
        ("channel = 'x''; DROP TABLE customers; --'", "x'; DROP TABLE customers; --"),
    ],
    ids=[
        "single-doubled",
        "double-holds-single",
        "double-doubled",
        "single-holds-double",
        "sql-text",
    ],
)
def test_quoted_value(con, text, value):
    flt = parse_filter(text)
    assert flt.literals[0][1] == value
    assert len(_ids(con, text)) == 1


def test_sql_text_is_only_a_value(con):
    assert _ids(con, "channel = 'x''; DROP TABLE customers; --'") == [5]
    assert _ids(con, "channel = 'SEO'' OR ''1''=''1'") == []
    assert "customers" in con.list_tables()


def test_bare_keyword_read_as_value(con):
    # IN and IS are country codes (India, Iceland), read as values in a list.
    assert _ids(con, "country in (FR, IN, IS)") == [1, 3, 5, 6]
    assert _ids(con, "country = IN or country = is") == [5]
    flt = parse_filter("plan = pro-monthly and cohort = 2024-03")
    assert [v for _, v, _ in flt.literals] == ["pro-monthly", "2024-03"]


def test_equality_compares_number_text(con):
    # "=" compares text, so 10 matches the label "10" and not "10.0".
    assert _ids(con, "plan = 10") == [6]
    assert _ids(con, "plan = 10.0") == []


def test_axes_and_literals():
    flt = parse_filter(
        "channel = 'SEO' and (country in (FR, 'DE') or channel != Paid) "
        "and employees > 10 and plan is null"
    )
    assert flt.axes == ["channel", "country", "employees", "plan"]
    assert flt.literals == [
        ("channel", "SEO", 10),
        ("country", "FR", 33),
        ("country", "DE", 37),
        ("channel", "Paid", 57),
    ]


def test_keyword_prefixes_stay_axis_keys():
    assert parse_filter("order = 1 and notes = x and island = y").axes == [
        "order",
        "notes",
        "island",
    ]


def test_predicate_without_column():
    flt = parse_filter("channel = SEO and plan = Pro")
    with pytest.raises(KeyError, match="No column given for filter axis plan"):
        flt.predicate({"channel": ibis.literal("SEO")})


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("channel = ", 9, "expected a value, found the end of the filter"),
        ("channel = 'SEO", 10, "unterminated quoted value; close it with '"),
        ("channel == SEO", 9, "expected a value, found '='"),
        ("plan = Pro monthly", 11, "found 'monthly'. Quote a value that contains"),
        (
            "channel = SEO and",
            17,
            "expected an axis key, 'not' or '\\(', found the end",
        ),
        ("(channel = SEO", 14, "expected '\\)', 'and' or 'or', found the end"),
        ("channel = SEO)", 13, "expected 'and', 'or' or the end of the filter"),
        ("country in ()", 12, "expected a value, found '\\)'"),
        ("country in (FR, DE", 18, "expected ',' or '\\)'"),
        ("channel is", 10, "expected 'not' or 'null'"),
        ("channel ~ SEO", 8, "found '~'"),
        ("= SEO", 0, "expected an axis key"),
        ("channel = null", 10, "null is not a value; write `is null`"),
        ("   ", 0, "the filter is empty"),
    ],
    ids=[
        "missing-value",
        "unterminated-quote",
        "double-equals",
        "unquoted-space",
        "trailing-and",
        "unclosed-parenthesis",
        "extra-parenthesis",
        "empty-list",
        "unclosed-list",
        "is-without-null",
        "unknown-operator",
        "missing-axis",
        "bare-null",
        "blank",
    ],
)
def test_syntax_error_position(text, position, reason):
    with pytest.raises(FilterError, match=reason) as caught:
        parse_filter(text)
    assert caught.value.position == position
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"Invalid filter at column {position + 1}: ")
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * position + "^"


def test_syntax_error_on_second_line():
    text = "channel = SEO\n  and country ~ FR"
    with pytest.raises(FilterError, match="at line 2, column 15") as caught:
        parse_filter(text)
    assert caught.value.position == 28
    assert str(caught.value).splitlines()[1:] == [
        "    and country ~ FR",
        "  " + " " * 14 + "^",
    ]


def test_filter_error_is_input_error():
    with pytest.raises(InputError, match="Invalid filter"):
        parse_filter("channel =")


REGISTRY = dict(NATIVE_AXES)
KNOWN = {
    "country": {"FR", "DE", "US", "(none)"},
    "plan": {"Pro monthly", "Pro annual", "Pro", "Basic", "Enterprise"},
}


def test_check_filter_accepts_known_values():
    flt = parse_filter("country in (FR, DE) and not plan = Pro")
    assert check_filter(flt, REGISTRY, KNOWN) is None


def test_check_filter_unknown_axis():
    flt = parse_filter("country = FR and contry = DE")
    with pytest.raises(FilterError, match="unknown axis 'contry'") as caught:
        check_filter(flt, REGISTRY, KNOWN)
    assert caught.value.position == 17
    message = str(caught.value)
    assert "Did you mean 'country'?" in message
    assert "Known axes: product, plan, interval, currency, country," in message
    assert message.splitlines()[2] == "  " + " " * 17 + "^"


def test_check_filter_axis_no_match():
    flt = parse_filter("zzz = 1")
    with pytest.raises(FilterError, match="unknown axis 'zzz'") as caught:
        check_filter(flt, REGISTRY, KNOWN)
    assert "Did you mean" not in str(caught.value)


def test_check_filter_unknown_value():
    flt = parse_filter("country = FR and plan in (Basic, pro)")
    with pytest.raises(FilterError, match="axis 'plan' has no value 'pro'") as caught:
        check_filter(flt, REGISTRY, KNOWN)
    assert caught.value.position == 33
    message = str(caught.value)
    # At most five close values, best first; "Pro" matches whole.
    assert "Close values: 'Pro', " in message
    assert "'Basic'" not in message.splitlines()[0].split("Close values:")[1]
    assert "Values are case-sensitive" in message


def test_check_filter_unknown_value_in_not_equal():
    flt = parse_filter("country != 'fr'")
    with pytest.raises(FilterError, match="Close values: 'FR'"):
        check_filter(flt, REGISTRY, KNOWN)


def test_check_filter_skips_bounds():
    # Bounds of < and > need not be labels, and `currency` has no known values.
    flt = parse_filter("plan > M and currency = XYZ and country is null")
    assert check_filter(flt, REGISTRY, KNOWN) is None


def test_check_filter_axis_first():
    flt = parse_filter("country = XX and plna = Pro")
    with pytest.raises(FilterError, match="unknown axis 'plna'. Did you mean 'plan'"):
        check_filter(flt, REGISTRY, KNOWN)
