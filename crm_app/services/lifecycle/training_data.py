"""Read what a lifecycle model needs from the store, as of a moment: records, features, goal and filter."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from crm_app.engine.conditions import compile_condition
from crm_app.models.dataset import (condition_plan, event_columns, event_plan, event_slug, field_columns,
                                    metric_columns)
from crm_app.specs.lifecycle import LifecycleModel
from crm_app.store import Store
from crm_app.store import lifecycle as lifecycle_store
from crm_app.store import field_history, membership
from crm_app.store import people as people_store
from crm_app.store.scoring.features import compute_features

CHUNK = 20_000


@dataclass
class Snapshot:
    """Everyone's record and features as of one moment (only events with ts <= as_of)."""

    as_of: int
    records: dict
    features: dict


def feature_events(store: Store, spec: LifecycleModel) -> list[str]:
    """The most frequent event names, less those the goal reads (they would give the goal away)."""
    with store.read() as conn:
        names = [k for k, _ in lifecycle_store.event_counts(conn, spec.events + len(spec.goal_events()))]
    goal = set(spec.goal_events())
    return [n for n in names if n not in goal][:spec.events]


def snapshot(store: Store, spec: LifecycleModel, as_of: int, event_names: list[str], metric_names: list[str]
             ) -> Snapshot:
    """Records and features of every person as of a moment, one set-wise query per chunk of people."""
    goal_plan, goal_metrics, scores = condition_plan([spec.goal, spec.filter] if spec.filter else [spec.goal])
    plan = {a.key: a for a in goal_plan + event_plan(event_names, spec.windows)}
    metrics = tuple(sorted(set(goal_metrics) | set(metric_names)))
    records, features = {}, {}
    with store.read() as conn:
        lo, hi = people_store.person_id_bounds(conn)
        for start in range(lo, hi + 1, CHUNK):
            end = min(hi, start + CHUNK - 1)
            records.update(as_known_then(conn, people_store.flat_records(conn, start, end), start, end, as_of))
            features.update(compute_features(conn, tuple(plan.values()), metrics, scores, as_of, start, end))
    return Snapshot(as_of, records, features)


def as_known_then(conn, records: dict, lo: int, hi: int, as_of: int) -> dict:
    """People's records with each field, theirs and their account's (`account.*`), as it was known at the moment
    (from field history), through the account each person belonged to then (membership history)."""
    return membership.people_records_as_of(conn, records, lo, hi, None, as_of)


def goal_reached(spec: LifecycleModel, snap: Snapshot) -> dict:
    """subject id -> whether the goal holds as of the snapshot."""
    check = compile_condition(spec.goal)
    return {i: bool(check(r, snap.features.get(i, {}), snap.as_of)) for i, r in snap.records.items()}


def in_population(spec: LifecycleModel, snap: Snapshot) -> dict:
    """subject id -> whether the model's filter admits it as of the snapshot."""
    if spec.filter is None:
        return {i: True for i in snap.records}
    check = compile_condition(spec.filter)
    return {i: bool(check(r, snap.features.get(i, {}), snap.as_of)) for i, r in snap.records.items()}


def build_columns(spec: LifecycleModel, snap: Snapshot, ids: list, event_names: list[str],
                  metric_names: list[str]) -> list:
    """Every candidate indicator for these subjects: fields, event counts and recencies, metrics."""
    skip = set(spec.goal_fields()) | {spec.time_field}
    cols = field_columns(ids, snap.records, skip)
    if event_names or any(snap.features.get(i) for i in ids[:1000]):
        cols += event_columns(ids, snap.features, event_names, spec.windows, snap.as_of)
    cols += metric_columns(ids, snap.features, metric_names)
    return cols


def goal_event_slugs(spec: LifecycleModel) -> set:
    return {event_slug(n) for n in spec.goal_events()}


IMPORT_SPREAD = 86400


def subject_times(spec: LifecycleModel, snap: Snapshot, ids: list) -> np.ndarray:
    """Each subject's time (epoch seconds) from the model's time field: a number or an ISO-8601 date; NaN when
    missing or unreadable.

    `created_at` spread over less than a day is the moment of an import (a file without sign-up dates), not
    when the subjects arrived: such subjects carry no time.
    """
    times = np.array([_epoch(snap.records.get(i, {}).get(spec.time_field)) for i in ids], dtype=float)
    present = times[~np.isnan(times)]
    if spec.time_field == "created_at" and len(present) and present.max() - present.min() < IMPORT_SPREAD:
        return np.full(len(ids), np.nan)
    return times


def _epoch(value) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return float("nan")
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    return float("nan")


ACCOUNT_SKIPPED = {"name", "domain", "segments"}


def account_snapshot(store: Store, as_of: int, person_models: tuple) -> Snapshot:
    """Every account's record with the rollups of its people's stored person-model results (the account scoring
    stage's own records), one set-wise pass per chunk of accounts; accounts have no event features."""
    from crm_app.services.scoring.accounts import account_batches, records_with_rollups
    records = {}
    batches = account_batches(store, CHUNK)
    with store.read() as conn:
        for lo, hi, only in batches:
            chunk = records_with_rollups(conn, list(person_models), as_of, lo, hi, only)[0]
            membership.account_records_as_of(conn, chunk, lo, hi, only, as_of)
            records.update({aid: {k: v for k, v in r.items() if k not in ACCOUNT_SKIPPED}
                            for aid, r in chunk.items()})
    return Snapshot(as_of, records, {})


def fill_timing(store: Store, spec: LifecycleModel, converted: list, names: list) -> dict:
    """Per field: (converted subjects for whom it was absent just before the goal and present after, converted
    subjects whose moment of reaching the goal field history knows, converted subjects whose value just before
    the goal differs from the one kept now). Empty when the goal reads no field."""
    goal_fields = set(spec.goal_fields())
    if not goal_fields or not converted:
        return {}
    with store.read() as conn:
        history = field_history.history_of(conn, "person", converted)
    appeared, changed, known = dict.fromkeys(names, 0), dict.fromkeys(names, 0), 0
    for rows in history.values():
        reached = [t for field, t, _, initial in rows if field in goal_fields and not initial]
        if not reached:
            continue
        known += 1
        moment = max(reached)
        for name in names:
            before, now = field_history.value_at(rows, name, moment - 1), field_history.value_at(rows, name, float("inf"))
            if before is None and now is not None:
                appeared[name] += 1
            elif before is not None and now is not None and before != now:
                changed[name] += 1
    return {name: (appeared[name], known, changed[name]) for name in names} if known else {}
