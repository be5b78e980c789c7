"""The demo's past: the person models scored as of earlier days, oldest first, each day with the snapshot the
worker's daily job would have kept. Segments held for a period ('Loyal Customer': health 70+ for 180 days),
the 7-day change, score-drop triggers and the Overview's trends read this history.

Each day is one ordinary scoring run (`score` as of that moment: only events up to it count), so the history is
what the service would have stored had it been running: weekly for the last four weeks, every four weeks before
(sparser, to keep the demo quick; a held segment reads the score in effect at its start and every one since).
"""
from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone

from crm_app.services.scoring.run import score
from crm_app.specs.conditions import ScoreCondition, iter_conditions
from crm_app.store import ops as ops_store

DAY = 86400
STEP_DAYS, OLD_STEP_DAYS = 7, 28
RECENT_DAYS = 28  # every person model: four weeks back (the 7-day change, score drops, the trend charts)


def held_models(rules) -> tuple[set, int]:
    """(names of the models that segments held for a period read, the longest such period in seconds)."""
    names, longest = set(), 0
    for model in rules.models:
        for segment in model.segments:
            if segment.hold_for:
                longest = max(longest, segment.hold_for)
                names.add(model.name)
                names |= {c.model for s in model.segments for c in iter_conditions(s.when)
                          if isinstance(c, ScoreCondition)}
    return names, longest


def backfill(store, rules, now: int, out=print) -> dict:
    """Score the person models as of past days (weekly, then every four weeks further back); keep a daily snapshot
    of each. Returns
    {"days": [as_of, ...], "held": models scored back far enough for their held segments}."""
    started = time.process_time()
    held, longest = held_models(rules)
    first = max(longest // DAY + STEP_DAYS, RECENT_DAYS) if held else RECENT_DAYS
    old = range(RECENT_DAYS + -(-(first - RECENT_DAYS) // OLD_STEP_DAYS) * OLD_STEP_DAYS, RECENT_DAYS, -OLD_STEP_DAYS)
    days = [now - d * DAY for d in [*old, *range(RECENT_DAYS, 0, -STEP_DAYS)]]
    persons = [m for m in rules.models if m.subject == "person"]
    for as_of in days:
        recent = as_of >= now - RECENT_DAYS * DAY
        models = tuple(m for m in rules.models if recent or m.name in held)
        if not any(m in persons for m in models):
            continue
        score(store, dataclasses.replace(rules, models=models), as_of, workers=1)
        with store.begin() as conn:
            ops_store.save_snapshot(conn, _day(as_of), ops_store.band_summary(conn))
    out(f"Score history: {len(days)} past runs back to {_day(days[0])} (" + ", ".join(sorted(held)) +
        f" every {OLD_STEP_DAYS} days from then, every model weekly for the last {RECENT_DAYS} days), each with "
        f"its daily snapshot "
        f"({time.process_time() - started:.1f} CPU-s).")
    return {"days": days, "held": sorted(held)}


def snapshot_today(store, now: int) -> None:
    """Today's snapshot, as the worker's daily job keeps it."""
    with store.begin() as conn:
        ops_store.save_snapshot(conn, _day(now), ops_store.band_summary(conn))


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")
