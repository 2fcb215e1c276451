"""Filter expressions over axis values, such as
`channel = 'SEO' and country in (FR, DE) and not plan = 'Basic'`.

Grammar, from the loosest binding to the tightest::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | condition
    condition  := AXIS ("=" | "!=" | "<" | "<=" | ">" | ">=") value
                | AXIS ["not"] "in" "(" value ("," value)* ")"
                | AXIS "is" ["not"] "null"
    value      := 'single-quoted' | "double-quoted" | bare word | number

Keywords are case-insensitive. A doubled quote inside a quoted value stands for
one quote ('O''Brien'), and nothing else is an escape. A bare value is a run of
characters without spaces, quotes, parentheses, commas or the signs = ! < >.
The lexer is contextual, so a keyword is recognised only where the grammar
accepts one, and a bare word in a value position is always a value:
`country in (FR, IN, IS)` names India and Iceland. The one exception is a bare
`null`, which is rejected as a value because `x = null` reads like `x is null`.

Every column is text, with "(none)" for a missing value. `=`, `!=`, `in` and
`not in` compare text exactly (case-sensitive) and treat "(none)" like any other
label. `<`, `<=`, `>` and `>=` compare numbers when the value is a bare number
and text otherwise, and are false for "(none)" and, when numeric, for labels
that are not numbers. The predicate is an Ibis expression, so a value is always
a bound literal and never SQL text.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ibis
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from rapidfuzz import fuzz, process, utils

from revaxis._axes import NONE_LABEL
from revaxis._errors import InputError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from revaxis._axes import Axis

_GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: negation
         | _LPAR or_expr _RPAR
         | condition
negation: _NOT not_expr

condition: AXIS OPERATOR value          -> compare
          | AXIS _IN value_list          -> member
          | AXIS _NOT _IN value_list     -> non_member
          | AXIS _IS _NULL               -> is_null
          | AXIS _IS _NOT _NULL          -> is_not_null

value_list: _LPAR value (_COMMA value)* _RPAR
?value: STRING | WORD

// Keywords outrank AXIS where both are accepted; \b keeps `order` or `nothing`
// whole.
_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_IS.2: /is\b/i
_NULL.2: /null\b/i

AXIS: /[A-Za-z_][A-Za-z0-9_]*/
OPERATOR: "!=" | "<=" | ">=" | "=" | "<" | ">"
STRING: /'(?:[^']|'')*'/ | /"(?:[^"]|"")*"/
WORD: /[^\s'"(),=!<>]+/
_LPAR: "("
_RPAR: ")"
_COMMA: ","

%ignore /\s+/
"""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# Name of each terminal in error messages, which list them in this order.
_TERMINAL_NAMES = {
    "AXIS": "an axis key",
    "_NOT": "'not'",
    "_LPAR": "'('",
    "OPERATOR": "a comparison (=, !=, <, <=, >, >=)",
    "_IN": "'in'",
    "_IS": "'is'",
    "_NULL": "'null'",
    "STRING": "a value",
    "WORD": "a value",
    "_COMMA": "','",
    "_RPAR": "')'",
    "_AND": "'and'",
    "_OR": "'or'",
    "$END": "the end of the filter",
}

