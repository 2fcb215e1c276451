"""The `revaxis axes create|delete|set|import|rules|preview` commands, registered
on the `axes` group of `revaxis.cli` when that module imports this one."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import pandas as pd
import typer
from rich.markup import escape

from revaxis._axes import SENTINEL_START
from revaxis._errors import ImportRejected, RevaxisError
from revaxis._workspace_axes import RuleError, check_rule
from revaxis.cli import OutputFormat, _print_frame, _workspace, axes_app, err, out

if TYPE_CHECKING:
    from revaxis.workspace import Workspace


class AxisLevel(StrEnum):
    customer = "customer"
    subscription = "subscription"
    product = "product"
    plan = "plan"


class ValueType(StrEnum):
    category = "category"
    number = "number"
    date = "date"


def _fail(message: str, code: int = 2) -> NoReturn:
    # Escaped because labels and regular expressions contain [brackets] that
    # rich would read as markup; soft wrap keeps long lines whole.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


def _print_table(frame: pd.DataFrame, title: str) -> None:
    # Text cells are escaped because `_print_frame` hands them to rich, which
    # would read "[/a-z]" in a regular expression as a closing markup tag.
    text_columns = frame.select_dtypes(include=["object", "string"]).columns
    escaped = frame.copy()
    for column in text_columns:
        escaped[column] = frame[column].map(
            lambda value: escape(value) if isinstance(value, str) else value
        )
    _print_frame(escaped, OutputFormat.table, title)


def _say(message: str, *, to_stderr: bool = False) -> None:
    console = err if to_stderr else out
    console.print(message, markup=False, highlight=False, soft_wrap=True)


# create / delete ---------------------------------------------------------------


def _parse_buckets(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        _fail(
            f"Invalid --buckets {text!r}: write numbers separated by commas, such "
            "as 0,10,50,250."
        )


@axes_app.command("create")
def axes_create(
    key: Annotated[
        str,
        typer.Argument(
            help="Key of the new axis: lower-case letters, digits and underscores, "
            "starting with a letter, at most 40 characters."
        ),
    ],
    label: Annotated[
        str | None,
        typer.Option(
            help="Name shown in reports. Default: the key, capitalised, with "
            "spaces for underscores."
        ),
    ] = None,
    level: Annotated[
        AxisLevel | None,
        typer.Option(
            help="Entity whose value the axis reads. Default: customer; an axis "
            "made with --from takes its parent's level.",
            show_default=False,
        ),
    ] = None,
    value_type: Annotated[
        ValueType,
        typer.Option(
            "--type",
            help="Kind of value: category (text labels), number (grouped with "
            "--buckets) or date.",
        ),
    ] = ValueType.category,
    source: Annotated[
        str | None,
        typer.Option(
            help="metadata.<key>: the billing metadata key of the level's entity, "
            "read again on every report; manual: values given with `axes set` or "
            "`axes import`; computed.mrr_band: the band of the customer's MRR, "
            "edges in --buckets; computed.lifecycle: new, onboarding, established "
            "or up for renewal, thresholds in --buckets as days (default "
            "30,90,60). Default: manual.",
            show_default=False,
        ),
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Key of an axis to group: the new axis takes that axis' clean "
            "labels and applies its own label rules or --buckets to them.",
        ),
    ] = None,
    buckets: Annotated[
        str | None,
        typer.Option(
            help="Increasing bucket edges, in the unit of the numbers, separated by "
            "commas: 0,10,50,250 gives 0-10 (0 <= x < 10), 10-50, 50-250 and "
            "250+; numbers below the first edge and non-numbers get no value. "
            "With --from, the parent must be a number axis. Default: no buckets.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create a custom axis from billing metadata, manual values or another axis."""
    if parent is not None and (source is not None or level is not None):
        _fail(
            "An axis made with --from takes the level and values of its parent; "
            "leave out --level and --source."
        )
    edges = _parse_buckets(buckets) if buckets is not None else None
    try:
        with _workspace() as ws:
            ws.create_axis(
                key,
                label=label,
                level=level.value if level is not None else None,
                value_type=value_type.value,
                source=source if source is not None else "manual",
                parent=parent,
                buckets=edges,
            )
            axis = ws.axes_registry()[key]
            known_keys = ws.metadata_keys(axis.level)
    except RevaxisError as exc:
        _fail(str(exc))
    _say(f"Created axis {key!r}: {axis.level} level, source {axis.source}.")
    meta_key = axis.source.removeprefix("metadata.")
    if axis.source.startswith("metadata.") and meta_key not in known_keys:
        listed = ", ".join(known_keys) or "none yet"
        err.print(
            escape(
                f"warning: no {axis.level} has the metadata key {meta_key!r} yet, "
                f"so every value is (none) until an import brings it. Keys "
                f"present: {listed}."
            ),
            highlight=False,
        )


