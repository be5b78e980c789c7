"""Customer-health segment membership: who is in which segment of a model now, and since when."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, and_, delete, select

from crm_app.store import schema
from crm_app.store.dialect import chunks

segment_members = Table(
    "segment_members", schema.metadata,
    Column("model", String(64), primary_key=True),
    Column("subject_id", Integer, primary_key=True),
    Column("segment", String(64), primary_key=True),
    Column("subject", String(16), nullable=False),  # person | account: which id space subject_id is in
    Column("since", BigInteger, nullable=False),  # as_of of the run that first put the subject in it
    Index("ix_segment_members_subject", "subject", "subject_id"),
)


def create_tables(conn: Connection) -> None:
    """Migration 41: the segment table only."""
    schema.metadata.create_all(conn, tables=[segment_members])


def _scope(column, lo: int, hi: int, only):
    return column.in_(only) if only is not None else column.between(lo, hi)


def history_since(conn: Connection, model: str, since: int, lo: int, hi: int, only=None) -> dict:
    """subject id -> [(as_of, combined)] of score history from `since` on, plus the last point before it."""
    h = schema.score_history
    out: dict = {}
    rows = conn.execute(select(h.c.subject_id, h.c.as_of, h.c.combined)
                        .where(h.c.model == model, _scope(h.c.subject_id, lo, hi, only))
                        .order_by(h.c.subject_id, h.c.as_of))
    for subject_id, as_of, combined in rows:
        points = out.setdefault(subject_id, [])
        if as_of <= since and points and points[-1][0] <= since:
            points[-1] = (as_of, combined)  # only the latest point before the window matters
        else:
            points.append((as_of, combined))
    return out


def current_members(conn: Connection, model: str) -> dict:
    """(subject id, segment) -> since."""
    t = segment_members
    return {(s, g): since for s, g, since in conn.execute(
        select(t.c.subject_id, t.c.segment, t.c.since).where(t.c.model == model))}


def save_members(conn: Connection, model: str, subject: str, entered: list[dict], left: list[tuple]) -> None:
    """Add the rows that entered and delete the (subject, segment) pairs that left."""
    t = segment_members
    for part in chunks(entered, 2000):
        conn.execute(t.insert(), [dict(r, model=model, subject=subject) for r in part])
    for subject_id, segment in left:
        conn.execute(delete(t).where(and_(t.c.model == model, t.c.subject_id == subject_id,
                                          t.c.segment == segment)))


def segments_in_range(conn: Connection, subject: str, lo: int, hi: int, only=None) -> dict:
    """subject id -> sorted segment ids across models, for records (playbook triggers read record['segments'])."""
    t = segment_members
    scope = t.c.subject_id.in_(only) if only is not None else t.c.subject_id.between(lo, hi)
    out: dict = {}
    for s, g in conn.execute(select(t.c.subject_id, t.c.segment).where(t.c.subject == subject, scope)):
        out.setdefault(s, []).append(g)
    return {k: sorted(v) for k, v in out.items()}


def scores_in_range(conn: Connection, models: list, lo: int, hi: int, only=None) -> dict:
    """subject id -> {score:<model>: combined} for the given models' stored results."""
    r = schema.results
    out: dict = {}
    for subject_id, model, combined in conn.execute(
            select(r.c.subject_id, r.c.model, r.c.combined)
            .where(r.c.model.in_(models), _scope(r.c.subject_id, lo, hi, only))):
        out.setdefault(subject_id, {})[f"score:{model}"] = combined
    return out


def set_primary(conn: Connection, model: str, primary: dict) -> int:
    """Store each subject's primary segment on its result row, touching only rows whose value changes."""
    r = schema.results
    ids = sorted(primary)
    if not ids:
        return 0
    stored = {}
    for part in chunks(ids, 900):
        stored.update(dict(conn.execute(select(r.c.subject_id, r.c.segment)
                                        .where(r.c.model == model, r.c.subject_id.in_(part))).all()))
    changes = [{"sid": s, "seg": v} for s, v in primary.items() if stored.get(s) != v]
    if changes:
        from sqlalchemy import bindparam
        stmt = (r.update().where(r.c.model == model, r.c.subject_id == bindparam("sid"))
                .values(segment=bindparam("seg")))
        conn.execute(stmt, changes)
    return len(changes)

