"""Write-back: send only score values that differ from what the CRM was last confirmed to hold.

Bookkeeping is committed after every part the adapter sends, so an interrupted run resumes where it stopped:
what landed is not sent again, what did not land is still a difference. Records the CRM refused are kept with
their error in crm_write_failures, retried once more in the same run, and again on every later run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from crm_app.crm.base import RecordUpdate
from crm_app.services.crm.accounting import record_usage
from crm_app.services.crm.values import field_value
from crm_app.store import Store
from crm_app.store import crm as crm_store

READ_CHUNK = 5000


@dataclass
class PushSummary:
    changed: int = 0  # records with at least one changed value
    written: int = 0
    failed: dict = field(default_factory=dict)  # record id -> error, after the in-run retry
    calls: dict = field(default_factory=dict)


def plan_updates(store: Store, adapter, specs) -> list[RecordUpdate]:
    """Every record whose desired score values differ from the last written ones; only changed fields."""
    targets: dict[str, list] = {}
    for spec in specs:
        for object_type, name in adapter.field_targets(spec):
            targets.setdefault(object_type, []).append((name, spec))
    links = [lk for lk in _subject_links(store, adapter.name) if lk["object_type"] in targets]
    updates: list[RecordUpdate] = []
    for object_type, fields in targets.items():
        types = {name: spec.type for name, spec in fields}
        mine = [lk for lk in links if lk["object_type"] == object_type]
        for start in range(0, len(mine), READ_CHUNK):
            updates.extend(_diff(store, adapter.name, object_type, fields, types, mine[start:start + READ_CHUNK]))
    return updates


def _subject_links(store: Store, crm: str) -> list[dict]:
    with store.read() as conn:
        return crm_store.subject_links(conn, crm)


def _diff(store: Store, crm: str, object_type: str, fields: list, types: dict, links: list) -> list[RecordUpdate]:
    subject_ids = [lk["subject_id"] for lk in links]
    models = sorted({spec.model for _, spec in fields})
    with store.read() as conn:
        rows = {m: crm_store.results_for(conn, m, subject_ids) for m in models}
        written = crm_store.written(conn, crm, object_type, [lk["record_id"] for lk in links])
    out = []
    for lk in links:
        values = {}
        for name, spec in fields:
            row = rows[spec.model].get(lk["subject_id"])
            if row is None:
                continue  # not scored yet: never blank a field we have nothing to say about
            value = field_value(spec, row)
            if (lk["record_id"], name) not in written and value is None:
                continue
            if written.get((lk["record_id"], name), _UNSET) != value:
                values[name] = value
        if values:
            out.append(RecordUpdate(object_type, lk["record_id"], values, types))
    return out


_UNSET = object()


def push_scores(store: Store, adapter, specs, dry_run: bool = False) -> PushSummary:
    """Write every changed value; the calls used are recorded under 'writeback'."""
    summary = PushSummary()
    try:
        updates = plan_updates(store, adapter, specs)
        summary.changed = len(updates)
        if dry_run or not updates:
            return summary
        failed = _send(store, adapter, updates, summary)
        if failed:  # one more try in this run; what still fails stays recorded for the next
            retry = [u for u in updates if u.id in failed]
            failed = _send(store, adapter, retry, summary)
        summary.failed = failed
    finally:
        summary.calls = record_usage(store, adapter, "writeback")
    return summary


def _send(store: Store, adapter, updates: list[RecordUpdate], summary: PushSummary) -> dict:
    """Send in parts the adapter chooses; commit each part's outcome before the next goes out."""
    part_size = adapter.part_size(len(updates)) if hasattr(adapter, "part_size") else 200
    failed: dict = {}
    for start in range(0, len(updates), part_size):
        part = updates[start:start + part_size]
        outcomes = adapter.write_values(part)
        by_id = {u.id: u for u in part}
        ok_by_object: dict = {}
        bad_by_object: dict = {}
        for outcome in outcomes:
            update = by_id[outcome.id]
            if outcome.ok:
                ok_by_object.setdefault(update.object_type, {})[update.id] = update.values
                summary.written += 1
                failed.pop(update.id, None)
            else:
                bad_by_object.setdefault(update.object_type, {})[update.id] = outcome.error or "unknown error"
                failed[update.id] = outcome.error or "unknown error"
        with store.begin() as conn:
            for object_type, values in ok_by_object.items():
                crm_store.save_written(conn, adapter.name, object_type, values)
            for object_type, errors in bad_by_object.items():
                crm_store.record_failures(conn, adapter.name, object_type, errors)
    return failed
