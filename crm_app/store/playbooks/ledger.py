"""Playbook state, the action ledger and routing counters: the SQL behind exactly-once actions."""
from __future__ import annotations

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text, update

from crm_app.store import schema
from crm_app.store.dialect import chunks, insert_for, upsert
from crm_app.store.playbooks.schema import pb_ledger, pb_state, rep_week, rr_cursor

OPEN = ("pending", "dispatching", "failed", "waiting")  # waiting: for the subject's CRM record
# OPEN as literal SQL: an executemany cannot expand an IN list
OPEN_SQL = text("pb_ledger.status IN (" + ", ".join(f"'{s}'" for s in OPEN) + ")")
COUNTED = ("pending", "dispatching", "failed", "sent", "digest")  # alerts that count toward noise limits


def changed_subjects(conn: Connection, playbook: str, model: str, limit: int = 5000, after: int = 0,
                     quiet_before: int | None = None) -> list[dict]:
    """Result rows that differ from what the playbook last saw, or fell quiet before a moment (inactive)."""
    r, s = schema.results, pb_state
    j = r.outerjoin(s, and_(s.c.subject_id == r.c.subject_id, s.c.playbook == playbook))
    differs = or_(s.c.subject_id.is_(None), s.c.combined != r.c.combined, s.c.band != r.c.band, s.c.pql != r.c.pql,
                  s.c.as_of < r.c.as_of)
    if quiet_before is not None:
        differs = or_(differs, and_(r.c.last_activity < quiet_before,
                                    or_(s.c.marker.is_(None), s.c.marker != r.c.last_activity)))
    q = (select(r, s.c.combined.label("prev_combined"), s.c.band.label("prev_band"), s.c.pql.label("prev_pql"),
                s.c.segments.label("prev_segments"), s.c.armed.label("prev_armed"), s.c.as_of.label("prev_as_of"),
                s.c.marker.label("prev_marker"))
         .select_from(j).where(r.c.model == model, r.c.subject_id > after, differs)
         .order_by(r.c.subject_id).limit(limit))
    return [dict(row._mapping) for row in conn.execute(q)]


def save_state(conn: Connection, rows: list[dict]) -> None:
    for part in chunks(rows, 2000):
        upsert(conn, pb_state, part, ["playbook", "subject_id"], ["combined", "band", "pql", "segments", "armed",
                                                                  "marker", "as_of"])


def history_since(conn: Connection, model: str, subject_ids: list[int], since: int) -> dict:
    """subject id -> [(as_of, combined)] from score history, oldest first."""
    h, out = schema.score_history, {}
    for part in chunks(sorted(set(subject_ids)), 900):
        q = (select(h.c.subject_id, h.c.as_of, h.c.combined)
             .where(h.c.model == model, h.c.subject_id.in_(part), h.c.as_of >= since).order_by(h.c.as_of))
        for sid, as_of, combined in conn.execute(q):
            out.setdefault(sid, []).append((as_of, combined))
    return out


def insert_entries(conn: Connection, rows: list[dict]) -> int:
    """Write ledger entries; an entry whose key exists is left alone (that is the exactly-once guard)."""
    if not rows:
        return 0
    stmt = insert_for(conn, pb_ledger).on_conflict_do_nothing(
        index_elements=["playbook", "subject_id", "occurrence", "step"])
    return conn.execute(stmt, rows).rowcount or 0


def due_entries(conn: Connection, now: int, limit: int = 500) -> list[dict]:
    """Open entries whose time has come: newest occurrences first (a new PQL never waits behind old retries),
    each occurrence's steps together and in order (they share created_at)."""
    led = pb_ledger
    q = (select(led).where(led.c.status.in_(OPEN), led.c.next_at <= now)
         .order_by(led.c.created_at.desc(), led.c.playbook, led.c.subject_id, led.c.occurrence, led.c.step)
         .limit(limit))
    return [dict(r._mapping) for r in conn.execute(q)]