@axes_app.command("delete")
def axes_delete(
    key: Annotated[str, typer.Argument(help="Key of the custom axis to delete.")],
) -> None:
    """Delete a custom axis with its values and label rules."""
    try:
        with _workspace() as ws:
            ws.delete_axis(key)
    except RevaxisError as exc:
        _fail(str(exc))
    _say(f"Deleted axis {key!r} with its values and label rules.")


# set / import ------------------------------------------------------------------


def _entity(
    customer: str | None,
    subscription: str | None,
    product: str | None,
    plan: str | None,
) -> tuple[str, str]:
    given = [
        (level, entity_id)
        for level, entity_id in [
            ("customer", customer),
            ("subscription", subscription),
            ("product", product),
            ("plan", plan),
        ]
        if entity_id is not None
    ]
    if len(given) != 1:
        _fail(
            "Give exactly one of --customer, --subscription, --product or --plan, "
            "with the id whose value to set; it must match the axis' level."
        )
    return given[0]


def _value_exists(ws: Workspace, key: str, entity_id: str, day: dt.date) -> bool:
    table = ws.con.table("axis_values")
    found = table.filter(
        (table.axis_key == key)
        & (table.entity_id == entity_id)
        & (table.valid_from == day)
    )
    return int(found.count().execute()) > 0


@axes_app.command("set")
def axes_set(
    key: Annotated[str, typer.Argument(help="Key of the axis whose value to set.")],
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value; leave it out with --remove.", show_default=False
        ),
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="Customer id, for a customer-level axis.")
    ] = None,
    subscription: Annotated[
        str | None,
        typer.Option(help="Subscription id, for a subscription-level axis."),
    ] = None,
    product: Annotated[
        str | None, typer.Option(help="Product id, for a product-level axis.")
    ] = None,
    plan: Annotated[
        str | None, typer.Option(help="Plan id, for a plan-level axis.")
    ] = None,
    valid_from: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="First day (YYYY-MM-DD) on which the value is in force; earlier "
            "days keep the earlier value. Customer and subscription axes only. "
            "Default: for all time.",
            show_default=False,
        ),
    ] = None,
    remove: Annotated[
        bool,
        typer.Option(
            "--remove",
            help="Remove the value set from --valid-from (or for all time) "
            "instead of setting one.",
        ),
    ] = False,
) -> None:
    """Set the value of an axis for one customer, subscription, product or plan."""
    level, entity_id = _entity(customer, subscription, product, plan)
    if remove == (value is not None):
        _fail("Give either a VALUE to set or --remove, not both and not neither.")
    day = valid_from.date() if valid_from is not None else None
    when = f"from {day.isoformat()}" if day is not None else "for all time"
    try:
        with _workspace() as ws:
            # _settable raises for an unknown, native or derived axis, and
            # set_axis_value for an entity of another level, so a removal is
            # only looked up on an axis of the entity's level.
            axis = ws._settable(key)
            stored_day = day or SENTINEL_START
            matching = axis.level == level
            if (
                remove
                and matching
                and not _value_exists(ws, key, entity_id, stored_day)
            ):
                _fail(
                    f"Axis {key!r} has no value set for {level} {entity_id!r} {when}; "
                    "nothing to remove."
                )
            ws.set_axis_value(key, entity_id, value, valid_from=day, level=level)
    except ImportRejected as exc:
        reasons = "; ".join(problem.reason for problem in exc.problems)
        _fail(f"Cannot set {key!r} for {level} {entity_id!r}: {reasons}.")
    except RevaxisError as exc:
        _fail(str(exc))
    if remove:
        _say(f"Removed the value of {key!r} for {level} {entity_id!r} {when}.")
    else:
        _say(f"Set {key!r} = {value!r} for {level} {entity_id!r} {when}.")


@axes_app.command("import")
def axes_import(
    key: Annotated[str, typer.Argument(help="Key of the axis whose values to import.")],
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV or Excel (.xlsx) file with the columns id, value and "
            "optionally valid_from (YYYY-MM-DD, empty for all time)."
        ),
    ],
) -> None:
    """Import the values of an axis from a file: every row or none."""
    try:
        with _workspace() as ws:
            written = ws.import_axis_values(key, file)
    except ImportRejected as exc:
        # Every problem, where the exception message stops at 50.
        lines = [
            f"Import rejected: {len(exc.problems)} problem(s) in {exc.rows_read} "
            "row(s) read; nothing was changed in the workspace.",
            *(f"  {problem}" for problem in exc.problems),
        ]
        _fail("\n".join(lines), code=1)
    except RevaxisError as exc:
        _fail(str(exc))
    _say(f"Imported {written} value(s) of axis {key!r} from {file.name}.")


# rules / preview ---------------------------------------------------------------


def _split_rule(option: str, text: str) -> tuple[str, str]:
    """PATTERN and CLEAN of a rule written PATTERN=CLEAN, split at the last '='."""
    pattern, sep, clean = text.rpartition("=")
    if option == "--map":
        form, example = "RAW=CLEAN", "'seo=SEO'"
    else:
        form, example = "PATTERN=CLEAN", "'(?i)^adwords=Paid search'"
    if not sep or not pattern.strip() or not clean.strip():
        _fail(
            f"Invalid {option} {text!r}: write {form}, such as {example}; CLEAN is "
            "the text after the last '='."
        )
    return pattern, clean


