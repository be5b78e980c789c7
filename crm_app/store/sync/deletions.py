"""CRM records a CRM user deleted: the person they were linked to is not given a new record automatically."""
from __future__ import annotations

import time

from sqlalchemy import BigInteger, Column, Connection, Integer, String, Table, func, select

from crm_app.store import schema
from crm_app.store.dialect import chunks, upsert

crm_deleted = Table(
    "crm_deleted", schema.metadata,
    Column("crm", String(32), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("person_id", Integer, index=True),
    Column("deleted_at", BigInteger),  # when sync saw the deletion
)


def create_tables(conn: Connection) -> None:
    """Migration 85."""
    schema.metadata.create_all(conn, tables=[crm_deleted])


def remember(conn: Connection, crm: str, rows: list[tuple[str, str, int]]) -> None:
    """(object type, record id, person id) of deleted records that were linked to a person."""
    now = int(time.time())
    values = [{"crm": crm, "object_type": o, "record_id": r, "person_id": p, "deleted_at": now} for o, r, p in rows]
    for part in chunks(values, 2000):
        upsert(conn, crm_deleted, part, ["crm", "object_type", "record_id"], ["person_id", "deleted_at"])


def people_with_deleted_records(crm: str):
    """A subquery of the person ids whose record in this CRM was deleted there."""
    d = crm_deleted
    return select(d.c.person_id).where(d.c.crm == crm, d.c.person_id.is_not(None))


def count(conn: Connection, crm: str) -> int:
    d = crm_deleted
    return conn.execute(select(func.count(func.distinct(d.c.person_id))).where(d.c.crm == crm)).scalar() or 0
