"""PURE segment logic: 'held for a duration' over score history, and the primary segment of a subject."""
from __future__ import annotations

from typing import Callable


def held(points: list, since: int, as_of: int, test: Callable[[float], bool]) -> bool:
    """Did the score meet `test` at every moment from `since` to `as_of`?

    points: (as_of, combined) pairs of score history in time order; each value holds until the next point.
    The score in effect at `since` must be known (a point at or before it) and pass, and so must every
    point after it up to `as_of`: one failing point, even for a day, breaks the run.
    """
    in_effect = None
    later = []
    for at, value in points:
        if at > as_of:
            break
        if at <= since:
            in_effect = value
        else:
            later.append(value)
    if in_effect is None:
        return False
    return all(v is not None and test(v) for v in [in_effect, *later])


def primary_segment(segments: tuple, inside: list) -> str | None:
    """The label of the first segment (in file order) the subject is in, or None."""
    for seg in segments:
        if seg.id in inside:
            return seg.label
    return None


def moved_lists(ids: list, before: dict, entered: list, left: list) -> list:
    """(subject, segment list before or None, list after or None) for the subjects whose list changes, given the
    lists before (subject -> sorted ids), the entered rows and the left (subject, segment) pairs."""
    gained: dict = {}
    lost: dict = {}
    for row in entered:
        gained.setdefault(row["subject_id"], set()).add(row["segment"])
    for sid, seg in left:
        lost.setdefault(sid, set()).add(seg)
    out = []
    for sid in ids:
        old = sorted(before.get(sid) or [])
        new = sorted((set(old) - lost.get(sid, set())) | gained.get(sid, set()))
        if new != old:
            out.append((sid, old or None, new or None))
    return out
