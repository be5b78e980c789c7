"""Set-wise read queries behind the dashboard: histogram, people pages (keyset), one person, previews."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, exists, func, or_, select, true

from crm_app.store import schema
from crm_app.store.dashboard.indexes import owner_expr
from crm_app.store.dashboard.search import matching_ids

SORTS = {"score": "combined", "fit": "fit", "behaviour": "behaviour"}  # each has a (model, column, id) index
PAGE_MAX = 200


@dataclass(frozen=True)
class PeopleQuery:
    """What the people list asks for: filters, one sort, and a keyset cursor."""

    model: str
    band: str | None = None
    pql: bool | None = None
    q: str | None = None
    sort: str = "score"
    descending: bool = True
    after: tuple | None = None  # (sort value, subject id) of the last row of the previous page
    before: tuple | None = None  # (sort value, subject id) of the first row of the next page
    size: int = 50
    owner: str | None = None  # the person's `owner` field (map the CRM owner to it in mapping/crm.yaml)
    segment: str | None = None  # the primary segment of the model (results.segment)


def _filters(query: PeopleQuery, conn: Connection) -> list:
    """The WHERE conditions of a people query, without its cursor."""
    r, p = schema.results, schema.people
    dialect = conn.dialect.name
    conditions = [r.c.model == query.model]
    if query.band:
        conditions.append(r.c.band == query.band)
    if query.pql is not None:
        conditions.append(r.c.pql.is_(query.pql))
    if query.segment:
        conditions.append(r.c.segment == query.segment)
    if query.q:
        conditions.append(r.c.subject_id.in_(matching_ids(conn, query.q)))
    if query.owner:
        # Correlated, so a keyset walk checks only the rows it passes, by primary key (no scan of everyone).
        conditions.append(exists().where(p.c.id == r.c.subject_id,
                                         owner_expr(dialect) == query.owner))
    return conditions


def pql_count(conn: Connection, model: str) -> int:
    r = schema.results
    return conn.execute(select(func.count()).where(r.c.model == model, r.c.pql.is_(True))).scalar() or 0


def new_pqls_since(conn: Connection, model: str, since: int, playbooks: tuple = ()) -> list[tuple]:
    """(owner, new PQLs) for PQL streaks that started at or after `since`.

    The owner is the person's `owner` field (the CRM owner, once synced), else the owner one of `playbooks`
    assigned (an `assign` action that was sent), so owners assigned since the last sync count too.
    """
    r, p, led = schema.results, schema.people, _ledger()
    assigned = (select(led.c.subject_id, func.max(led.c.owner).label("owner"))
                .where(led.c.action == "assign", led.c.status == "sent", led.c.playbook.in_(playbooks))
                .group_by(led.c.subject_id).subquery())
    owner = func.coalesce(owner_expr(conn.dialect.name), assigned.c.owner)
    rows = conn.execute(select(owner, func.count()).select_from(
        r.join(p, p.c.id == r.c.subject_id).outerjoin(assigned, assigned.c.subject_id == r.c.subject_id))
                        .where(r.c.model == model, r.c.pql.is_(True), r.c.pql_since >= since)
                        .group_by(owner).order_by(func.count().desc()))
    return [(row[0], row[1]) for row in rows]


def _ledger():
    from crm_app.store.playbooks.schema import pb_ledger
    return pb_ledger


def people_page(conn: Connection, query: PeopleQuery, limit: int | None = None) -> list[dict]:
    """One page of people with their result, in sort order, starting after/before a keyset cursor.

    A page is `query.size` rows plus one (to tell whether another page follows); `limit` reads exactly that many.
    """
    r, p, a = schema.results, schema.people, schema.accounts
    column = r.c[SORTS[query.sort]]
    conditions = _filters(query, conn)
    backwards = query.before is not None
    down = query.descending != backwards  # walking backwards reverses the order, then the page is flipped
    if query.after or query.before:
        value, ident = query.after or query.before
        conditions.append(or_(column < value, and_(column == value, r.c.subject_id < ident)) if down
                          else or_(column > value, and_(column == value, r.c.subject_id > ident)))
    order = [column.desc(), r.c.subject_id.desc()] if down else [column.asc(), r.c.subject_id.asc()]
    size = limit - 1 if limit else max(1, min(query.size, PAGE_MAX))
    inner = select(r.c.subject_id, r.c.combined, r.c.fit, r.c.behaviour, r.c.band, r.c.pql, r.c.pql_since,
                   r.c.last_activity, r.c.activation).where(*conditions).order_by(*order).limit(size + 1).subquery()
    stmt = (select(inner, p.c.external_id, p.c.email, p.c.attributes, a.c.name.label("account"))
            .select_from(inner.join(p, p.c.id == inner.c.subject_id).outerjoin(a, a.c.id == p.c.account_id))
            .order_by(*([inner.c[SORTS[query.sort]].desc(), inner.c.subject_id.desc()] if down
                        else [inner.c[SORTS[query.sort]].asc(), inner.c.subject_id.asc()])))
    rows = [dict(row._mapping) for row in conn.execute(stmt)]
    return rows[::-1] if backwards else rows


def filtered_count(conn: Connection, query: PeopleQuery) -> int:
    """How many people match the filters (no cursor); index-only for band / PQL filters."""
    r, p = schema.results, schema.people
    if query.owner:
        # Driven from the owner index: that owner's people, then their result by primary key.
        plain = PeopleQuery(**{**query.__dict__, "owner": None, "after": None, "before": None})
        stmt = (select(func.count()).select_from(p.join(r, r.c.subject_id == p.c.id))
                .where(owner_expr(conn.dialect.name) == query.owner, *_filters(plain, conn)))
        return conn.execute(stmt).scalar() or 0
    return conn.execute(select(func.count()).select_from(r).where(*_filters(query, conn))).scalar() or 0


def person_with_account(conn: Connection, person_id: int) -> dict | None:
    """The person row and, when linked, their account row."""
    p, a = schema.people, schema.accounts
    row = conn.execute(select(p).where(p.c.id == person_id)).first()
    if row is None:
        return None
    person = dict(row._mapping)
    account = conn.execute(select(a).where(a.c.id == person["account_id"])).first() if person["account_id"] else None
    person["account"] = dict(account._mapping) if account else None
    if account is not None:
        person["account_people"] = conn.execute(select(func.count()).where(p.c.account_id == account.id)).scalar()
    return person


def recent_events(conn: Connection, person_id: int, limit: int = 200) -> list[dict]:
    """A person's latest events, newest first, with their display names."""
    e, t = schema.events, schema.event_types
    rows = conn.execute(select(e.c.ts, t.c.name, e.c.properties).select_from(e.join(t, t.c.id == e.c.type_id))
                        .where(e.c.person_id == person_id).order_by(e.c.ts.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


def score_cube(conn: Connection, model: str) -> list[tuple]:
    """(combined, fit_raw, band, pql, people) groups: enough to derive the histogram, counts and any preview."""
    r = schema.results
    rows = conn.execute(select(r.c.combined, r.c.fit_raw, r.c.band, r.c.pql, func.count()).where(r.c.model == model)
                        .group_by(r.c.combined, r.c.fit_raw, r.c.band, r.c.pql))
    return [(row[0], row[1], row[2], bool(row[3]), row[4]) for row in rows]


def results_version(conn: Connection) -> tuple:
    """(id, start, end) of the latest scoring run: results change only by scoring, which records a run when it
    ends; the times tell a recreated store (ids starting again) from the old one."""
    s = schema.score_runs
    row = conn.execute(select(s.c.id, s.c.started_at, s.c.finished_at).order_by(s.c.id.desc()).limit(1)).first()
    return tuple(row) if row else ()


def rule_firing_counts(conn: Connection, model: str) -> dict:
    """rule id -> how many people it fired for, read from the stored reasons ([rule, text, points] lists)."""
    r = schema.results
    if conn.dialect.name == "postgresql":
        element = func.json_array_elements(r.c.reasons).table_valued("value")
        rule = element.c.value.op("->>")(0)
    else:
        element = func.json_each(r.c.reasons).table_valued("value")
        rule = func.json_extract(element.c.value, "$[0]")
    rows = conn.execute(select(rule, func.count(func.distinct(r.c.subject_id)))
                        .select_from(r).join(element, true()).where(r.c.model == model).group_by(rule))
    return {row[0]: row[1] for row in rows}


def models_scored(conn: Connection) -> list[str]:
    r = schema.results
    return list(conn.execute(select(r.c.model).distinct().order_by(r.c.model)).scalars())


def meta_once(conn: Connection, key: str, value: str) -> str:
    """The stored value of a meta key, storing `value` first if none exists (the first writer wins)."""
    from crm_app.store.dialect import upsert
    upsert(conn, schema.meta, [{"key": key, "value": value}], ["key"])
    return conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == key)).scalar()


