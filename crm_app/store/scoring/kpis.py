"""Reads for health KPIs: each customer's stored score, segments and outcome fields; people with outcome events."""
from __future__ import annotations

from sqlalchemy import Connection, and_, select

from crm_app.store import schema
from crm_app.store.events import known_type_ids
from crm_app.store.scoring.segments import segment_members


def scores_and_outcomes(conn: Connection, model: str, churn_field: str, upsell_field: str) -> list:
    """(person id, combined, {segment ids}, churn field value, upsell field value) per scored person."""
    r, p, s = schema.results, schema.people, segment_members
    segments: dict = {}
    for subject_id, segment in conn.execute(select(s.c.subject_id, s.c.segment).where(s.c.model == model)):
        segments.setdefault(subject_id, set()).add(segment)
    query = (select(p.c.id, r.c.combined, p.c.attributes)
             .select_from(r.join(p, and_(p.c.id == r.c.subject_id, r.c.model == model))))
    return [(pid, combined, segments.get(pid, set()), (attrs or {}).get(churn_field), (attrs or {}).get(upsell_field))
            for pid, combined, attrs in conn.execute(query)]


def people_with_events(conn: Connection, names: tuple, since: int) -> set:
    """Ids of people with any of the named events after `since`."""
    ids = list(known_type_ids(conn, [n.lower() for n in names]).values())
    if not ids:
        return set()
    e = schema.events
    return set(conn.execute(select(e.c.person_id).where(e.c.type_id.in_(ids), e.c.ts > since,
                                                         e.c.person_id.is_not(None)).distinct()).scalars())
