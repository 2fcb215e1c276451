"""Mapping files: TOML that names the source column, constant, template or
case that feeds each canonical field of a billing export, and the rows to keep.

The format is described in docs/import.md. `load_mapping` reads a file or a
mapping shipped in `revaxis/mappings`. Every error in the file itself is an
InputError that names the file, the key and the fix.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import re
import string
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from revaxis._errors import InputError
from revaxis._schema import IMPORT_ORDER, TABLES
from revaxis._validate import METADATA_PREFIX

_CONDITION_OPERATORS = ("equals", "not_equals", "in", "not_in", "matches")
_FIELD_SOURCES = ("column", "value", "template", "cases")
_FIELD_OPTIONS = {
    *_FIELD_SOURCES,
    "map",
    "default",
    "trim",
    "date_format",
    "decimal_comma",
}
# Thousands separators that a number written with a decimal comma may carry:
# spaces (plain, no-break, narrow no-break), dots and apostrophes.
_THOUSANDS = r"[\s\u00a0\u202f.']"
_SOURCE_OPTIONS = {"delimiter", "encoding", "sheet"}


@dataclass(frozen=True)
class Condition:
    """A test of one source column: equals, not_equals, in, not_in or matches (a
    regular expression that matches the whole value)."""

    column: str
    operator: str
    operand: str | tuple[str, ...]
    trim: bool = True


@dataclass(frozen=True)
class FieldSource:
    """The source of a canonical field's values: a column, a constant, a
    template over columns, or the first matching case."""

    key: str
    column: str | None = None
    value: str | None = None
    template: str | None = None
    cases: tuple[tuple[Condition, str], ...] = ()
    value_map: dict[str, str] | None = None
    default: str | None = None
    trim: bool = True
    date_format: str | None = None
    decimal_comma: bool = False

    def columns(self) -> list[str]:
        """Source columns that the field reads."""
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return _template_columns(self.template)
        return [condition.column for condition, _ in self.cases]


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file: source options, row filters and, per canonical
    table, the source of each field."""

    origin: str
    options: dict[str, str]
    filters: tuple[Condition, ...]
    tables: dict[str, dict[str, FieldSource]]


def packaged_mappings() -> list[str]:
    """Names of the mappings shipped with revaxis."""
    folder = resources.files("revaxis") / "mappings"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_mapping(mapping: str | os.PathLike[str]) -> Mapping:
    """Read a mapping from a TOML file, or a shipped mapping by its bare name."""
    text = os.fspath(mapping)
    bare = Path(text).name == text and not text.endswith(".toml")
    if bare:
        packaged = resources.files("revaxis") / "mappings" / f"{text}.toml"
        if packaged.is_file():
            return parse_mapping(packaged.read_text(encoding="utf-8"), f"{text}.toml")
    path = Path(text)
    if not path.is_file():
        raise InputError(
            f"Mapping {text!r} not found: give the path of a TOML mapping file or "
            f"the name of a shipped mapping ({', '.join(packaged_mappings())})."
        )
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"Mapping {path} is not UTF-8 text ({exc}): save it as UTF-8."
        ) from None
    return parse_mapping(content, str(path))


