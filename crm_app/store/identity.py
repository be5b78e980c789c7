"""Identity tables: CRM people as read, their links to product users, and how each person got its account."""
from __future__ import annotations

import time

from sqlalchemy import BigInteger, Column, Connection, Integer, String, Table, bindparam, delete, func, select

from crm_app.store import membership, schema
from crm_app.store.dialect import chunks, upsert

crm_people = Table(
    "identity_crm_people", schema.metadata,
    Column("key", String(200), primary_key=True),  # crm:object_type:record_id
    Column("email", String(320), index=True),  # canonical (trimmed, lower, +tag removed)
    Column("name", String(255)),  # normalized full name
    Column("product_user_id", String(255), index=True),  # the CRM's explicit external-id field
    Column("seen_at", BigInteger),
)

identity_links = Table(
    "identity_links", schema.metadata,
    Column("crm_key", String(200), primary_key=True),
    Column("person_id", Integer, nullable=False, index=True),
    Column("method", String(32), nullable=False),
    Column("linked_at", BigInteger),
)

account_matches = Table(
    "identity_account_matches", schema.metadata,
    Column("person_id", Integer, primary_key=True),
    Column("account_id", Integer),
    Column("method", String(32), nullable=False),  # group_id | domain | ambiguous_domain
)

TABLES = (crm_people, identity_links, account_matches)


def create_tables(conn: Connection) -> None:
    """Migration 40: the identity tables only."""
    schema.metadata.create_all(conn, tables=list(TABLES))


def save_crm_people(conn: Connection, rows: list[dict]) -> None:
    """Upsert CRM people (key, email, name, product_user_id)."""
    now = int(time.time())
    for part in chunks([dict(r, seen_at=now) for r in rows], 2000):
        upsert(conn, crm_people, part, ["key"], ["email", "name", "product_user_id", "seen_at"])


def all_crm_people(conn: Connection) -> list:
    return conn.execute(select(crm_people.c.key, crm_people.c.email, crm_people.c.name,
                               crm_people.c.product_user_id)).all()


NAME_FIELDS = ("first_name", "last_name", "name")


def people_for_matching(conn: Connection, lo: int, hi: int) -> list:
    """(id, external_id, email, {name fields}, account_id) of the product users with ids in [lo, hi].

    Only the name fields are read out of the attributes JSON (in SQL): decoding whole records costs more
    than the matching itself.
    """
    p = schema.people
    names = [p.c.attributes[f].as_string().label(f) for f in NAME_FIELDS]
    rows = conn.execute(select(p.c.id, p.c.external_id, p.c.email, p.c.account_id, *names)
                        .where(p.c.id.between(lo, hi)).order_by(p.c.id))
    return [(r[0], r[1], r[2], {f: v for f, v in zip(NAME_FIELDS, r[4:]) if v}, r[3]) for r in rows]


def accounts_by_domain(conn: Connection) -> dict:
    """domain -> [account ids] (lower-cased); a list longer than one marks a shared domain."""
    a = schema.accounts
    found: dict = {}
    for account_id, domain in conn.execute(select(a.c.id, a.c.domain).where(a.c.domain.is_not(None))
                                           .order_by(a.c.id)):
        found.setdefault(domain.strip().lower().removeprefix("www."), []).append(account_id)
    return found


def replace_links(conn: Connection, rows: list[dict]) -> None:
    """Make the link table exactly these rows (a re-run recomputes every link from the current data)."""
    conn.execute(delete(identity_links))
    for part in chunks(rows, 2000):
        conn.execute(identity_links.insert(), part)


