"""CRM bookkeeping: record links, last-written values, write failures, watermarks and API-call accounting."""
from __future__ import annotations

import json
import time

from sqlalchemy import BigInteger, Column, Connection, Integer, String, Table, Text, delete, func, select

from crm_app.store import schema
from crm_app.store.sync.deletions import people_with_deleted_records
from crm_app.store.dialect import chunks, upsert
from crm_app.store.scoring.segments import segment_members

crm_links = Table(
    "crm_links", schema.metadata,
    Column("crm", String(32), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("person_id", Integer, index=True),
    Column("account_id", Integer, index=True),
    Column("input_hash", String(32)),  # hash of the mapped inputs: a change elsewhere in the record is not one
    Column("synced_at", BigInteger),
)

crm_written = Table(
    "crm_written", schema.metadata,
    Column("crm", String(32), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("field", String(128), primary_key=True),
    Column("value", Text),  # canonical value as JSON, as last confirmed written
    Column("written_at", BigInteger),
)

crm_write_failures = Table(
    "crm_write_failures", schema.metadata,
    Column("crm", String(32), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("last_at", BigInteger),
)

crm_watermarks = Table(
    "crm_watermarks", schema.metadata,
    Column("crm", String(32), primary_key=True),
    Column("object_type", String(64), primary_key=True),
    Column("watermark", String(64)),
)

crm_api_calls = Table(
    "crm_api_calls", schema.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("crm", String(32), nullable=False),
    Column("operation", String(32), nullable=False),  # provision | sync | writeback | task | owner
    Column("family", String(64), nullable=False),
    Column("calls", Integer, nullable=False),
)

TABLES = (crm_links, crm_written, crm_write_failures, crm_watermarks, crm_api_calls)


def create_tables(conn: Connection) -> None:
    """Migration 10: the CRM tables only."""
    schema.metadata.create_all(conn, tables=list(TABLES))


def links(conn: Connection, crm: str, object_type: str, record_ids: list[str]) -> dict:
    """record id -> link row, for the given records."""
    t = crm_links
    out = {}
    for part in chunks(sorted(set(record_ids)), 900):
        rows = conn.execute(select(t).where(t.c.crm == crm, t.c.object_type == object_type, t.c.record_id.in_(part)))
        out.update({r.record_id: dict(r._mapping) for r in rows})
    return out


def save_links(conn: Connection, rows: list[dict]) -> None:
    for part in chunks(rows, 2000):
        upsert(conn, crm_links, part, ["crm", "object_type", "record_id"],
               ["person_id", "account_id", "input_hash", "synced_at"])


def delete_links(conn: Connection, crm: str, records: list[tuple[str, str]]) -> None:
    """Forget the links of (object type, record id) pairs: deleted records, merged or converted ones."""
    t = crm_links
    by_type: dict = {}
    for object_type, record_id in records:
        by_type.setdefault(object_type, []).append(record_id)
    for object_type, ids in sorted(by_type.items()):
        for part in chunks(sorted(set(ids)), 900):
            conn.execute(delete(t).where(t.c.crm == crm, t.c.object_type == object_type, t.c.record_id.in_(part)))


def person_links(conn: Connection, crm: str) -> list[dict]:
    """Every CRM record linked to a person, with the person id."""
    t = crm_links
    rows = conn.execute(select(t.c.object_type, t.c.record_id, t.c.person_id)
                        .where(t.c.crm == crm, t.c.person_id.is_not(None)).order_by(t.c.object_type, t.c.record_id))
    return [dict(r._mapping) for r in rows]


def subject_links(conn: Connection, crm: str) -> list[dict]:
    """Every CRM record linked to a person or an account, with subject_id: the person or account id.

    Person models' results are keyed by person id and account models' by account id, so a lead or contact
    shows person results and an Account / company shows account results (field specs pick the objects).
    """
    t = crm_links
    rows = conn.execute(select(t.c.object_type, t.c.record_id, t.c.person_id, t.c.account_id)
                        .where(t.c.crm == crm, (t.c.person_id.is_not(None)) | (t.c.account_id.is_not(None)))
                        .order_by(t.c.object_type, t.c.record_id))
    return [{"object_type": o, "record_id": r, "subject_id": p if p is not None else a} for o, r, p, a in rows]


def written(conn: Connection, crm: str, object_type: str, record_ids: list[str]) -> dict:
    """(record id, field) -> canonical value last confirmed written."""
    t = crm_written
    out = {}
    for part in chunks(sorted(set(record_ids)), 900):
        rows = conn.execute(select(t.c.record_id, t.c.field, t.c.value)
                            .where(t.c.crm == crm, t.c.object_type == object_type, t.c.record_id.in_(part)))
        out.update({(r.record_id, r.field): json.loads(r.value) for r in rows})
    return out


def save_written(conn: Connection, crm: str, object_type: str, values: dict[str, dict]) -> None:
    """Remember the values a batch wrote, per record, and clear their failures."""
    now = int(time.time())
    rows = [{"crm": crm, "object_type": object_type, "record_id": rid, "field": f, "value": json.dumps(v),
             "written_at": now} for rid, fields in values.items() for f, v in fields.items()]
    for part in chunks(rows, 2000):
        upsert(conn, crm_written, part, ["crm", "object_type", "record_id", "field"], ["value", "written_at"])
    t = crm_write_failures
    for part in chunks(sorted(values), 900):
        conn.execute(delete(t).where(t.c.crm == crm, t.c.object_type == object_type, t.c.record_id.in_(part)))


def record_failures(conn: Connection, crm: str, object_type: str, failures: dict[str, str]) -> None:
    """Keep each failed record with its error; attempts grow on every failed try."""
    t = crm_write_failures
    before = {r.record_id: r.attempts for r in conn.execute(
        select(t.c.record_id, t.c.attempts).where(t.c.crm == crm, t.c.object_type == object_type,
                                                  t.c.record_id.in_(sorted(failures))))}
    now = int(time.time())
    rows = [{"crm": crm, "object_type": object_type, "record_id": rid, "error": err,
             "attempts": before.get(rid, 0) + 1, "last_at": now} for rid, err in failures.items()]
    upsert(conn, t, rows, ["crm", "object_type", "record_id"], ["error", "attempts", "last_at"])


def forget_failures(conn: Connection, crm: str, records: list[tuple[str, str]]) -> None:
    """Drop the write failures of (object type, record id) pairs: records that are gone or moved."""
    t = crm_write_failures
    for object_type, record_id in records:
        conn.execute(delete(t).where(t.c.crm == crm, t.c.object_type == object_type, t.c.record_id == record_id))


def failures(conn: Connection, crm: str) -> list[dict]:
    t = crm_write_failures
    return [dict(r._mapping) for r in conn.execute(select(t).where(t.c.crm == crm).order_by(t.c.record_id))]


def watermark(conn: Connection, crm: str, object_type: str) -> str | None:
    t = crm_watermarks
    return conn.execute(select(t.c.watermark).where(t.c.crm == crm, t.c.object_type == object_type)).scalar()


def set_watermark(conn: Connection, crm: str, object_type: str, value: str) -> None:
    upsert(conn, crm_watermarks, [{"crm": crm, "object_type": object_type, "watermark": value}],
           ["crm", "object_type"], ["watermark"])


def record_calls(conn: Connection, crm: str, operation: str, calls: dict) -> None:
    """Append one operation's API calls, per endpoint family."""
    now = int(time.time())
    rows = [{"at": now, "crm": crm, "operation": operation, "family": f, "calls": n} for f, n in calls.items() if n]
    if rows:
        conn.execute(crm_api_calls.insert(), rows)


def call_totals(conn: Connection, crm: str, since: int) -> list[tuple[str, str, int]]:
    """(operation, family, calls) summed since an epoch second."""
    t = crm_api_calls
    rows = conn.execute(select(t.c.operation, t.c.family, func.sum(t.c.calls))
                        .where(t.c.crm == crm, t.c.at >= since).group_by(t.c.operation, t.c.family)
                        .order_by(t.c.operation, t.c.family))
    return [(r[0], r[1], int(r[2])) for r in rows]


def accounts_by_domain(conn: Connection, domains: list[str]) -> dict:
    """lower-cased domain -> (account id, external id)."""
    a = schema.accounts
    out = {}
    for part in chunks(sorted({d.lower() for d in domains if d}), 900):
        for row in conn.execute(select(a.c.id, a.c.external_id, a.c.domain).where(func.lower(a.c.domain).in_(part))):
            out.setdefault(row.domain.lower(), (row.id, row.external_id))
    return out


def external_ids(conn: Connection, table_name: str, ids: list[int]) -> dict:
    """store id -> external id, for people or accounts."""
    table = schema.people if table_name == "people" else schema.accounts
    out = {}
    for part in chunks(sorted(set(ids)), 900):
        out.update(dict(conn.execute(select(table.c.id, table.c.external_id).where(table.c.id.in_(part))).all()))
    return out


def watermarks(conn: Connection, crm: str) -> dict:
    t = crm_watermarks
    return dict(conn.execute(select(t.c.object_type, t.c.watermark).where(t.c.crm == crm)).all())


def demo_rows(conn: Connection) -> tuple[list, list]:
    """Every account and person, for seeding the demo's sandbox CRM."""
    a, p = schema.accounts, schema.people
    accounts = conn.execute(select(a.c.id, a.c.name, a.c.domain, a.c.attributes)).all()
    people = conn.execute(select(p.c.id, p.c.email, p.c.account_id, p.c.attributes)).all()
    return accounts, people


def results_for(conn: Connection, model: str, person_ids: list[int]) -> dict:
    """person id -> the whole latest result row of one model (what the CRM fields show)."""
    r = schema.results
    out = {}
    for part in chunks(sorted(set(person_ids)), 900):
        rows = conn.execute(select(r).where(r.c.model == model, r.c.subject_id.in_(part)))
        out.update({row.subject_id: dict(row._mapping) for row in rows})
    return out


def unlinked_people(conn: Connection, crm: str, model: str | None = None, segment: str | None = None,
                    after: int = 0, limit: int = 5000) -> list[int]:
    """Ids of people with no record in this CRM, in id order after `after`: PQLs of `model`, members of its
    `segment`, or (with neither) everyone."""
    p, links = schema.people, crm_links
    linked = select(links.c.person_id).where(links.c.crm == crm, links.c.person_id.is_not(None))
    # A person whose record a CRM user deleted is not given a new one: recreating it would undo their
    # decision, and a delete / create pair on every cycle would follow.
    q = select(p.c.id).where(p.c.id > after, p.c.id.not_in(linked), p.c.id.not_in(people_with_deleted_records(crm)))
    if model and segment:
        s = segment_members
        q = q.where(p.c.id.in_(select(s.c.subject_id).where(s.c.model == model, s.c.segment == segment,
                                                              s.c.subject == "person")))
    elif model:
        r = schema.results
        q = q.where(p.c.id.in_(select(r.c.subject_id).where(r.c.model == model, r.c.pql.is_(True))))
    return [row[0] for row in conn.execute(q.order_by(p.c.id).limit(limit))]


def account_records(conn: Connection, crm: str, object_type: str, account_ids: list[int]) -> dict:
    """account id -> the CRM record id it is linked to, for one object (Account, companies)."""
    t = crm_links
    out = {}
    for part in chunks(sorted(set(account_ids)), 900):
        rows = conn.execute(select(t.c.account_id, t.c.record_id).where(
            t.c.crm == crm, t.c.object_type == object_type, t.c.account_id.in_(part)))
        out.update({a: r for a, r in rows})
    return out


def accounts_of_people(conn: Connection, person_ids: list[int]) -> dict:
    """person id -> their account's id, for the people that have one."""
    p = schema.people
    out = {}
    for part in chunks(sorted(set(person_ids)), 900):
        rows = conn.execute(select(p.c.id, p.c.account_id).where(p.c.id.in_(part), p.c.account_id.is_not(None)))
        out.update(dict(rows.all()))
    return out
