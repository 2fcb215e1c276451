"""Preview of an axis' label rules: every raw label, where it lands, the customers
and MRR it carries, whether a rule or a bucket decided where it lands, and the
near-duplicate labels that a rule could merge."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from revaxis import _axes, _report
from revaxis._axes import NONE_LABEL, Axis, Rule

if TYPE_CHECKING:
    from revaxis.workspace import Workspace

PREVIEW_COLUMNS = [
    "raw_label",
    "label",
    "customers",
    "mrr",
    "reviewed",
    "rule",
    "suggestions",
]

# Two labels are near-duplicates from this rapidfuzz token_sort_ratio (0-100)
# of their folded forms (see `fold_label`). "Team" and "Teams" score 88.9 and
# are suggested; "Direct" and "Indirect" score 85.7 and are not.
SUGGESTION_CUTOFF = 88
# Labels compared per rapidfuzz.cdist call, which bounds its score matrix to
# this many rows times the number of labels, one byte each.
_CHUNK_ROWS = 1000

# A label no real rule produces, used to find which rule matched a raw label.
_MATCHED = "\x00rule matched\x00"


def preview(
    ws: Workspace,
    key: str,
    *,
    currency: str | None = None,
    as_of: dt.date | None = None,
    draft_rules: Sequence[Rule] = (),
) -> pd.DataFrame:
    """Build the preview of axis `key`, with the columns of `PREVIEW_COLUMNS`.

    There is one row per raw label that an invoice line carries, which is the
    label before the axis' rules and buckets. For a derived axis it is the
    parent's clean label.

    `customers` and `mrr` (in the reporting currency) are counted at the end of
    the latest month, as in the coverage of `Workspace.axes`. `reviewed` is
    False when nothing but trimming decided the label: no rule matched and no
    bucket took it. `rule` is the position of the first matching rule.
    `suggestions` lists the other raw labels that look like near-duplicates
    and do not land on the same label yet. Rows run from the largest MRR down;
    the row "(none)", for lines without a value, comes last.

    `draft_rules` are rules not saved yet, applied after the saved ones, so an
    editor can see what a rule would do before adding it. Their positions are
    the ones `add_rule` would give them.
    """
    registry = ws.axes_registry()
    axis = _axes.resolve([key], registry)[0]
    axis = replace(axis, rules=(*axis.rules, *draft_rules))
    raw_axis = replace(axis, rules=(), buckets=())
    carried = _carried_by_raw_label(
        ws, {**registry, key: raw_axis}, key, ws.report_currency(currency), as_of
    )
    raw_labels = carried["raw_label"].tolist()
    positions = ws.rules(key)["position"].tolist()
    next_position = max(positions, default=0) + 1
    positions += range(next_position, next_position + len(draft_rules))
    real = [raw for raw in raw_labels if raw != NONE_LABEL]
    landing = {raw: _landing(raw, axis) for raw in real}

    rows = []
    for record in carried.itertuples(index=False):
        raw = record.raw_label
        if raw == NONE_LABEL:
            # Rules never apply to a missing value, so there is nothing to review.
            label, rule_index, reviewed = NONE_LABEL, None, True
        else:
            label = landing[raw] or NONE_LABEL
            rule_index = first_matching_rule(raw, axis.rules)
            bucketed = bool(axis.buckets) and landing[raw] is not None
            reviewed = rule_index is not None or bucketed
        rows.append(
            {
                "raw_label": raw,
                "label": label,
                "customers": int(record.customers),
                "mrr": int(record.mrr_cents) / 100,
                "reviewed": reviewed,
                "rule": None if rule_index is None else int(positions[rule_index]),
            }
        )
    frame = pd.DataFrame(rows, columns=PREVIEW_COLUMNS[:-1])
    frame["rule"] = frame["rule"].astype("Int64")
    labels_by_raw = dict(zip(frame["raw_label"], frame["label"], strict=True))
    suggestions = near_duplicates(real, {raw: labels_by_raw[raw] for raw in real})
    frame["suggestions"] = [suggestions.get(raw, []) for raw in frame["raw_label"]]
    return _sorted(frame)


def _landing(raw: str, axis: Axis) -> str | None:
    """Return where a raw label lands after the axis' rules and buckets, as
    `Workspace.clean_values` does for the saved rules."""
    clean = _axes.clean_label(raw, axis.rules)
    if axis.buckets:
        clean = _axes.bucket_label(clean, axis.buckets)
    return clean


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    order = frame.assign(_none=frame["raw_label"] == NONE_LABEL).sort_values(
        ["_none", "mrr", "customers", "raw_label"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    return order.drop(columns="_none").reset_index(drop=True)


def _carried_by_raw_label(
    ws: Workspace,
    registry: dict[str, Axis],
    key: str,
    currency: str,
    as_of: dt.date | None,
) -> pd.DataFrame:
    """raw_label, customers and mrr_cents at the end of the latest month: one
    row per label that any movement carries, with 0 for labels no one pays in
    then."""
    movements, states, columns = ws._pipeline([key], currency, as_of, registry=registry)
    column = columns[0]
    try:
        labels = movements.select(raw_label=movements[column]).distinct().execute()
        end = ws._coverage_end(states, as_of)
        paying = _report.paying_segments(movements, column, end)
        carried = (
            paying.group_by(raw_label=paying[column])
            .aggregate(
                customers=paying.customer_id.nunique(),
                mrr_cents=paying.mrr_cents.sum(),
            )
            .execute()
        )
    finally:
        ws._release()
    merged = labels.merge(carried, on="raw_label", how="left")
    return merged.fillna({"customers": 0, "mrr_cents": 0})


def first_matching_rule(raw: str, rules: Sequence[Rule]) -> int | None:
    """Index of the first rule that matches `raw`, by the engine's own matching
    in `clean_label`, or None when no rule matches."""
    for index, rule in enumerate(rules):
        probe = Rule(rule.kind, rule.pattern, _MATCHED)
        if _axes.clean_label(raw, [probe]) == _MATCHED:
            return index
    return None


def fold_label(label: str) -> str:
    """Fold a label for near-duplicate matching: remove accents, fold case,
    read "+" as "plus" (so "Pro+" differs from "Pro"), and turn other
    punctuation and runs of spaces into one space."""
    decomposed = unicodedata.normalize("NFKD", label)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = re.sub(r"[\W_]+", " ", plain.casefold().replace("+", " plus "))
    return words.strip()


def _numbers(folded: str) -> tuple[int, ...]:
    return tuple(int(digits) for digits in re.findall(r"\d+", folded))


def near_duplicates(
    labels: Sequence[str], landing: Mapping[str, str]
) -> dict[str, list[str]]:
    """For each label, the other labels that look like the same value written
    another way, best match first.

    Two labels are suggested for merging when three conditions hold. The
    token_sort_ratio of their folded forms is at least SUGGESTION_CUTOFF. They
    contain the same numbers, so "Plan 10" and "Plan 100", or "v1" and "v2",
    stay apart. They do not already land on the same label.
    """
    folded = [fold_label(label) for label in labels]
    numbers = [_numbers(text) for text in folded]
    found: dict[str, list[tuple[int, str]]] = {}
    for first in range(0, len(labels), _CHUNK_ROWS):
        scores = process.cdist(
            folded[first : first + _CHUNK_ROWS],
            folded,
            scorer=fuzz.token_sort_ratio,
            score_cutoff=SUGGESTION_CUTOFF,
            dtype=np.uint8,
        )
        for row, column in zip(*np.nonzero(scores), strict=True):
            i = first + int(row)
            j = int(column)
            if i == j or not folded[i] or not folded[j]:
                continue
            if numbers[i] != numbers[j]:
                continue
            if landing[labels[i]] == landing[labels[j]]:
                continue
            score = int(scores[row, column])
            found.setdefault(labels[i], []).append((score, labels[j]))
    return {
        label: [other for _, other in sorted(pairs, key=lambda p: (-p[0], p[1]))]
        for label, pairs in found.items()
    }
