"""Axis management on a Workspace: the registry of native and custom axes, values
set by hand or from a file, and label rules with their preview."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import pandas as pd
import re2

from revaxis import _axes, _custom_axes, _storage
from revaxis._axes import NONE_LABEL, SENTINEL_START, Rule
from revaxis._errors import ImportRejected, InputError, Problem, UnknownAxisError

if TYPE_CHECKING:
    import ibis.expr.types as ir

RULE_KINDS = ("map", "regex")


class RuleError(InputError):
    """An invalid label rule; `field` is kind, pattern or label."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def check_rule(kind: str, pattern: str, label: str) -> Rule:
    """Return the label rule, with its label trimmed, or raise RuleError."""
    if kind not in RULE_KINDS:
        raise RuleError(
            f"Invalid rule kind {kind!r}: use {' or '.join(RULE_KINDS)}.", "kind"
        )
    if not pattern:
        raise RuleError("A rule needs a pattern to match.", "pattern")
    if not label.strip():
        raise RuleError("A rule needs a clean label after '='.", "label")
    if kind == "regex":
        try:
            _axes.compile_regex(pattern)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            if isinstance(reason, bytes):
                reason = reason.decode(errors="replace")
            raise RuleError(
                f"Invalid regular expression {pattern!r}: {reason}. Rules use "
                "RE2 syntax: Python's, without backreferences or lookaround.",
                "pattern",
            ) from None
    return Rule(kind, pattern, label.strip())


_ENTITY_SOURCES = {
    "customer": [("customers", "customer_id"), ("invoice_lines", "customer_id")],
    "subscription": [
        ("subscriptions", "subscription_id"),
        ("invoice_lines", "subscription_id"),
    ],
    "product": [
        ("products", "product_id"),
        ("invoice_lines", "product_id"),
        ("plans", "product_id"),
    ],
    "plan": [("plans", "plan_id"), ("invoice_lines", "plan_id")],
}


