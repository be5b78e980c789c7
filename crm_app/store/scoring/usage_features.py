"""SQL for usage-shape aggregates: earlier-window counts, active weeks, sophistication level, quota usage.

Each is one more conditional aggregate column in the same set-wise GROUP BY as the other features (or, for
quota, one query over metrics), so usage shape costs no per-person queries.
"""
from __future__ import annotations

from sqlalchemy import and_, case, distinct, func, literal, select

from crm_app.store import schema

e = schema.events
WEEK = 7 * 86400


def _unwindowed(agg, predicate, type_ids: dict, as_of: int):
    """The selector's predicate without its window: the caller bounds time itself."""
    from crm_app.specs.conditions import EventSelector
    return predicate(EventSelector(agg.selector.names, agg.selector.where, None), type_ids, as_of)


def prior_column(agg, predicate, type_ids: dict, as_of: int):
    """Count over the `spans` windows just before the selector's own window."""
    window, spans = agg.selector.within, agg.extra[0]
    pred = and_(_unwindowed(agg, predicate, type_ids, as_of), e.c.ts >= as_of - (spans + 1) * window,
                e.c.ts < as_of - window)
    return func.count(case((pred, 1)))


def active_weeks_column(agg, predicate, type_ids: dict, as_of: int):
    """Distinct 7-day periods (counted back from as_of) holding a matching event inside the window."""
    pred = predicate(agg.selector, type_ids, as_of)
    # Integer division on both backends: whole weeks before as_of.
    week = (literal(as_of) - e.c.ts) / literal(WEEK)
    return func.count(distinct(case((pred, func.floor(week)))))


def sophistication_column(agg, predicate, type_ids: dict, as_of: int):
    """3 if any advanced value of `of` was used, 2 if any intermediate, 1 for any other matching use."""
    pred = predicate(agg.selector, type_ids, as_of)
    value = func.lower(e.c.properties[agg.of].as_string())
    intermediate, advanced = agg.extra
    whens = []
    if advanced:
        whens.append((and_(pred, value.in_(list(advanced))), 3))
    if intermediate:
        whens.append((and_(pred, value.in_(list(intermediate))), 2))
    whens.append((pred, 1))
    return func.max(case(*whens))


USAGE_AGGREGATES = {"prior": prior_column, "active_weeks": active_weeks_column,
                    "sophistication": sophistication_column}


def add_quota_usage(conn, features: dict, quotas: list, as_of: int, scope, lo, hi, only) -> None:
    """features[quota key] = (value now, at, value rate_window earlier, at) from the metrics table."""
    m = schema.metrics
    for agg in quotas:
        name, window = agg.of, agg.extra[0]
        latest = point_at(conn, m, name, as_of, scope, lo, hi, only)
        earlier = point_at(conn, m, name, as_of - window, scope, lo, hi, only)
        for person_id, (value, at) in latest.items():
            before = earlier.get(person_id, (None, None))
            features.setdefault(person_id, {})[agg.key] = (value, at, before[0], before[1])


def point_at(conn, m, name: str, moment: int, scope, lo, hi, only) -> dict:
    """person id -> (value, as_of) of the latest metric value at or before `moment`."""
    last = (select(m.c.person_id, func.max(m.c.as_of).label("at"))
            .where(m.c.name == name, m.c.as_of <= moment, scope(m.c.person_id, lo, hi, only))
            .group_by(m.c.person_id).subquery())
    query = select(m.c.person_id, m.c.value, m.c.as_of).join(
        last, and_(m.c.person_id == last.c.person_id, m.c.as_of == last.c.at)).where(m.c.name == name)
    return {pid: (value, at) for pid, value, at in conn.execute(query)}
