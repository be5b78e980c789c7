"""A person's playbook rows, moved to the person they were merged into, so no trigger fires twice for one human.

Playbook state, the ledger, Slack alerts and feedback are keyed by subject id, which is a person id for person
playbooks and an account id for account ones (the two id spaces overlap). Which playbooks and models are about
accounts is recorded whenever a rule set is applied; only rows of the others move.

Trigger state of two people is merged so that what fired for either counts as fired for the survivor:
a disarmed flag wins, the later marker and peak win, segments are united, and the last-seen score is the
higher one's, so the merged person does not "become" what one half already was.
"""
from __future__ import annotations

import json

from sqlalchemy import Connection, bindparam, case, delete, select

from crm_app.store.dialect import chunks, upsert
from crm_app.store.meta import get_meta, set_meta
from crm_app.store.playbooks.schema import pb_ledger, pb_state, pql_feedback, slack_alerts

ACCOUNT_SUBJECTS = "account_subjects"
STATE = ("combined", "band", "pql", "segments", "armed", "marker", "as_of")


def save_account_subjects(conn: Connection, models: list[str], playbooks: list[str]) -> None:
    """Which models and playbooks are about accounts (recorded with every applied rule set)."""
    set_meta(conn, ACCOUNT_SUBJECTS, json.dumps({"models": sorted(models), "playbooks": sorted(playbooks)}))


def account_subjects(conn: Connection) -> tuple[set, set]:
    """(account models, account playbooks); empty when no rule set was recorded yet."""
    kinds = json.loads(get_meta(conn, ACCOUNT_SUBJECTS, "{}") or "{}")
    return set(kinds.get("models") or ()), set(kinds.get("playbooks") or ())


def merge_state(survivor: dict, absorbed: dict) -> dict:
    """One playbook's trigger state for the merged person (PURE)."""
    higher = max((survivor, absorbed), key=lambda r: (r.get("combined") is not None, r.get("combined") or 0,
                                                      r is survivor))
    armed_s, armed_a = dict(survivor.get("armed") or {}), dict(absorbed.get("armed") or {})
    armed = {**armed_a, **armed_s}
    for key in set(armed_s) | set(armed_a):
        values = [v for v in (armed_s.get(key), armed_a.get(key)) if v is not None]
        if all(isinstance(v, bool) for v in values):
            armed[key] = all(values)  # disarmed on either side: it fired for this human already
        elif all(isinstance(v, (int, float)) for v in values):
            armed[key] = max(values)  # the later peak, the higher entry
    markers = [m for m in (survivor.get("marker"), absorbed.get("marker")) if m is not None]
    stamps = [a for a in (survivor.get("as_of"), absorbed.get("as_of")) if a is not None]
    segments = sorted(set(survivor.get("segments") or ()) | set(absorbed.get("segments") or ()))
    return {**survivor, "combined": higher.get("combined"), "band": higher.get("band"), "pql": higher.get("pql"),
            "segments": segments, "armed": armed, "marker": max(markers) if markers else None,
            "as_of": max(stamps) if stamps else None}


def move_playbook_rows(conn: Connection, mapping: dict, account_playbooks: set, account_models: set) -> None:
    """Move (or merge) the person playbook rows of absorbed people to their survivors (absorbed -> survivor)."""
    _move_state(conn, mapping, account_playbooks)
    _move_ledger(conn, mapping, account_playbooks)
    target = case(mapping, value=slack_alerts.c.subject_id)
    conn.execute(slack_alerts.update().where(slack_alerts.c.subject_id.in_(sorted(mapping)),
                                             slack_alerts.c.playbook.not_in(sorted(account_playbooks)))
                 .values(subject_id=target))
    target = case(mapping, value=pql_feedback.c.subject_id)
    conn.execute(pql_feedback.update().where(pql_feedback.c.subject_id.in_(sorted(mapping)),
                                             pql_feedback.c.model.not_in(sorted(account_models)))
                 .values(subject_id=target))


def _move_state(conn: Connection, mapping: dict, account_playbooks: set) -> None:
    s = pb_state
    ids = sorted(set(mapping) | set(mapping.values()))
    rows = {(r["playbook"], r["subject_id"]): dict(r) for r in conn.execute(
        select(s).where(s.c.subject_id.in_(ids), s.c.playbook.not_in(sorted(account_playbooks)))).mappings()}
    merged: dict = {}
    gone: dict = {}
    for (playbook, subject), row in sorted(rows.items()):
        if subject not in mapping:
            continue
        key = (playbook, mapping[subject])
        current = merged.get(key) or rows.get(key)
        merged[key] = merge_state(current, row) if current else dict(row)
        merged[key]["subject_id"] = mapping[subject]
        gone.setdefault(playbook, []).append(subject)
    for playbook, subjects in gone.items():
        conn.execute(delete(s).where(s.c.playbook == playbook, s.c.subject_id.in_(subjects)))
    for part in chunks(list(merged.values()), 2000):
        upsert(conn, s, part, ["playbook", "subject_id"], list(STATE))


def _move_ledger(conn: Connection, mapping: dict, account_playbooks: set) -> None:
    """Entries move to the survivor; one whose happening the survivor already has is dropped (the key is unique)."""
    t = pb_ledger
    ids = sorted(set(mapping) | set(mapping.values()))
    rows = conn.execute(select(t.c.id, t.c.playbook, t.c.subject_id, t.c.occurrence, t.c.step, t.c.payload)
                        .where(t.c.subject_id.in_(ids), t.c.playbook.not_in(sorted(account_playbooks)))
                        .order_by(t.c.id)).all()
    taken = {(r.playbook, r.subject_id, r.occurrence, r.step) for r in rows if r.subject_id not in mapping}
    moves, drops = [], []
    for r in rows:
        if r.subject_id not in mapping or (r.payload or {}).get("subject") == "account":
            continue
        key = (r.playbook, mapping[r.subject_id], r.occurrence, r.step)
        if key in taken:
            drops.append(r.id)
        else:
            taken.add(key)
            moves.append({"entry": r.id, "survivor": mapping[r.subject_id]})
    for part in chunks(sorted(drops), 900):
        conn.execute(delete(t).where(t.c.id.in_(part)))
    if moves:
        conn.execute(t.update().where(t.c.id == bindparam("entry")).values(subject_id=bindparam("survivor")), moves)
