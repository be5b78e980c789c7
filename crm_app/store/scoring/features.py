"""Set-wise feature computation: one GROUP BY pass over events for a whole range of people.

The engine's plan (engine.plan.feature_plan) names each aggregate; here each becomes one conditional
aggregate column, so N people cost one query, not N.
"""
from __future__ import annotations

from sqlalchemy import Connection, and_, case, distinct, false, func, or_, select, true

from crm_app.store import schema
from crm_app.store.events import known_type_ids
from crm_app.store.scoring.usage_features import USAGE_AGGREGATES, add_quota_usage

e = schema.events


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _property_filter(cond):
    """A SQL predicate for one `where:` filter on an event property (case-insensitive text)."""
    prop = e.c.properties[cond.field]
    text, number = func.lower(prop.as_string()), prop.as_float()
    op, value = cond.op, cond.value
    if op == "equals":
        return number == value if isinstance(value, (int, float)) else text == str(value)
    if op == "not_equals":
        return and_(text.is_not(None), text != str(value))
    if op in ("in", "not_in"):
        inside = text.in_([str(v).lower() for v in value])
        return inside if op == "in" else and_(text.is_not(None), ~inside)
    if op == "between":
        return number.between(value[0], value[1])
    if op in ("at_least", "more_than", "at_most", "less_than"):
        return {"at_least": number >= value, "more_than": number > value,
                "at_most": number <= value, "less_than": number < value}[op]
    if op in ("contains", "starts_with", "ends_with"):
        pattern = {"contains": "%{}%", "starts_with": "{}%", "ends_with": "%{}"}[op]
        return or_(*[text.like(pattern.format(_like_escape(v)), escape="\\") for v in value])
    if op == "exists":
        present = and_(text.is_not(None), text != "")
        return present if value else ~present
    raise ValueError(f"operator {op!r} cannot filter event properties")


def _selector_predicate(selector, type_ids: dict, as_of: int):
    parts = []
    if selector.names:
        ids = [type_ids[n] for n in selector.names if n in type_ids]
        if not ids:
            return false()
        parts.append(e.c.type_id.in_(ids) if len(ids) > 1 else e.c.type_id == ids[0])
    if selector.within:
        parts.append(e.c.ts >= as_of - selector.within)
    parts.extend(_property_filter(w) for w in selector.where)
    return and_(*parts) if parts else true()


def _aggregate_column(agg, type_ids: dict, as_of: int):
    if agg.measure in USAGE_AGGREGATES:
        return USAGE_AGGREGATES[agg.measure](agg, _selector_predicate, type_ids, as_of)
    pred = _selector_predicate(agg.selector, type_ids, as_of)
    if agg.measure == "count":
        return func.count(case((pred, 1)))
    if agg.measure == "last_at":
        return func.max(case((pred, e.c.ts)))
    if agg.measure == "distinct":
        value = e.c.type_id if agg.of == "event" else func.lower(e.c.properties[agg.of].as_string())
        return func.count(distinct(case((pred, value))))
    number = e.c.properties[agg.of].as_float()
    if agg.measure == "average":
        return func.avg(case((pred, number)))
    if agg.measure == "sum":
        return func.sum(case((pred, number)))
    raise ValueError(f"unknown aggregate {agg.measure!r}")


def _scope(column, lo: int, hi: int, only):
    return column.in_(only) if only is not None else column.between(lo, hi)


def compute_features(conn: Connection, plan: tuple, metric_names: tuple, score_models: tuple, as_of: int,
                     lo: int = 0, hi: int = 0, only: list | None = None) -> dict:
    """person id -> {feature key: value} for people in [lo, hi] (or the ids in `only`), as of as_of.

    Only events with ts <= as_of count, so a past as_of sees exactly what was known then.
    """
    names = {n for agg in plan if agg.selector is not None for n in agg.selector.names}
    type_ids = known_type_ids(conn, names)
    quotas = [agg for agg in plan if agg.measure == "quota"]
    plan = tuple(agg for agg in plan if agg.measure != "quota")
    keys = [agg.key for agg in plan]
    columns = [_aggregate_column(agg, type_ids, as_of).label(f"f{i}") for i, agg in enumerate(plan)]
    query = (select(e.c.person_id, *columns)
             .where(_scope(e.c.person_id, lo, hi, only), e.c.ts <= as_of)
             .group_by(e.c.person_id))
    features: dict = {}
    for row in conn.execute(query):
        features[row[0]] = {k: v for k, v in zip(keys, row[1:]) if v is not None}
    if quotas:
        add_quota_usage(conn, features, quotas, as_of, _scope, lo, hi, only)
    if metric_names:
        _add_metrics(conn, features, metric_names, as_of, lo, hi, only)
    if score_models:
        _add_scores(conn, features, score_models, lo, hi, only)
    return features


def _add_metrics(conn, features: dict, names: tuple, as_of: int, lo, hi, only) -> None:
    m = schema.metrics
    latest = (select(m.c.person_id, m.c.name, func.max(m.c.as_of).label("as_of"))
              .where(m.c.name.in_(names), m.c.as_of <= as_of, _scope(m.c.person_id, lo, hi, only))
              .group_by(m.c.person_id, m.c.name).subquery())
    query = select(m.c.person_id, m.c.name, m.c.value).join(
        latest, and_(m.c.person_id == latest.c.person_id, m.c.name == latest.c.name, m.c.as_of == latest.c.as_of))
    for person_id, name, value in conn.execute(query):
        features.setdefault(person_id, {})[f"metric:{name}"] = value


def _add_scores(conn, features: dict, models: tuple, lo, hi, only) -> None:
    r = schema.results
    query = select(r.c.subject_id, r.c.model, r.c.combined).where(
        r.c.model.in_(models), _scope(r.c.subject_id, lo, hi, only))
    for subject_id, model, combined in conn.execute(query):
        features.setdefault(subject_id, {})[f"score:{model}"] = combined
