"""Segment membership after a scoring run: who entered or left each model's segments, set-wise per range.

A subject's scores come from the stored results of every model of its kind (person or account); a segment
with `for:` reads score history. The primary segment (the first that matches, in file order) is stored on
the model's result row as `segment`, which field specs write into the CRM (value: segment).
"""
from __future__ import annotations

from crm_app.engine.conditions import compile_condition
from crm_app.services.scoring.segment_membership import held, moved_lists, primary_segment
from crm_app.specs.conditions import FieldCondition, ScoreCondition, iter_conditions
from crm_app.specs.rules import RuleSet
from crm_app.store import Store
from crm_app.store import field_history, membership
from crm_app.store.dialect import chunks
from crm_app.store import people as people_store
from crm_app.store.scoring import rollups
from crm_app.services.scoring.accounts import records_with_rollups
from crm_app.store.scoring import segments as segment_store

CHUNK = 100_000


def update_segments(store: Store, ruleset: RuleSet, as_of: int, dry_run: bool = False, chunk: int = CHUNK,
                    people: list | None = None, accounts: list | None = None) -> dict:
    """Recompute membership of every model with segments; return model -> segment -> [entered, left, now].

    With `people` / `accounts` (an incremental run), only those subjects are revisited; 'held for' segments
    also change by time alone, so a full run must still happen periodically (the worker's full scoring).
    """
    out: dict = {}
    for model in [m for m in ruleset.models if m.segments]:
        kinds = [m.name for m in ruleset.models if m.subject == model.subject]
        sources = [m.name for m in ruleset.models if m.subject == "person"]
        tally = {s.id: [0, 0, 0] for s in model.segments}
        subset = accounts if model.subject == "account" else people
        with store.read() as conn:
            lo, hi = (rollups.account_id_bounds(conn) if model.subject == "account"
                      else people_store.person_id_bounds(conn))
            current = segment_store.current_members(conn, model.name)
        if subset is None:
            batches = [(s, min(hi, s + chunk - 1), None) for s in range(lo, hi + 1, chunk)]
        else:
            ids = sorted(set(subset))
            batches = [(p[0], p[-1], p) for p in (ids[i:i + 5000] for i in range(0, len(ids), 5000))]
        for start, end, only in batches:
            with store.read() as conn:
                entered, left, primary = _range(conn, model, kinds, as_of, start, end, current, tally,
                                                sources, only)
            if not dry_run:
                with store.begin() as conn:
                    _record_history(conn, model.subject, start, end, entered, left, as_of)
                    segment_store.save_members(conn, model.name, model.subject, entered, left)
                    segment_store.set_primary(conn, model.name, primary)
        out[model.name] = tally
    return out


def _range(conn, model, kinds: list, as_of: int, lo: int, hi: int, current: dict, tally: dict,
           sources: list = (), only=None):
    """(entered rows, left pairs, {subject: primary segment or None changes}) for one range of subjects."""
    needs_fields = any(isinstance(c, FieldCondition) for s in model.segments for c in iter_conditions(s.when))
    checks = {s.id: compile_condition(s.when) for s in model.segments}
    if not needs_fields and not _blank_subject_inside(model, checks, as_of):
        # A subject with none of the scores the segments read is in none of them: only subjects holding one
        # (and those with score history, or current members, who may have to leave) are looked at, and only
        # those scores are read.
        kinds = sorted({c.model for s in model.segments for c in iter_conditions(s.when)
                        if isinstance(c, ScoreCondition)} | {model.name})
    features = segment_store.scores_in_range(conn, kinds, lo, hi, only)
    records = {}
    if needs_fields:  # fields (and segments) as they were at the moment, from field history
        if model.subject == "account":
            today = records_with_rollups(conn, _rolled_up(model, sources), as_of, lo, hi, only)[0]
            records = membership.account_records_as_of(conn, today, lo, hi, only, as_of)
        else:
            today = people_store.flat_records(conn, lo, hi, only)
            records = membership.people_records_as_of(conn, today, lo, hi, only, as_of)
    histories = {s.id: segment_store.history_since(conn, s.when.model, as_of - s.hold_for, lo, hi, only)
                 for s in model.segments if s.hold_for}
    entered, left, primary = [], [], {}
    asked = None if only is None else set(only)
    members = {sid for sid, _ in current if lo <= sid <= hi and (asked is None or sid in asked)}
    with_history = {sid for points in histories.values() for sid in points}
    for sid in sorted(set(features) | set(records) | members | with_history):
        feats, record = features.get(sid, {}), records.get(sid, {})
        inside = []
        for seg in model.segments:
            check = checks[seg.id]
            if seg.hold_for:
                ok = held(histories[seg.id].get(sid, []), as_of - seg.hold_for, as_of,
                          lambda v, c=check: c({}, {f"score:{seg.when.model}": v}, as_of))
            else:
                ok = check(record, feats, as_of)
            if ok:
                inside.append(seg.id)
        for seg_id in inside:
            tally[seg_id][2] += 1
            if (sid, seg_id) not in current:
                entered.append({"subject_id": sid, "segment": seg_id, "since": as_of})
                tally[seg_id][0] += 1
        for seg in model.segments:
            if seg.id not in inside and (sid, seg.id) in current:
                left.append((sid, seg.id))
                tally[seg.id][1] += 1
        if f"score:{model.name}" in feats:  # only subjects the model scored have a result row to label
            primary[sid] = primary_segment(model.segments, inside)
    return entered, left, primary


def _rolled_up(model, sources: list) -> list:
    """The person models whose rollups (`people.<model>.*`) the account model's segments read: only those are
    rolled up again for them."""
    read = {c.field for s in model.segments for c in iter_conditions(s.when) if isinstance(c, FieldCondition)}
    return [m for m in sources if any(f.startswith(f"people.{m}.") for f in read)]


def _blank_subject_inside(model, checks: dict, as_of: int) -> bool:
    """Whether a subject with no score, no field and no score history would be in some segment (a `not`)."""
    for seg in model.segments:
        if seg.hold_for:
            inside = held([], as_of - seg.hold_for, as_of, lambda v, c=checks[seg.id]: c({}, {}, as_of))
        else:
            inside = checks[seg.id]({}, {}, as_of)
        if inside:
            return True
    return False


def _record_history(conn, subject: str, lo: int, hi: int, entered: list, left: list, as_of: int) -> None:
    """Keep each changed subject's segment list (across models, as records carry it) in field history as the
    field `segments`, so as-of reads (backtests, training, segments of a past moment) see membership then."""
    ids = sorted({r["subject_id"] for r in entered} | {sid for sid, _ in left})
    if not ids:
        return
    before: dict = {}
    for part in chunks(ids, 900):
        before.update(segment_store.segments_in_range(conn, subject, lo, hi, part))
    initial, moved = [], []
    for sid, old, new in moved_lists(ids, before, entered, left):
        first, later = field_history.changes({"segments": old}, {"segments": new}, 0, as_of)
        initial += [(sid, *r) for r in first]
        moved += [(sid, *r) for r in later]
    field_history.record(conn, subject, initial, moved)