class AxisAdmin:
    """Axis registry and values; mixed into Workspace."""

    con: ibis.BaseBackend

    def table(self, name: str) -> ir.Table:  # pragma: no cover - Workspace has it
        raise NotImplementedError

    # Registry -----------------------------------------------------------------

    def _axis_specs(self) -> list[_custom_axes.AxisSpec]:
        frame = self.con.table("axes").execute()
        return _custom_axes.specs_from_frame(frame)

    def _rules(self) -> dict[str, list[Rule]]:
        frame = self.con.table("axis_rules").order_by("position").execute()
        out: dict[str, list[Rule]] = {}
        for row in frame.itertuples(index=False):
            out.setdefault(row.axis_key, []).append(
                Rule(row.kind, row.pattern, row.label)
            )
        return out

    def axes_registry(self) -> dict[str, _axes.Axis]:
        """Return every axis of the workspace by key, native ones first, then
        custom ones in the order they were created, each with its label rules."""
        registry = dict(_axes.NATIVE_AXES)
        registry["churn_reason"] = _custom_axes.churn_reason_axis(
            self.table("subscriptions")
        )
        metadata = self.table("metadata")
        specs = self._axis_specs()
        levels = _custom_axes.derived_levels(specs, registry)
        for spec in specs:
            # Workspaces written before derived axes took their parent's level
            # store `customer` for an axis derived from a line axis.
            spec = replace(spec, level=levels.get(spec.key, spec.level))
            registry[spec.key] = _custom_axes.build_axis(spec, metadata)
        rules = self._rules()
        return {
            key: _custom_axes.with_rules(axis, rules.get(key, []))
            for key, axis in registry.items()
        }

    def metadata_keys(self, level: str) -> list[str]:
        """Metadata keys that entities of `level` carry, sorted."""
        md = self.table("metadata")
        keys = md.filter(md.entity == level).key.execute()
        return sorted(set(keys.dropna().tolist()))

    def metadata_candidates(self) -> pd.DataFrame:
        """Return one row per metadata key that no axis reads yet: its level,
        the `metadata.<key>` source that `create_axis` takes, and the number of
        entities and distinct values that carry it."""
        md = self.table("metadata")
        counts = (
            md.group_by(["entity", "key"])
            .aggregate(entities=md.entity_id.nunique(), values=md.value.nunique())
            .order_by(["entity", "key"])
            .execute()
        )
        used = {(spec.level, spec.source) for spec in self._axis_specs()}
        rows = [
            {
                "level": row.entity,
                "source": f"metadata.{row.key}",
                "entities": int(row.entities),
                "values": int(row.values),
            }
            for row in counts.itertuples(index=False)
            if (row.entity, f"metadata.{row.key}") not in used
        ]
        return pd.DataFrame(rows, columns=["level", "source", "entities", "values"])

    def create_axis(
        self,
        key: str,
        *,
        label: str | None = None,
        level: str | None = None,
        value_type: str = "category",
        source: str = "manual",
        parent: str | None = None,
        buckets: Sequence[float] | None = None,
    ) -> None:
        """Register a custom axis.

        `source` is `metadata.<key>` (read from the billing metadata of the
        level's entity on every report) or `manual` (values set with
        `set_axis_value` or `import_axis_values`). `level` defaults to
        `customer`. With `parent`, the axis groups the values of another axis
        through its own label rules, or into `buckets` when the parent is a
        number axis. It then takes the parent's level (`line` for a native line
        axis such as plan), and a different `level` raises InputError.
        """
        registry = self.axes_registry()
        if parent is not None and parent in registry:
            parent_level = registry[parent].level
            if level is not None and level != parent_level:
                raise InputError(
                    f"Invalid level {level!r} for axis {key!r}: an axis derived "
                    f"from {parent!r} takes its {parent_level} level. Leave out "
                    "the level."
                )
            level = parent_level
            source = f"derived from {parent}"
        spec = _custom_axes.AxisSpec(
            key=key,
            label=label or key.replace("_", " ").capitalize(),
            level=level or "customer",
            value_type=value_type,
            source=source,
            parent=parent,
            buckets=tuple(buckets or ()),
        )
        _custom_axes.check_spec(spec, registry)
        row = pd.DataFrame(
            [
                {
                    "key": spec.key,
                    "label": spec.label,
                    "level": spec.level,
                    "value_type": spec.value_type,
                    "source": spec.source,
                    "parent": spec.parent,
                    "buckets": ",".join(f"{b:g}" for b in spec.buckets) or None,
                }
            ]
        )
        _storage.replace_rows(self.con, "axes", {}, row)

    def delete_axis(self, key: str) -> None:
        """Delete a custom axis with its values and rules."""
        registry = self.axes_registry()
        self._custom(key, registry)
        children = [a.key for a in registry.values() if a.parent == key]
        if children:
            raise InputError(
                f"Axis {key!r} is the source of {', '.join(children)}; delete those "
                "first."
            )
        for table in ("axis_values", "axis_rules"):
            _storage.execute(self.con, f"DELETE FROM {table} WHERE axis_key = ?", [key])
        _storage.execute(self.con, "DELETE FROM axes WHERE key = ?", [key])

    def _custom(self, key: str, registry: dict[str, _axes.Axis]) -> _axes.Axis:
        if key not in registry:
            raise UnknownAxisError(
                f"Unknown axis {key!r}; list axes with `revaxis axes list`."
            )
        axis = registry[key]
        if axis.source == "native" and key != "churn_reason":
            raise InputError(
                f"Axis {key!r} is native; it cannot be changed or deleted."
            )
        return axis

    # Values -------------------------------------------------------------------

    def _settable(self, key: str) -> _axes.Axis:
        axis = self._custom(key, self.axes_registry())
        if axis.parent is not None:
            raise InputError(
                f"Axis {key!r} is derived from {axis.parent!r}; set values on "
                f"{axis.parent!r} or change {key!r}'s rules."
            )
        return axis

    def _known_ids(self, level: str) -> set[str]:
        ids: set[str] = set()
        for table, column in _ENTITY_SOURCES[level]:
            values = self.table(table)[column].execute().dropna()
            ids.update(values.astype(str))
        return ids

    def set_axis_value(
        self,
        key: str,
        entity_id: str,
        value: str | None,
        *,
        valid_from: dt.date | str | None = None,
        level: str | None = None,
    ) -> None:
        """Set the value of axis `key` for one entity (a customer, subscription,
        product or plan, by the axis' level), from `valid_from` on or for all
        time. A value of None removes it."""
        axis = self._settable(key)
        frame = pd.DataFrame(
            [{"id": entity_id, "value": value, "valid_from": valid_from}]
        )
        rows = self._check_values(axis, frame, "command line", level)
        if value is None:
            _storage.execute(
                self.con,
                "DELETE FROM axis_values WHERE axis_key = ? AND entity_id = ? "
                "AND valid_from = ?",
                [key, entity_id, rows.iloc[0]["valid_from"]],
            )
            return
        _storage.replace_rows(self.con, "axis_values", {}, rows)

    def import_axis_values(self, key: str, path: str | Path) -> int:
        """Import values of axis `key` from a CSV or Excel file with columns id,
        value and optional valid_from; all rows or none. Returns the rows written."""
        axis = self._settable(key)
        path = Path(path)
        if not path.exists():
            raise InputError(f"File not found: {path}.")
        frame = _read_values_file(path)
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        missing = [c for c in ("id", "value") if c not in frame.columns]
        if missing:
            raise ImportRejected(
                [
                    Problem(
                        path.name,
                        1,
                        None,
                        None,
                        f"missing column(s) {', '.join(missing)}; the header must "
                        "name id, value and optionally valid_from",
                    )
                ],
                len(frame),
            )
        rows = self._check_values(axis, frame, path.name, None)
        _storage.replace_rows(self.con, "axis_values", {}, rows)
        return len(rows)

    def _check_values(
        self, axis: _axes.Axis, frame: pd.DataFrame, file: str, level: str | None
    ) -> pd.DataFrame:
        if level is not None and level != axis.level:
            raise InputError(
                f"Axis {axis.key!r} is a {axis.level} axis; use --{axis.level}."
            )
        if "valid_from" not in frame.columns:
            frame = frame.assign(valid_from=None)
        problems: list[Problem] = []
        known = self._known_ids(axis.level)
        if (
            axis.level in ("product", "plan")
            and frame["valid_from"]
            .astype(str)
            .str.strip()
            .replace({"None": "", "nan": ""})
            .ne("")
            .any()
        ):
            raise InputError(
                f"Axis {axis.key!r} is a {axis.level} axis, whose values apply to all "
                "time; remove valid_from."
            )
        out = []
        for number, row in enumerate(frame.itertuples(index=False), start=2):
            entity = str(row.id).strip()
            value = None if row.value is None else str(row.value).strip()
            raw_from = row.valid_from
            if entity not in known:
                problems.append(
                    Problem(
                        file,
                        number,
                        "id",
                        entity,
                        f"unknown {axis.level} id; import its billing "
                        "data first or fix the id",
                    )
                )
                continue
            if raw_from is None or str(raw_from).strip() in ("", "None", "nan"):
                day = SENTINEL_START
            else:
                try:
                    day = dt.date.fromisoformat(str(raw_from).strip()[:10])
                except ValueError:
                    problems.append(
                        Problem(
                            file,
                            number,
                            "valid_from",
                            str(raw_from),
                            "invalid date; write YYYY-MM-DD",
                        )
                    )
                    continue
            out.append(
                {
                    "line": number,
                    "axis_key": axis.key,
                    "entity_id": entity,
                    "valid_from": day,
                    "value": value or None,
                }
            )
        rows = pd.DataFrame(
            out, columns=["line", "axis_key", "entity_id", "valid_from", "value"]
        )
        clash = rows.groupby(["entity_id", "valid_from"])["value"].nunique(dropna=False)
        for entity, day in clash[clash > 1].index:
            same = rows[(rows.entity_id == entity) & (rows.valid_from == day)]
            when = "all time" if day == SENTINEL_START else day.isoformat()
            for number, value in zip(same["line"], same["value"], strict=True):
                others = sorted({repr(v) for v in same["value"] if v != value}, key=str)
                problems.append(
                    Problem(
                        file,
                        int(number),
                        "value",
                        value,
                        f"id {entity!r} also gets {', '.join(others)} for "
                        f"{when}; keep one value per id and valid_from",
                    )
                )
        if problems:
            raise ImportRejected(problems, len(frame))
        return rows.drop(columns=["line"]).drop_duplicates(["entity_id", "valid_from"])

    # Rules --------------------------------------------------------------------

    def rules(self, key: str) -> pd.DataFrame:
        """Return the label rules of an axis in the order they apply: position,
        kind, pattern, label."""
        _axes.resolve([key], self.axes_registry())
        table = self.con.table("axis_rules")
        frame = table.filter(table.axis_key == key).order_by("position").execute()
        return frame[["position", "kind", "pattern", "label"]].reset_index(drop=True)

    def add_rule(self, key: str, kind: str, pattern: str, label: str) -> None:
        """Append a label rule: `map` replaces a whole label (trimmed,
        case-insensitive) by `label`; `regex` replaces any label the regular
        expression matches."""
        _axes.resolve([key], self.axes_registry())
        rule = check_rule(kind, pattern, label)
        current = self.rules(key)
        position = int(current["position"].max()) + 1 if not current.empty else 1
        row = pd.DataFrame(
            [
                {
                    "axis_key": key,
                    "position": position,
                    "kind": rule.kind,
                    "pattern": rule.pattern,
                    "label": rule.label,
                }
            ]
        )
        _storage.replace_rows(self.con, "axis_rules", {}, row)

    def remove_rule(self, key: str, position: int) -> None:
        current = self.rules(key)
        if position not in set(current["position"]):
            raise InputError(
                f"Axis {key!r} has no rule {position}; list rules with "
                f"`revaxis axes rules {key} --list`."
            )
        _storage.execute(
            self.con,
            "DELETE FROM axis_rules WHERE axis_key = ? AND position = ?",
            [key, position],
        )

    def clean_values(self, key: str, labels: Sequence[str]) -> dict[str, str | None]:
        """Map each raw label to where it lands on axis `key` after its rules and
        buckets."""
        axis = _axes.resolve([key], self.axes_registry())[0]
        out = {}
        for raw in labels:
            clean = _axes.clean_label(raw, axis.rules)
            if axis.buckets:
                clean = _axes.bucket_label(clean, axis.buckets)
            out[raw] = clean
        return out

    def preview(
        self,
        key: str,
        *,
        currency: str | None = None,
        as_of: dt.date | None = None,
        draft_rules: Sequence[Rule] = (),
    ) -> pd.DataFrame:
        """Preview axis `key`'s label rules: one row per raw label with raw_label,
        label (where it lands), customers and mrr at the end of the latest month,
        reviewed, rule (position of the first matching rule) and suggestions
        (near-duplicate raw labels to merge). `draft_rules` are unsaved rules
        applied after the saved ones, each checked like `add_rule` checks a
        rule. Details in `_preview.preview`."""
        from revaxis import _preview

        draft_rules = [check_rule(r.kind, r.pattern, r.label) for r in draft_rules]

        return _preview.preview(  # type: ignore[arg-type]
            self, key, currency=currency, as_of=as_of, draft_rules=draft_rules
        )


def none_label() -> str:
    return NONE_LABEL


def _read_values_file(path: Path) -> pd.DataFrame:
    """Read a file of axis values, every cell as text. Raises ImportRejected,
    naming the file, when it is empty or not a valid CSV or Excel file."""
    import zipfile

    from openpyxl.utils.exceptions import InvalidFileException

    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            return pd.read_excel(
                path, dtype=str, keep_default_na=False, engine="openpyxl"
            )
        except (zipfile.BadZipFile, KeyError, InvalidFileException) as exc:
            reason = (
                f"not a valid Excel workbook ({exc}); save it as .xlsx or export "
                "it as CSV"
            )
    else:
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            reason = (
                "the file is empty; the header must name id, value and optionally "
                "valid_from"
            )
        except pd.errors.ParserError as exc:
            reason = f"not a valid CSV file ({exc})"
        except UnicodeDecodeError as exc:
            reason = f"byte {exc.start} is not UTF-8 text; save the file as UTF-8 CSV"
    raise ImportRejected([Problem(path.name, None, None, None, reason)], 0)