def parse_mapping(text: str, origin: str) -> Mapping:
    """Parse and check a mapping; `origin` names the file in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"Mapping {origin} is not valid TOML: {exc}.") from None
    allowed = ["source", "filter", *IMPORT_ORDER]
    for key in document:
        if key not in allowed:
            raise mapping_error(
                origin,
                key,
                "is not a canonical table or a mapping section",
                f"use one of: {', '.join(allowed)}",
            )
    options = _parse_source_options(origin, document.get("source", {}))
    filters = _parse_filters(origin, document.get("filter", []))
    tables = {
        name: _parse_table(origin, name, document[name])
        for name in IMPORT_ORDER
        if name in document
    }
    if not tables:
        raise mapping_error(
            origin,
            "(top level)",
            "maps no table",
            "add an [invoice_lines] or [customers] section with one entry per field",
        )
    return Mapping(origin, options, filters, tables)


def mapping_error(origin: str, key: str, problem: str, fix: str) -> InputError:
    return InputError(f"Mapping {origin}: {key} {problem}; {fix}.")


def _parse_source_options(origin: str, raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise mapping_error(origin, "source", "is not a table", "write [source]")
    for key, value in raw.items():
        if key not in _SOURCE_OPTIONS:
            raise mapping_error(
                origin,
                f"source.{key}",
                "is not a source option",
                f"use {', '.join(sorted(_SOURCE_OPTIONS))}",
            )
        if not isinstance(value, str) or not value:
            raise mapping_error(
                origin, f"source.{key}", "is not a text value", "write it in quotes"
            )
    encoding = raw.get("encoding")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise mapping_error(
                origin,
                "source.encoding",
                f"names the unknown encoding {encoding!r}",
                "use a Python codec name such as utf-8, latin-1 or cp1252",
            ) from None
    return dict(raw)


def _parse_filters(origin: str, raw: object) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        raise mapping_error(
            origin, "filter", "is not a list of tables", "write each as [[filter]]"
        )
    filters = []
    for number, entry in enumerate(raw, start=1):
        key = f"filter {number}"
        if not isinstance(entry, dict):
            raise mapping_error(origin, key, "is not a table", "write [[filter]]")
        extra = set(entry) - {"column", "trim", *_CONDITION_OPERATORS}
        if extra:
            raise mapping_error(
                origin,
                key,
                f"has unknown key(s) {', '.join(sorted(extra))}",
                f"use column, trim and one of {', '.join(_CONDITION_OPERATORS)}",
            )
        filters.append(_parse_condition(origin, key, entry))
    return tuple(filters)


def _parse_condition(origin: str, key: str, entry: dict[str, Any]) -> Condition:
    column = entry.get("column")
    if not isinstance(column, str) or not column:
        raise mapping_error(
            origin, key, "has no column", 'name the source column: column = "..."'
        )
    operators = [op for op in _CONDITION_OPERATORS if op in entry]
    if len(operators) != 1:
        raise mapping_error(
            origin,
            key,
            f"needs exactly one test, found {len(operators)}",
            f"use one of {', '.join(_CONDITION_OPERATORS)}",
        )
    operator = operators[0]
    operand: str | tuple[str, ...]
    if operator in ("in", "not_in"):
        values = entry[operator]
        if not isinstance(values, list) or not values:
            raise mapping_error(
                origin, f"{key}.{operator}", "is not a list", 'write ["a", "b"]'
            )
        operand = tuple(_text_value(origin, f"{key}.{operator}", v) for v in values)
    else:
        operand = _text_value(origin, f"{key}.{operator}", entry[operator])
        if operator == "matches":
            try:
                re.compile(operand)
            except re.error as exc:
                raise mapping_error(
                    origin,
                    f"{key}.matches",
                    f"is not a valid regular expression ({exc})",
                    "write a Python regular expression",
                ) from None
    trim = entry.get("trim", True)
    if not isinstance(trim, bool):
        raise mapping_error(
            origin, f"{key}.trim", "is not true or false", "write trim = false"
        )
    return Condition(column, operator, operand, trim)


def _text_value(origin: str, key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise mapping_error(
            origin, key, f"is {value!r}, not a text or a number", "write it in quotes"
        )
    return str(value)


def _parse_table(origin: str, table: str, raw: object) -> dict[str, FieldSource]:
    spec = TABLES[table]
    if not isinstance(raw, dict):
        raise mapping_error(origin, table, "is not a table", f"write [{table}]")
    entries: dict[str, object] = {}
    for name, value in raw.items():
        if name == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                entries[f"{METADATA_PREFIX}{meta_key}"] = meta_value
        else:
            entries[name] = value
    fields = {}
    for name, value in entries.items():
        key = f"{table}.{name}"
        if name.startswith(METADATA_PREFIX):
            if spec.metadata_entity is None:
                raise mapping_error(
                    origin,
                    key,
                    f"is a metadata field, and {table} has no metadata",
                    "map metadata in customers, products, plans or subscriptions",
                )
        elif name not in spec.columns:
            extra = ", metadata.<key>" if spec.metadata_entity else ""
            raise mapping_error(
                origin,
                key,
                f"is not a field of {table}",
                f"use one of {', '.join(spec.columns)}{extra}",
            )
        fields[name] = _parse_field(origin, key, value, spec.columns.get(name))
    missing = [c for c in spec.required if c not in fields]
    if missing:
        raise mapping_error(
            origin,
            f"[{table}]",
            f"has no source for the required field(s) {', '.join(missing)}",
            f'add for example {missing[0]} = {{column = "..."}}',
        )
    return fields


def _parse_field(
    origin: str, key: str, raw: object, sql_type: str | None
) -> FieldSource:
    kind = _field_source_kind(origin, key, raw)
    assert isinstance(raw, dict)

    trim = raw.get("trim", True)
    if not isinstance(trim, bool):
        raise mapping_error(
            origin, f"{key}.trim", "is not true or false", "write trim = false"
        )
    date_format = raw.get("date_format")
    if date_format is not None and (
        sql_type != "DATE" or not isinstance(date_format, str)
    ):
        raise mapping_error(
            origin,
            f"{key}.date_format",
            'applies only to a date field, as a text such as "%d/%m/%Y"',
            "remove it, or move it to a date field",
        )
    decimal_comma = raw.get("decimal_comma", False)
    if not isinstance(decimal_comma, bool) or (decimal_comma and sql_type != "DOUBLE"):
        raise mapping_error(
            origin,
            f"{key}.decimal_comma",
            "applies only to a number field, as true or false",
            "remove it, or move it to a number field such as amount",
        )
    default = raw.get("default")
    if default is not None:
        default = _text_value(origin, f"{key}.default", default)
    value_map = _parse_value_map(origin, key, raw.get("map"))
    if (value_map is not None or default is not None) and kind == "value":
        raise mapping_error(
            origin, key, "maps a constant value", "remove map and default"
        )

    source = FieldSource(
        key,
        trim=trim,
        date_format=date_format,
        decimal_comma=decimal_comma,
        value_map=value_map,
        default=default,
    )
    if kind == "cases":
        return dataclasses.replace(source, cases=_parse_cases(origin, key, raw[kind]))
    text = _text_value(origin, f"{key}.{kind}", raw[kind])
    if kind == "template":
        _check_template(origin, f"{key}.template", text)
        return dataclasses.replace(source, template=text)
    if kind == "value":
        return dataclasses.replace(source, value=text)
    return dataclasses.replace(source, column=text)


def _field_source_kind(origin: str, key: str, raw: object) -> str:
    """Check the keys of a field entry; return its source: column, value,
    template or cases."""
    if not isinstance(raw, dict):
        raise mapping_error(
            origin,
            key,
            f"is {raw!r}, not a table",
            'write {column = "..."}, {value = "..."}, {template = "..."} or '
            "{cases = [...], default = ...}",
        )
    unknown = set(raw) - _FIELD_OPTIONS
    if unknown:
        raise mapping_error(
            origin,
            key,
            f"has unknown option(s) {', '.join(sorted(unknown))}",
            f"use {', '.join(sorted(_FIELD_OPTIONS))}",
        )
    kinds = [s for s in _FIELD_SOURCES if s in raw]
    if len(kinds) != 1:
        raise mapping_error(
            origin,
            key,
            f"needs exactly one of {', '.join(_FIELD_SOURCES)}, found {len(kinds)}",
            "keep one of them",
        )
    return kinds[0]


def _check_template(origin: str, key: str, template: str) -> None:
    try:
        columns = _template_columns(template)
    except ValueError as exc:
        raise mapping_error(
            origin,
            key,
            f"is invalid ({exc})",
            'write plain column names in braces, such as "{InvoiceID}-{LineNum}"',
        ) from None
    if not columns:
        raise mapping_error(
            origin,
            key,
            "names no column",
            'write column names in braces, such as "{InvoiceID}-{LineNum}"',
        )


def _parse_value_map(origin: str, key: str, raw: object) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise mapping_error(
            origin, f"{key}.map", "is not a table of values", 'write {"a" = "b"}'
        )
    return {str(k): _text_value(origin, f"{key}.map.{k}", v) for k, v in raw.items()}


def _parse_cases(
    origin: str, key: str, raw: object
) -> tuple[tuple[Condition, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise mapping_error(
            origin,
            f"{key}.cases",
            "is not a list of tables",
            'write [{column = "...", equals = "...", value = "..."}]',
        )
    cases = []
    for number, entry in enumerate(raw, start=1):
        case_key = f"{key}.cases[{number}]"
        if not isinstance(entry, dict) or "value" not in entry:
            raise mapping_error(
                origin, case_key, "has no value", 'add value = "..." to the case'
            )
        extra = set(entry) - {"column", "trim", "value", *_CONDITION_OPERATORS}
        if extra:
            raise mapping_error(
                origin,
                case_key,
                f"has unknown key(s) {', '.join(sorted(extra))}",
                "use column, trim, value and one test",
            )
        condition = _parse_condition(origin, case_key, entry)
        cases.append((condition, _text_value(origin, case_key, entry["value"])))
    return tuple(cases)


def _template_columns(template: str) -> list[str]:
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or spec or conversion:
            raise ValueError(f"{{{name}}} is not a plain column name")
        names.append(name)
    return names


# Applying a mapping ---------------------------------------------------------


class SourceColumns:
    """Source columns of one chunk as text, trimmed on request."""

    def __init__(self, chunk: pd.DataFrame) -> None:
        self.chunk = chunk
        self.trimmed: dict[str, pd.Series] = {}

    def get(self, column: str, trim: bool) -> pd.Series:
        if not trim:
            return self.chunk[column].astype(str)
        if column not in self.trimmed:
            # A regular expression, so that Unicode spaces go too.
            self.trimmed[column] = (
                self.chunk[column].astype(str).str.replace(r"^\s+|\s+$", "", regex=True)
            )
        return self.trimmed[column]

    def test(self, condition: Condition) -> pd.Series:
        values = self.get(condition.column, condition.trim)
        operand = condition.operand
        if condition.operator == "equals":
            return values == operand
        if condition.operator == "not_equals":
            return values != operand
        if condition.operator == "in":
            return values.isin(operand)
        if condition.operator == "not_in":
            return ~values.isin(operand)
        return values.str.fullmatch(str(operand))

    def values(self, source: FieldSource) -> pd.Series:
        index = self.chunk.index
        if source.value is not None:
            return pd.Series(source.value, index=index, dtype=object)
        if source.column is not None:
            values = self.get(source.column, source.trim)
        elif source.template is not None:
            values = self._render(source.template, source.trim)
        else:
            values = pd.Series(source.default or "", index=index, dtype=object)
            for condition, output in reversed(source.cases):
                values = values.mask(self.test(condition), output)
            return values
        if source.value_map is not None:
            mapped = values.map(source.value_map)
            fallback = values if source.default is None else source.default
            values = mapped.where(mapped.notna(), fallback)
        if source.date_format is not None:
            parsed = pd.to_datetime(values, format=source.date_format, errors="coerce")
            values = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), values)
        if source.decimal_comma:
            # "1 234,50" and "1.234,50" become "1234.50"; a value with a dot
            # after its comma is left as it is, so validation reports it.
            text = values.astype("string")
            european = ~text.str.contains(r",.*\.", regex=True, na=False)
            converted = text.str.replace(_THOUSANDS, "", regex=True).str.replace(
                ",", ".", regex=False
            )
            values = converted.where(european, text).astype(object)
        return values

    def _render(self, template: str, trim: bool) -> pd.Series:
        out = pd.Series("", index=self.chunk.index, dtype=object)
        for literal, name, _, _ in string.Formatter().parse(template):
            if literal:
                out = out + literal
            if name:
                out = out + self.get(name, trim)
        return out


def check_columns(mapping: Mapping, columns: list[str], file: str) -> None:
    """Raise an InputError that lists every mapping key naming a column that the
    source does not have."""
    named: list[tuple[str, str]] = []
    for number, condition in enumerate(mapping.filters, start=1):
        named.append((f"filter {number}", condition.column))
    for fields in mapping.tables.values():
        for source in fields.values():
            named.extend((source.key, column) for column in source.columns())
    missing = [(key, column) for key, column in named if column not in columns]
    if missing:
        listed = "; ".join(f"{key} reads column {col!r}" for key, col in missing)
        raise InputError(
            f"Mapping {mapping.origin}: {listed}, and {file} has no such column. "
            f"Its columns are: {', '.join(columns)}. Fix the column names in the "
            "mapping."
        )