def owner_names(conn: Connection, limit: int = 500) -> list[str]:
    """Every distinct owner, by skipping through the owner index: one seek per owner, never a scan of everyone."""
    owner = owner_expr(conn.dialect.name)
    names: list[str] = []
    last = ""
    while len(names) < limit:
        last = conn.execute(select(func.min(owner)).where(owner > last)).scalar()
        if last is None:
            return names
        names.append(last)
    return names


def person_actions(conn: Connection, person_id: int, limit: int = 50) -> tuple[list[dict], list[dict]]:
    """One person's playbook ledger entries (newest first) and the Slack feedback recorded about them."""
    from crm_app.store.playbooks.schema import pb_ledger, pql_feedback
    entries = conn.execute(select(pb_ledger.c.playbook, pb_ledger.c.action, pb_ledger.c.status, pb_ledger.c.owner,
                                  pb_ledger.c.attempts, pb_ledger.c.error, pb_ledger.c.created_at)
                           .where(pb_ledger.c.subject_id == person_id).order_by(pb_ledger.c.id.desc()).limit(limit))
    feedback = conn.execute(select(pql_feedback).where(pql_feedback.c.subject_id == person_id)
                            .order_by(pql_feedback.c.at.desc()).limit(limit))
    return [dict(r._mapping) for r in entries], [dict(r._mapping) for r in feedback]


def scores_at(conn: Connection, model: str, subject_ids: list[int], moment: int) -> dict[int, int]:
    """subject id -> combined score as it stood at `moment` (the latest history row at or before it)."""
    h = schema.score_history
    if not subject_ids:
        return {}
    earlier = h.alias("earlier")
    latest = (select(func.max(earlier.c.as_of)).where(earlier.c.model == h.c.model,
                                                      earlier.c.subject_id == h.c.subject_id,
                                                      earlier.c.as_of <= moment).scalar_subquery())
    rows = conn.execute(select(h.c.subject_id, h.c.combined)
                        .where(h.c.model == model, h.c.subject_id.in_(subject_ids), h.c.as_of == latest))
    return {row[0]: row[1] for row in rows}


def crm_records(conn: Connection, person_id: int) -> list[tuple]:
    """(crm, object type, record id) of every CRM record linked to the person."""
    from crm_app.store.crm import crm_links
    rows = conn.execute(select(crm_links.c.crm, crm_links.c.object_type, crm_links.c.record_id)
                        .where(crm_links.c.person_id == person_id).order_by(crm_links.c.crm, crm_links.c.object_type))
    return [tuple(row) for row in rows]