def save_account_matches(conn: Connection, rows: list[dict]) -> None:
    """Remember how each person got (or failed to get) an account; set people.account_id where matched."""
    for part in chunks(rows, 2000):
        upsert(conn, account_matches, part, ["person_id"], ["account_id", "method"])
    p = schema.people
    matched = [{"pid": r["person_id"], "aid": r["account_id"]} for r in rows if r["account_id"] is not None]
    stmt = (p.update().where(p.c.id == bindparam("pid"), p.c.account_id.is_(None))
            .values(account_id=bindparam("aid")))
    for part in chunks(matched, 2000):
        aid = {r["pid"]: r["aid"] for r in part}
        unlinked = conn.execute(select(p.c.id, p.c.created_at).where(p.c.id.in_(list(aid)), p.c.account_id.is_(None)))
        now = int(time.time())
        membership.record_moves(conn, [(pid, None, aid[pid], created, now) for pid, created in unlinked])
        conn.execute(stmt, part)  # one executemany per chunk


def link_counts(conn: Connection) -> dict:
    """method -> linked CRM records."""
    t = identity_links
    return dict(conn.execute(select(t.c.method, func.count()).group_by(t.c.method)).all())


def linked_person_ids(conn: Connection) -> set:
    return set(conn.execute(select(identity_links.c.person_id).distinct()).scalars())


def unmatched_by_events(conn: Connection, limit: int) -> list:
    """(external id, email, events) of the most active product users no CRM record is linked to."""
    p, e, t = schema.people, schema.events, identity_links
    # Count per person first: a scan of the person-ordered events index, then one join for the top few.
    counts = (select(e.c.person_id, func.count().label("n")).where(e.c.person_id.is_not(None))
              .group_by(e.c.person_id).subquery())
    n = func.coalesce(counts.c.n, 0)
    q = (select(p.c.external_id, p.c.email, n.label("n"))
         .select_from(p.outerjoin(counts, counts.c.person_id == p.c.id))
         .where(p.c.id.not_in(select(t.c.person_id)))
         .order_by(n.desc(), p.c.external_id).limit(limit))
    return [tuple(r) for r in conn.execute(q)]


def anonymous_backlog(conn: Connection, limit: int) -> list:
    """(anonymous id, events) kept with no person yet, largest first."""
    e = schema.events
    q = (select(e.c.anonymous_id, func.count()).where(e.c.person_id.is_(None))
         .group_by(e.c.anonymous_id).order_by(func.count().desc(), e.c.anonymous_id).limit(limit))
    return [tuple(r) for r in conn.execute(q)]


def duplicate_groups(conn: Connection) -> list:
    """(person id, [crm keys]) where several CRM records are the same person."""
    t = identity_links
    rows = conn.execute(select(t.c.person_id, t.c.crm_key).order_by(t.c.person_id, t.c.crm_key)).all()
    groups: dict = {}
    for person_id, key in rows:
        groups.setdefault(person_id, []).append(key)
    return [(pid, keys) for pid, keys in groups.items() if len(keys) > 1]


def accounts_for_domains(conn: Connection, domains: list[str]) -> dict:
    """domain -> [account ids] for just these domains (ingest-time matching of a batch)."""
    a = schema.accounts
    found: dict = {}
    for part in chunks(sorted(set(domains)), 900):
        for account_id, domain in conn.execute(select(a.c.id, a.c.domain).where(func.lower(a.c.domain).in_(part))
                                               .order_by(a.c.id)):
            found.setdefault(domain.strip().lower(), []).append(account_id)
    return found


def people_without_account(conn: Connection, person_ids: list[int]) -> dict:
    """person id -> email of the given people who have an email but no account yet."""
    p = schema.people
    out = {}
    for part in chunks(sorted(set(person_ids)), 900):
        out.update(dict(conn.execute(select(p.c.id, p.c.email).where(
            p.c.id.in_(part), p.c.account_id.is_(None), p.c.email.is_not(None))).all()))
    return out


def forget_crm_people(conn: Connection, keys: list[str]) -> None:
    """Drop CRM people that no longer exist as such (deleted, merged away, converted), and their links."""
    for part in chunks(sorted(set(keys)), 900):
        conn.execute(delete(crm_people).where(crm_people.c.key.in_(part)))
        conn.execute(delete(identity_links).where(identity_links.c.crm_key.in_(part)))