_ORDERING: dict[str, Callable[[ir.Value, ir.Value], ir.BooleanValue]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

# rapidfuzz scores run from 0 to 100. An axis key is suggested from 75
# ("plna" for "plan" scores 75), a value from 70 with WRatio, which also
# scores a value that is part of a longer label ("Pro" in "Pro monthly").
AXIS_MATCH_CUTOFF = 75
VALUE_MATCH_CUTOFF = 70
MAX_VALUE_SUGGESTIONS = 5


class FilterError(InputError):
    """A filter that cannot be parsed or names an unknown axis or value.

    `position` is the 0-based offset in `text` where the problem is; the
    message shows the line of the filter with a caret under that position.
    """

    def __init__(self, reason: str, text: str, position: int) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        super().__init__(_with_caret(reason, text, position))


def _with_caret(reason: str, text: str, position: int) -> str:
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    if line_end == -1:
        line_end = len(text)
    column = position - line_start
    if "\n" in text:
        line_number = text.count("\n", 0, position) + 1
        place = f"line {line_number}, column {column + 1}"
    else:
        place = f"column {column + 1}"
    # A tab is shown as one space so that the caret stays under its character.
    shown = text[line_start:line_end].replace("\t", " ")
    return f"Invalid filter at {place}: {reason}\n  {shown}\n  {' ' * column}^"


# Syntax tree ------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A value as written in the filter: its text (quotes removed), its number
    when it is a bare number, and its 0-based offset in the filter."""

    text: str
    number: float | None
    position: int


@dataclass(frozen=True)
class Comparison:
    """One condition on an axis. `operator` is one of =, !=, <, <=, >, >=, in,
    not in, is null, is not null; `values` is empty for the null tests."""

    axis: str
    position: int
    operator: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class And:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition = Comparison | And | Or | Not

EQUALITY_OPERATORS = frozenset({"=", "!=", "in", "not in"})


@dataclass(frozen=True)
class Filter:
    """A parsed filter: the text it was read from and its syntax tree."""

    text: str
    condition: Condition

    def comparisons(self) -> Iterator[Comparison]:
        """Yield every condition on an axis, in order of appearance."""
        return _walk(self.condition)

    @property
    def axes(self) -> list[str]:
        """Axis keys the filter names, in order of first appearance."""
        return list(dict.fromkeys(c.axis for c in self.comparisons()))

    @property
    def literals(self) -> list[tuple[str, str, int]]:
        """(axis key, value, offset) of every value compared for equality (=, !=,
        in, not in), the values that should exist on their axis. Bounds of
        <, <=, > and >= are left out because they need not be labels."""
        return [
            (c.axis, value.text, value.position)
            for c in self.comparisons()
            if c.operator in EQUALITY_OPERATORS
            for value in c.values
        ]

    def predicate(self, columns: Mapping[str, ir.StringValue]) -> ir.BooleanValue:
        """Build the filter as a boolean Ibis expression over one text column per
        axis key; a null in a column counts as "(none)".

        Raises KeyError when `columns` lacks an axis that the filter names.
        """
        missing = [key for key in self.axes if key not in columns]
        if missing:
            raise KeyError(f"No column given for filter axis {', '.join(missing)}.")
        filled = {key: columns[key].fill_null(NONE_LABEL) for key in self.axes}
        return _build(self.condition, filled)


def _walk(condition: Condition) -> Iterator[Comparison]:
    if isinstance(condition, Comparison):
        yield condition
    elif isinstance(condition, Not):
        yield from _walk(condition.part)
    else:
        for part in condition.parts:
            yield from _walk(part)


# Parsing ----------------------------------------------------------------------


@functools.cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)


def parse_filter(text: str) -> Filter:
    """Parse a filter expression; raise FilterError with the offset of the first
    problem."""
    if not text.strip():
        raise FilterError(
            "the filter is empty; write a condition such as channel = 'SEO'.", text, 0
        )
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    return Filter(text, _condition(tree, text))


def _syntax_error(exc: UnexpectedInput, text: str) -> FilterError:
    position: int
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        found = text[position]
        if found in "'\"":
            return FilterError(
                f"unterminated quoted value; close it with {found}.", text, position
            )
        found = repr(found)
        found_type = None
    else:
        assert isinstance(exc, UnexpectedToken)
        token = exc.token
        found_type = token.type
        if token.type == "$END":
            position = len(text.rstrip())
            found = "the end of the filter"
        else:
            position = token.start_pos or 0
            found = repr(str(token))
    accepted = _accepted_at(text, position)
    reason = f"expected {_describe(accepted)}, found {found}."
    if "_AND" in accepted and found_type in ("AXIS", "WORD"):
        reason += " Quote a value that contains spaces: 'Pro monthly'."
    return FilterError(reason, text, position)


def _accepted_at(text: str, position: int) -> set[str]:
    """Terminals the parser accepts after `text[:position]`.

    The expected set that lark attaches to an error comes from an LALR state
    that several contexts can share, such as a value inside a list and a value
    after `=`. That set may list tokens that cannot follow here, so the prefix
    is replayed to get the exact set.
    """
    interactive = _parser().parse_interactive(text[:position])
    try:
        interactive.exhaust_lexer()
    except UnexpectedInput:
        return set()
    return set(interactive.accepts())


def _describe(terminals: set[str]) -> str:
    names = list(
        dict.fromkeys(
            _TERMINAL_NAMES[name] for name in _TERMINAL_NAMES if name in terminals
        )
    )
    if not names:
        return "a condition"
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _condition(tree: Tree | Token, text: str) -> Condition:
    assert isinstance(tree, Tree)
    kind = tree.data
    if kind == "or_expr":
        return Or(tuple(_condition(child, text) for child in tree.children))
    if kind == "and_expr":
        return And(tuple(_condition(child, text) for child in tree.children))
    if kind == "negation":
        return Not(_condition(tree.children[0], text))
    axis = tree.children[0]
    assert isinstance(axis, Token)
    position = axis.start_pos or 0
    if kind == "compare":
        op, value = tree.children[1], tree.children[2]
        assert isinstance(op, Token) and isinstance(value, Token)
        return Comparison(str(axis), position, str(op), (_value(value, text),))
    if kind in ("member", "non_member"):
        items = tree.children[-1]
        assert isinstance(items, Tree)
        values = tuple(_value(item, text) for item in items.children)  # type: ignore[arg-type]
        name = "in" if kind == "member" else "not in"
        return Comparison(str(axis), position, name, values)
    name = "is null" if kind == "is_null" else "is not null"
    return Comparison(str(axis), position, name, ())


def _value(token: Token, text: str) -> Value:
    position = token.start_pos or 0
    raw = str(token)
    if token.type == "STRING":
        quote = raw[0]
        return Value(raw[1:-1].replace(quote * 2, quote), None, position)
    if raw.lower() == "null":
        raise FilterError(
            "null is not a value; write `is null` to match a missing value, or "
            "'null' in quotes to match that text.",
            text,
            position,
        )
    number = float(raw) if _NUMBER.fullmatch(raw) else None
    return Value(raw, number, position)


# Ibis predicate ----------------------------------------------------------------


def _build(
    condition: Condition, columns: Mapping[str, ir.StringValue]
) -> ir.BooleanValue:
    if isinstance(condition, And):
        parts = [_build(part, columns) for part in condition.parts]
        return functools.reduce(operator.and_, parts)
    if isinstance(condition, Or):
        parts = [_build(part, columns) for part in condition.parts]
        return functools.reduce(operator.or_, parts)
    if isinstance(condition, Not):
        return ~_build(condition.part, columns)
    return _compare(condition, columns[condition.axis])


def _compare(condition: Comparison, column: ir.StringValue) -> ir.BooleanValue:
    op = condition.operator
    texts = [ibis.literal(v.text, type="string") for v in condition.values]
    if op == "=":
        return column == texts[0]
    if op == "!=":
        return column != texts[0]
    if op == "in":
        return column.isin(texts)
    if op == "not in":
        return ~column.isin(texts)
    if op == "is null":
        return column == NONE_LABEL
    if op == "is not null":
        return column != NONE_LABEL
    compare = _ORDERING[op]
    bound = condition.values[0]
    if bound.number is None:
        result = (column != NONE_LABEL) & compare(column, texts[0])
    else:
        # TRY_CAST gives null for a label that is not a number, and NaN is
        # left out because some engines sort it above every number.
        number = column.try_cast("float64")
        result = (
            number.notnull()
            & ~number.isnan()
            & compare(number, ibis.literal(bound.number, type="float64"))
        )
    # Null-free columns give no null here, but the filter must stay two-valued
    # under `not` on any engine.
    return result.fill_null(False)


# Checks against the workspace ---------------------------------------------------


def check_filter(
    flt: Filter,
    registry: Mapping[str, Axis],
    known_values: Mapping[str, set[str]],
) -> None:
    """Raise FilterError at the first axis the registry lacks, then at the first
    equality value (see `Filter.literals`) that is not among `known_values` of
    its axis. An axis missing from `known_values` is not checked for values."""
    for comparison in flt.comparisons():
        if comparison.axis not in registry:
            raise FilterError(
                _unknown_axis_reason(comparison.axis, registry),
                flt.text,
                comparison.position,
            )
    for key, value, position in flt.literals:
        known = known_values.get(key)
        if known is None or value in known:
            continue
        raise FilterError(_unknown_value_reason(key, value, known), flt.text, position)


def _unknown_axis_reason(key: str, registry: Mapping[str, Axis]) -> str:
    known = ", ".join(registry)
    match = process.extractOne(
        key,
        list(registry),
        scorer=fuzz.ratio,
        processor=utils.default_process,
        score_cutoff=AXIS_MATCH_CUTOFF,
    )
    hint = f" Did you mean {match[0]!r}?" if match else ""
    return f"unknown axis {key!r}.{hint} Known axes: {known}."


def _unknown_value_reason(key: str, value: str, known: set[str]) -> str:
    matches = process.extract(
        value,
        sorted(known),
        scorer=fuzz.WRatio,
        processor=utils.default_process,
        score_cutoff=VALUE_MATCH_CUTOFF,
        limit=MAX_VALUE_SUGGESTIONS,
    )
    if matches:
        close = ", ".join(repr(m[0]) for m in matches)
        hint = f" Close values: {close}."
    else:
        hint = ""
    return (
        f"axis {key!r} has no value {value!r}.{hint} Values are case-sensitive; "
        f"list them with `revaxis axes preview {key}`."
    )
