"""Account (PQA) reads for the dashboard: a keyset page of accounts by score, one account and its people."""
from __future__ import annotations

from sqlalchemy import Connection, and_, or_, select

from crm_app.store import schema

PAGE = 50


def accounts_page(conn: Connection, model: str, after: tuple | None = None, size: int = PAGE) -> list[dict]:
    """Accounts by their `model` score, highest first, after a (score, account id) cursor."""
    r, a = schema.results, schema.accounts
    conditions = [r.c.model == model]
    if after:
        value, ident = after
        conditions.append(or_(r.c.combined < value, and_(r.c.combined == value, r.c.subject_id < ident)))
    inner = (select(r.c.subject_id, r.c.combined, r.c.fit, r.c.behaviour, r.c.band, r.c.pql, r.c.pql_since)
             .where(*conditions).order_by(r.c.combined.desc(), r.c.subject_id.desc()).limit(size + 1).subquery())
    rows = conn.execute(select(inner, a.c.name, a.c.external_id, a.c.domain)
                        .select_from(inner.join(a, a.c.id == inner.c.subject_id))
                        .order_by(inner.c.combined.desc(), inner.c.subject_id.desc()))
    return [dict(row._mapping) for row in rows]


def account(conn: Connection, account_id: int) -> dict | None:
    row = conn.execute(select(schema.accounts).where(schema.accounts.c.id == account_id)).first()
    return dict(row._mapping) if row else None


def account_people(conn: Connection, account_id: int, model: str, limit: int = 200) -> list[dict]:
    """The account's people with their `model` result (None when unscored), best score first."""
    p, r = schema.people, schema.results
    rows = conn.execute(select(p.c.id, p.c.external_id, p.c.email, p.c.attributes, r.c.combined, r.c.band, r.c.pql,
                               r.c.pql_since, r.c.last_activity)
                        .select_from(p.outerjoin(r, and_(r.c.subject_id == p.c.id, r.c.model == model)))
                        .where(p.c.account_id == account_id)
                        .order_by(r.c.combined.desc().nulls_last(), p.c.id).limit(limit))
    return [dict(row._mapping) for row in rows]
