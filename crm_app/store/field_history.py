"""Field history: every change of a person's or an account's fields with the moment it became known, so backtests and horizon
training read fields as they were then (as events already are).

A subject's first values are kept as `initial`: they stand for the time before anything was recorded (a record
imported today has no earlier past to tell). A field that appears later gets an initial "absent" row, so
before it appeared it reads as missing.
"""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Connection, Integer, String, Table, select

from crm_app.store import schema
from crm_app.store.dialect import chunks, upsert

field_history = Table(
    "field_history", schema.metadata,
    Column("subject_kind", String(8), primary_key=True),  # person | account
    Column("subject_id", Integer, primary_key=True),
    Column("field", String(128), primary_key=True),
    Column("valid_from", BigInteger, primary_key=True),
    Column("value", JSON),  # None: the field was absent
    Column("initial", Boolean, nullable=False),
)


def create_tables(conn: Connection) -> None:
    """Migration 91: field_history."""
    schema.metadata.create_all(conn, tables=[field_history])


def changes(old: dict | None, new: dict, created_at: int, at: int) -> tuple[list, list]:
    """(initial rows, change rows) as (field, value, valid_from, initial) between two attribute maps."""
    if old is None:
        return [(f, v, created_at, True) for f, v in new.items()], []
    moved = [f for f in sorted(set(old) | set(new)) if old.get(f) != new.get(f)]
    return ([(f, old.get(f), created_at, True) for f in moved],
            [(f, new.get(f), max(at, created_at), False) for f in moved])


def record(conn: Connection, kind: str, initial: list, changed: list) -> None:
    """Store (subject id, field, value, valid_from, initial) rows: initial ones only where none is kept yet."""
    def as_rows(rows):
        return [{"subject_kind": kind, "subject_id": sid, "field": f[:128], "value": v, "valid_from": t,
                 "initial": i} for sid, f, v, t, i in rows]
    keys = ["subject_kind", "subject_id", "field", "valid_from"]
    for part in chunks(as_rows(initial), 1000):
        upsert(conn, field_history, part, keys)
    for part in chunks(as_rows(changed), 1000):
        upsert(conn, field_history, part, keys, ["value", "initial"])


def values_as_of(conn: Connection, kind: str, lo: int, hi: int, only, as_of: int) -> dict:
    """subject id -> {field: value as of the moment} for the subjects with history (None = absent then)."""
    h = field_history
    scope = h.c.subject_id.in_(only) if only is not None else h.c.subject_id.between(lo, hi)
    rows = conn.execute(select(h.c.subject_id, h.c.field, h.c.valid_from, h.c.value, h.c.initial)
                        .where(h.c.subject_kind == kind, scope).order_by(h.c.subject_id, h.c.field, h.c.valid_from))
    return _fold(rows, as_of)


def account_values_for_people(conn: Connection, lo: int, hi: int, only, as_of: int, then: dict | None = None) -> dict:
    """person id -> {field: value of the person's account as of the moment}, for people whose account has history:
    the account the person belonged to then where `then` (person id -> account id, from membership history) says,
    else the one the person belongs to now."""
    h, p = field_history, schema.people
    scope = p.c.id.in_(only) if only is not None else p.c.id.between(lo, hi)
    rows = conn.execute(select(p.c.id, h.c.field, h.c.valid_from, h.c.value, h.c.initial)
                        .select_from(p.join(h, (h.c.subject_kind == "account") & (h.c.subject_id == p.c.account_id)))
                        .where(scope).order_by(p.c.id, h.c.field, h.c.valid_from))
    out = {pid: fields for pid, fields in _fold(rows, as_of).items() if pid not in (then or {})}
    if then:
        accounts = sorted({a for a in then.values() if a is not None})
        known = {}
        for part in chunks(accounts, 900):
            known.update(values_as_of(conn, "account", 0, -1, part, as_of))
        out.update({pid: known[a] for pid, a in then.items() if a in known})
    return out


def _fold(rows, as_of: int) -> dict:
    """Rows (subject, field, valid_from, value, initial) in that order -> subject -> {field: value then}."""
    out: dict = {}
    for sid, name, valid_from, value, initial in rows:
        fields = out.setdefault(sid, {})
        if valid_from <= as_of or (initial and name not in fields):
            fields[name] = value
    return out


def history_of(conn: Connection, kind: str, ids: list) -> dict:
    """subject id -> [(field, valid_from, value, initial)] in time order, for these subjects."""
    h = field_history
    out: dict = {}
    for part in chunks(sorted(set(ids)), 900):
        rows = conn.execute(select(h.c.subject_id, h.c.field, h.c.valid_from, h.c.value, h.c.initial)
                            .where(h.c.subject_kind == kind, h.c.subject_id.in_(part)).order_by(h.c.valid_from))
        for sid, name, valid_from, value, initial in rows:
            out.setdefault(sid, []).append((name, valid_from, value, initial))
    return out


def value_at(rows: list, name: str, moment: float):
    """A field's value at a moment from one subject's rows (as values_as_of reads it); None when absent."""
    value, seen = None, False
    for field, valid_from, v, initial in rows:
        if field != name:
            continue
        if valid_from <= moment or (initial and not seen):
            value = v
        seen = True
    return value