@axes_app.command("rules")
def axes_rules(
    key: Annotated[str, typer.Argument(help="Key of the axis whose rules to change.")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Add a rule RAW=CLEAN: a label equal to RAW, ignoring case and "
            "surrounding spaces, becomes CLEAN. CLEAN is the text after the last "
            "'=', so RAW may contain '='. Repeat to add several, in order.",
            show_default=False,
        ),
    ] = None,
    regex: Annotated[
        list[str] | None,
        typer.Option(
            help="Add a rule PATTERN=CLEAN: a label in which the regular "
            "expression PATTERN finds a match (RE2 syntax: Python's without "
            "backreferences or lookaround; case-sensitive unless it starts with "
            "(?i)) becomes CLEAN. CLEAN is the text after the last "
            "'=', so PATTERN may contain '='. Repeat to add several, in order.",
            show_default=False,
        ),
    ] = None,
    remove: Annotated[
        list[int] | None,
        typer.Option(
            help="Remove the rule at position N, as --list shows it; removals run "
            "before additions. Repeat to remove several.",
            show_default=False,
        ),
    ] = None,
    list_: Annotated[
        bool,
        typer.Option(
            "--list",
            help="Print the rules after the changes; the default when no change "
            "is given.",
        ),
    ] = False,
    format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="Format of the printed rules; with csv or json, the confirmation "
            "lines go to stderr.",
        ),
    ] = OutputFormat.table,
) -> None:
    """Add, remove or list the label rules of an axis.

    The first matching rule decides a label; a label that no rule matches is
    only trimmed.
    """
    if map_ and regex:
        _fail(
            "Give --map and --regex in separate commands, so that the order in "
            "which the rules apply is the order in which you add them."
        )
    kind = "map" if map_ else "regex"
    additions = [_split_rule(f"--{kind}", text) for text in (map_ or regex or [])]
    for pattern, label in additions:
        try:
            check_rule(kind, pattern, label)
        except RuleError as exc:
            _fail(str(exc))
    machine_readable = format is not OutputFormat.table
    try:
        with _workspace() as ws:
            positions = set(ws.rules(key)["position"])
            unknown = [n for n in remove or [] if n not in positions]
            if unknown:
                _fail(
                    f"Axis {key!r} has no rule {', '.join(map(str, unknown))}; list "
                    f"the rules with `revaxis axes rules {key} --list`."
                )
            for position in remove or []:
                ws.remove_rule(key, position)
                _say(
                    f"Removed rule {position} of axis {key!r}.",
                    to_stderr=machine_readable,
                )
            for pattern, clean in additions:
                ws.add_rule(key, kind, pattern, clean)
                added = int(ws.rules(key)["position"].max())
                _say(
                    f"Added rule {added} to axis {key!r}: {kind} {pattern!r} -> "
                    f"{clean.strip()!r}.",
                    to_stderr=machine_readable,
                )
            rules = ws.rules(key)
    except RevaxisError as exc:
        _fail(str(exc))
    changed = bool(remove or additions)
    if changed and not list_:
        return
    if rules.empty and not machine_readable:
        _say(f"Axis {key!r} has no label rules.")
        return
    title = f"Label rules of {key}, in the order they apply"
    if machine_readable:
        _print_frame(rules, format, title)
    else:
        _print_table(rules, title)


@axes_app.command("preview")
def axes_preview(
    key: Annotated[str, typer.Argument(help="Key of the axis to preview.")],
    currency: Annotated[
        str | None,
        typer.Option(
            help="Reporting currency of the mrr column (ISO 4217). Default: "
            "$REVAXIS_CURRENCY, else the workspace setting (USD unless changed)."
        ),
    ] = None,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Show where each raw label of an axis lands, with its customers and MRR.

    Customers and MRR are counted at the end of the latest month. A label is
    not reviewed when no rule matched it; suggestions list near-duplicate raw
    labels that a rule could merge.
    """
    try:
        with _workspace() as ws:
            frame = ws.preview(key, currency=currency)
            shown_currency = ws.report_currency(currency)
    except RevaxisError as exc:
        _fail(str(exc))
    if format is OutputFormat.json:
        _print_frame(frame, format, "")
        return
    frame = frame.assign(suggestions=frame["suggestions"].map("; ".join))
    if format is OutputFormat.csv:
        _print_frame(frame, format, "")
        return
    unreviewed = int((~frame["reviewed"]).sum())
    frame = frame.assign(reviewed=frame["reviewed"].map({True: "yes", False: "no"}))
    _print_table(frame, f"Labels of axis {key}, MRR in {shown_currency}")
    if unreviewed:
        _say(
            f"{unreviewed} raw label(s) not reviewed: no rule matched them. Add "
            f"rules with `revaxis axes rules {key} --map RAW=CLEAN`."
        )
