"""PURE trigger evaluation: what a playbook saw before vs the new result -> trigger occurrences.

No I/O and no clock: `now` is passed in. An occurrence key names one happening (this PQL stint, this drop
from this peak, this quiet stretch), so the ledger can refuse a second action for the same happening.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

from crm_app.engine.conditions import compile_condition
from crm_app.engine.plan import score_key

DAY = 86400


@dataclass(frozen=True)
class Seen:
    """What a playbook last saw of one subject (None values when it never saw it)."""

    combined: int | None = None
    band: str | None = None
    pql: bool | None = None
    segments: tuple = ()
    armed: dict = field(default_factory=dict)
    marker: int | None = None


@dataclass(frozen=True)
class Outcome:
    occurrences: tuple  # keys of the happenings that fired now (0 or 1 for every trigger type)
    armed: dict
    marker: int | None


def evaluate_trigger(trigger, seen: Seen, row: Mapping, segments: tuple, history: list, now: int) -> Outcome:
    """Did the trigger fire between `seen` and the new result `row`? Also returns the new hysteresis state."""
    handler = _HANDLERS[trigger.type]
    return handler(trigger, seen, row, tuple(segments or ()), history, now)


def _became_pql(t, seen: Seen, row, segments, history, now) -> Outcome:
    armed = dict(seen.armed)
    is_armed = armed.get("pql", True)
    combined = row["combined"] or 0
    if row["pql"] and is_armed:
        armed.update(pql=False, entry=combined)
        return Outcome((f"pql@{row.get('pql_since') or row['as_of']}",), armed, seen.marker)
    if not row["pql"] and not is_armed and combined <= armed.get("entry", combined) - t.hysteresis:
        armed["pql"] = True  # re-armed: the score fell far enough below where it entered
    return Outcome((), armed, seen.marker)


def _band_changed(t, seen: Seen, row, segments, history, now) -> Outcome:
    before, after = seen.band, row["band"]
    fired = (before is not None and before != after and (t.band_from in (None, before))
             and (t.band_to in (None, after)))
    return Outcome((f"band:{before}>{after}@{row['as_of']}",) if fired else (), dict(seen.armed), seen.marker)


def _score_crossed(t, seen: Seen, row, segments, history, now) -> Outcome:
    armed = dict(seen.armed)
    value, combined, up = t.value, row["combined"] or 0, t.direction == "up"
    is_armed = armed.get("cross", True if seen.combined is None else
                         (seen.combined < value if up else seen.combined > value))
    crossed = combined >= value if up else combined <= value
    if crossed and is_armed:
        armed["cross"] = False
        return Outcome((f"{t.direction}{value:g}@{row['as_of']}",), armed, seen.marker)
    if not crossed and (combined < value - t.hysteresis if up else combined > value + t.hysteresis):
        armed["cross"] = True
    elif crossed:
        armed["cross"] = False
    return Outcome((), armed, seen.marker)


def _score_dropped(t, seen: Seen, row, segments, history, now) -> Outcome:
    armed = dict(seen.armed)
    points = [(a, c) for a, c in history if a >= row["as_of"] - t.within and c is not None]
    if not points:
        return Outcome((), armed, seen.marker)
    peak_at, peak = max(points, key=lambda p: (p[1], p[0]))
    if peak - (row["combined"] or 0) >= t.by and armed.get("peak") != peak_at:
        armed["peak"] = peak_at
        return Outcome((f"drop@{peak_at}",), armed, seen.marker)
    return Outcome((), armed, seen.marker)


def _inactive(t, seen: Seen, row, segments, history, now) -> Outcome:
    last = row.get("last_activity")
    if last is None or (now - last) // DAY < t.days or seen.marker == last:
        return Outcome((), dict(seen.armed), seen.marker)
    return Outcome((f"inactive@{last}",), dict(seen.armed), last)


def _segment(t, seen: Seen, row, segments, history, now) -> Outcome:
    before, after = t.segment in seen.segments, t.segment in segments
    fired = (after and not before) if t.type == "entered_segment" else (before and not after)
    return Outcome((f"{t.type}:{t.segment}@{row['as_of']}",) if fired else (), dict(seen.armed), seen.marker)


_HANDLERS = {"became_pql": _became_pql, "band_changed": _band_changed, "score_crossed": _score_crossed,
             "score_dropped": _score_dropped, "inactive": _inactive, "entered_segment": _segment,
             "left_segment": _segment}


def condition_record(record: Mapping, row: Mapping) -> dict:
    """The record the playbook conditions read: its fields plus score.* from the result."""
    out = dict(record)
    for key in ("combined", "fit", "behaviour", "band", "pql", "activation", "days_inactive"):
        out[f"score.{key}"] = row.get(key)
    return out


def evaluate_when(when, record: Mapping, row: Mapping, model: str, now: int) -> bool:
    """The playbook's optional conditions, in the rules' condition language, over fields and score."""
    if when is None:
        return True
    check = _compiled(when)
    return check(condition_record(record, row), {score_key(model): row.get("combined")}, now)


@lru_cache(maxsize=256)
def _compiled(when):
    """Conditions are frozen, hashable data: compile each tree once."""
    return compile_condition(when)
