"""Account rollups: one GROUP BY over people's stored results per person model, every account at once."""
from __future__ import annotations

from sqlalchemy import Connection, and_, case, func, select

from crm_app.store import schema
from crm_app.store.bulk import lookup
from crm_app.store.dialect import key_bounds

DAY = 86400
ACTIVE_WINDOWS = (7, 30)  # days: active_users_7d, active_users_30d


def account_id_bounds(conn: Connection) -> tuple[int, int]:
    return key_bounds(conn, schema.accounts.c.id)


def _scope(column, lo: int, hi: int, only):
    return column.in_(only) if only is not None else column.between(lo, hi)


def accounts_of_people(conn: Connection, person_ids: list[int]) -> list[int]:
    """Sorted distinct account ids of these people (an incremental run re-scores only their accounts)."""
    accounts = lookup(conn, "people", "id", "account_id", person_ids)
    return sorted({a for a in accounts.values() if a is not None})


def account_records(conn: Connection, lo: int, hi: int, only: list | None = None) -> dict:
    """account id -> flat record: attributes, external_id, name, domain."""
    a = schema.accounts
    records = {}
    for row in conn.execute(select(a.c.id, a.c.external_id, a.c.name, a.c.domain, a.c.attributes)
                            .where(_scope(a.c.id, lo, hi, only))):
        record = dict(row.attributes or {})
        record.update(external_id=row.external_id, name=row.name, domain=row.domain)
        records[row.id] = record
    from crm_app.store.scoring.segments import segments_in_range
    for account_id, segments in segments_in_range(conn, "account", lo, hi, only).items():
        if account_id in records:
            records[account_id]["segments"] = segments
    return records


def person_rollups(conn: Connection, model: str, as_of: int, lo: int, hi: int, only: list | None = None) -> dict:
    """account id -> rollup of one person model over the account's people (as stored by the last run).

    people, pql_users, active_users_7d/30d (by last product activity), max_score, avg_score, last_activity.
    """
    p, r = schema.people, schema.results
    active = [func.count(case((r.c.last_activity >= as_of - d * DAY, 1))).label(f"active_users_{d}d")
              for d in ACTIVE_WINDOWS]
    query = (select(p.c.account_id, func.count(p.c.id).label("people"),
                    func.count(case((r.c.pql.is_(True), 1))).label("pql_users"), *active,
                    func.max(r.c.combined).label("max_score"), func.avg(r.c.combined).label("avg_score"),
                    func.max(r.c.last_activity).label("last_activity"))
             .select_from(p.outerjoin(r, and_(r.c.subject_id == p.c.id, r.c.model == model)))
             .where(_scope(p.c.account_id, lo, hi, only))
             .group_by(p.c.account_id))
    out = {}
    for row in conn.execute(query):
        values = dict(row._mapping)
        account_id = values.pop("account_id")
        if values["avg_score"] is not None:
            values["avg_score"] = round(float(values["avg_score"]), 1)
        out[account_id] = values
    return out