def planned_occurrences(conn: Connection, playbook: str, subject_ids: list) -> set:
    """(subject id, occurrence) pairs the playbook already has ledger entries for, among these subjects."""
    led, found = pb_ledger, set()
    for part in chunks(sorted(set(subject_ids)), 5000):
        found.update((sid, occ) for sid, occ in conn.execute(
            select(led.c.subject_id, led.c.occurrence).where(led.c.playbook == playbook, led.c.subject_id.in_(part))
            .distinct()))
    return found


def defer_later_steps(conn: Connection, entry: dict, next_at: int) -> None:
    """Hold the steps after a failed one until its retry, so they are not examined on every pass."""
    led = pb_ledger
    conn.execute(update(led).where(led.c.playbook == entry["playbook"], led.c.subject_id == entry["subject_id"],
                                   led.c.occurrence == entry["occurrence"], led.c.step > entry["step"],
                                   led.c.status.in_(OPEN)).values(next_at=next_at))


def mark(conn: Connection, entry_id: int, now: int, **values) -> None:
    conn.execute(update(pb_ledger).where(pb_ledger.c.id == entry_id).values(updated_at=now, **values))


def mark_in_flight(conn: Connection, entry_ids: list[int], now: int) -> None:
    """Entries about to be sent: 'dispatching' with one more try, one statement for all of them."""
    led = pb_ledger
    for part in chunks(sorted(set(entry_ids)), 900):
        conn.execute(update(led).where(led.c.id.in_(part))
                     .values(status="dispatching", attempts=led.c.attempts + 1, updated_at=now))


def record_outcomes(conn: Connection, outcomes: list[tuple[dict, dict, int | None]], now: int) -> None:
    """(entry, column values, next_at of its later steps or None) for many entries: the deferrals, then the
    values, each as one executemany per shape of values (what defer_later_steps and mark do one by one)."""
    led = pb_ledger
    defers = [{"b_playbook": e["playbook"], "b_subject": e["subject_id"], "b_occurrence": e["occurrence"],
               "b_step": e["step"], "b_next": next_at} for e, _, next_at in outcomes if next_at is not None]
    if defers:
        conn.execute(update(led).where(led.c.playbook == bindparam("b_playbook"),
                                       led.c.subject_id == bindparam("b_subject"),
                                       led.c.occurrence == bindparam("b_occurrence"),
                                       led.c.step > bindparam("b_step"), OPEN_SQL)
                     .values(next_at=bindparam("b_next")), defers)
    shapes: dict = {}
    for e, values, _ in outcomes:
        shapes.setdefault(tuple(sorted(values)), []).append(
            {"b_id": e["id"], **{f"b_{k}": v for k, v in values.items()}})
    for columns, rows in shapes.items():
        conn.execute(update(led).where(led.c.id == bindparam("b_id")).values(
            updated_at=now, **{c: bindparam(f"b_{c}", type_=led.c[c].type) for c in columns}), rows)


def alert_counts(conn: Connection, since: int, by: str, among: list | None = None) -> dict:
    """Alerts sent (or queued for a digest) since a moment, per subject (by='subject_id') or per owner
    (by='owner'): what noise limits compare. key -> count."""
    led = pb_ledger
    q = (select(led.c[by], func.count()).where(led.c.action == "slack_alert", led.c.status.in_(COUNTED),
                                               led.c.updated_at >= since).group_by(led.c[by]))
    if among is None:
        return dict(conn.execute(q).all())
    counts: dict = {}
    for part in chunks(sorted(set(among)), 5000):
        counts.update(conn.execute(q.where(led.c[by].in_(part))).all())
    return counts


def status_counts(conn: Connection) -> dict:
    """(action, status) -> count over the whole ledger."""
    q = select(pb_ledger.c.action, pb_ledger.c.status, func.count()).group_by(pb_ledger.c.action,
                                                                                pb_ledger.c.status)
    return {(a, s): n for a, s, n in conn.execute(q)}


