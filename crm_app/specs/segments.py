"""Segments of a model: named conditions on scores (and fields), optionally held for a duration.

    segments:
      - {id: loyal_customer, label: Loyal Customer, when: {score: health, at_least: 70}, for: 180d}

A segment with `for:` needs a single `score:` condition: it holds only when every stored score of that
model over the whole period met the condition (score history), so a one-day dip resets the clock.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from crm_app.errors import ErrorCollector
from crm_app.specs.conditions import ScoreCondition
from crm_app.specs.condition_parser import parse_condition
from crm_app.specs.reader import Reader, Where, item_where

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
SEGMENT_KEYS = ("id", "label", "when", "for")


@dataclass(frozen=True)
class Segment:
    """A named membership test, evaluated after scoring; the first matching segment is the primary one."""

    id: str
    label: str
    when: object
    hold_for: int | None = None  # seconds the condition must have held without a break
    source: str = ""


def parse_segments(items, where: Where, errors: ErrorCollector, lists: dict) -> tuple:
    """The `segments:` list of a model -> Segments; every problem is recorded with file:line."""
    if items is None:
        return ()
    if not isinstance(items, list):
        errors.add(where.file, where.line, where.path, "'segments' must be a list of {id, label, when[, for]}")
        return ()
    found, seen = [], set()
    for i, item in enumerate(items):
        at = item_where(where, items, i)
        r = Reader(item, at, errors, "a segment")
        if not r.ok:
            continue
        seg_id = r.text("id", required=True)
        label = r.text("label", default=seg_id or "")
        raw = r.raw("when", required=True)
        when = parse_condition(raw, r.at("when"), errors, lists) if raw is not None else None
        hold = r.duration("for", None)
        r.finish(SEGMENT_KEYS)
        if seg_id and not _ID.match(seg_id):
            r.error(r.at("id"), f"segment id '{seg_id}' must be lower_snake_case, such as 'at_risk'")
        if seg_id in seen:
            r.error(r.at("id"), f"segment id '{seg_id}' is used twice in this model; give each its own id")
        seen.add(seg_id)
        if hold is not None and when is not None and not isinstance(when, ScoreCondition):
            r.error(r.at("for"), "'for' needs 'when' to be a single score condition, such as "
                    "{score: health, at_least: 70}, because it is checked against score history")
        if r.ok and when is not None:
            found.append(Segment(seg_id, label, when, hold, f"{at.file}:{at.line}"))
    return tuple(found)