def release_waiting(conn: Connection, subject_ids: list[int], now: int) -> int:
    """Make the open entries of subjects that just got a CRM record due now (not at their next try)."""
    led, released = pb_ledger, 0
    for part in chunks(sorted(set(subject_ids)), 900):
        released += conn.execute(update(led).where(led.c.subject_id.in_(part), led.c.status.in_(("waiting", "pending")),
                                                   led.c.next_at > now).values(next_at=now)).rowcount or 0
    return released


def alert_entries(conn: Connection, subject_ids: list[int]) -> dict:
    """subject id -> its newest Slack alert entry (any status), for the people asked about."""
    led, out = pb_ledger, {}
    for part in chunks(sorted(set(subject_ids)), 900):
        q = select(led).where(led.c.action == "slack_alert", led.c.subject_id.in_(part)).order_by(led.c.id)
        out.update({r.subject_id: dict(r._mapping) for r in conn.execute(q)})
    return out


def problem_entries(conn: Connection, limit: int = 20) -> list[dict]:
    q = (select(pb_ledger).where(pb_ledger.c.status.in_(("failed", "dead", "dispatching", "waiting", "expired")))
         .order_by(pb_ledger.c.updated_at.desc()).limit(limit))
    return [dict(r._mapping) for r in conn.execute(q)]


def digest_entries(conn: Connection, owner: str | None = None) -> list[dict]:
    q = select(pb_ledger).where(pb_ledger.c.status == "digest").order_by(pb_ledger.c.owner, pb_ledger.c.id)
    if owner is not None:
        q = q.where(pb_ledger.c.owner == owner)
    return [dict(r._mapping) for r in conn.execute(q)]


def rr_position(conn: Connection, pool: str) -> int:
    return conn.execute(select(rr_cursor.c.position).where(rr_cursor.c.pool == pool)).scalar() or 0


def set_rr_position(conn: Connection, pool: str, position: int) -> None:
    upsert(conn, rr_cursor, [{"pool": pool, "position": position}], ["pool"], ["position"])


def week_counts(conn: Connection, week: int) -> dict:
    q = select(rep_week.c.rep, rep_week.c.assigned).where(rep_week.c.week == week)
    return dict(conn.execute(q).all())


def count_assignments(conn: Connection, week: int, added: dict) -> None:
    """Add each rep's new assignments (rep -> how many) to the week's counts, in one statement."""
    if not added:
        return
    stmt = insert_for(conn, rep_week)
    stmt = stmt.on_conflict_do_update(index_elements=["rep", "week"],
                                      set_={"assigned": rep_week.c.assigned + stmt.excluded.assigned})
    conn.execute(stmt, [{"rep": rep, "week": week, "assigned": n} for rep, n in sorted(added.items())])


def linked_record(conn: Connection, crm: str, person_id: int, account: bool = False) -> tuple | None:
    """(object type, record id) of the person's CRM record from sync's crm_links table, when sync has run.

    Looked up by name so playbooks work before and after the CRM sync tables exist.
    """
    t = schema.metadata.tables.get("crm_links")
    if t is None:
        return None
    subject = t.c.account_id if account else t.c.person_id  # an account playbook targets the account record
    row = conn.execute(select(t.c.object_type, t.c.record_id).where(t.c.crm == crm, subject == person_id)
                       .order_by(t.c.object_type).limit(1)).first()
    return (row[0], row[1]) if row else None


def linked_records(conn: Connection, crm: str, subject_ids, account: bool = False) -> dict:
    """subject id -> (object type, record id) for many subjects at once, chosen as linked_record chooses."""
    t = schema.metadata.tables.get("crm_links")
    if t is None:
        return {}
    subject, out = t.c.account_id if account else t.c.person_id, {}
    for part in chunks(sorted(set(subject_ids)), 900):
        q = (select(subject, t.c.object_type, t.c.record_id).where(t.c.crm == crm, subject.in_(part))
             .order_by(subject, t.c.object_type, t.c.record_id))
        for sid, object_type, record_id in conn.execute(q):
            out.setdefault(sid, (object_type, record_id))
    return out
