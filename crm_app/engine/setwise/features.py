"""The engine.plan aggregates as conditional aggregates over one events relation, grouped by subject.

The events relation `ev` has person_id, type_id, ts and, per event property rules read, three typed columns:
`j:<name>` the value as JSON text, `s:<name>` its lower-cased text, `n:<name>` its number (JSON numbers only).
A `where:` filter is decided by the engine's own field predicate on each distinct JSON value of the property,
so the plan matches the Python reference exactly, operator for operator, and the events are never parsed.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from crm_app.engine.operators import field_predicate
from crm_app.engine.setwise import ir
from crm_app.specs.conditions import EventSelector

WEEK = 7 * 86400


def prop_column(kind: str, name: str) -> str:
    """Column of the events relation holding one property: kind j (JSON text), s (lower text) or n (number)."""
    return f"{kind}:{name}"


def event_properties(plan: tuple) -> tuple:
    """Every event property the aggregates read, in a stable order: the typed columns the copy must hold."""
    names = set()
    for agg in plan:
        if agg.selector is not None:
            names.update(w.field for w in agg.selector.where)
        if agg.of and agg.of != "event" and agg.measure != "quota":
            names.add(agg.of)
    return tuple(sorted(names))


@lru_cache(maxsize=65_536)
def _decode(raw: str):
    return json.loads(raw)


def decoded(raw):
    """A JSON text as a Python value; the same few texts recur for millions of subjects, so they are cached.
    A list or object comes back as a copy, so the cached value can never be changed by its reader (and a list
    stays a list: a reason text shows it as the store's record does)."""
    if raw is None:
        return None
    value = _decode(raw)
    return value.copy() if isinstance(value, (list, dict)) else value


@dataclass
class Catalog:
    """What the plan needs to know of the data: event type ids, and the distinct JSON values of properties."""

    type_ids: Mapping[str, int]
    property_values: Callable[[str], Iterable]  # event property -> its distinct JSON texts (None included)
    _truth: dict = field(default_factory=dict)

    def matching(self, name: str, cond) -> tuple[tuple, bool]:
        """(JSON texts the filter accepts, whether a missing value passes)."""
        key = (name, cond.op, repr(cond.value))
        if key not in self._truth:
            test = field_predicate(cond.op, cond.value)
            values = [v for v in self.property_values(name) if v is not None]
            self._truth[key] = (tuple(sorted(v for v in values if test(decoded(v)))), test(None))
        return self._truth[key]


def selector_predicate(selector: EventSelector, catalog: Catalog, as_of: int):
    parts = []
    if selector.names:
        ids = sorted(catalog.type_ids[n] for n in selector.names if n in catalog.type_ids)
        if not ids:
            return ir.FALSE
        parts.append(ir.isin(ir.col("type_id"), ids))
    if selector.within:
        parts.append(ir.op(">=", ir.col("ts"), ir.lit(as_of - selector.within)))
    for cond in selector.where:
        accepted, missing_passes = catalog.matching(cond.field, cond)
        column = ir.col(prop_column("j", cond.field))
        test = ir.isin(column, accepted)
        parts.append(ir.or_(ir.total(test), ir.is_null(column)) if missing_passes else ir.total(test))
    return ir.and_(*parts)


def _unwindowed(selector: EventSelector) -> EventSelector:
    return EventSelector(selector.names, selector.where, None)


def aggregate(agg, catalog: Catalog, as_of: int):
    """One aggregate as an expression over `ev`, for one group of events (a subject's)."""
    if agg.measure == "prior":
        window, spans = agg.selector.within, agg.extra[0]
        pred = ir.and_(selector_predicate(_unwindowed(agg.selector), catalog, as_of),
                       ir.op(">=", ir.col("ts"), ir.lit(as_of - (spans + 1) * window)),
                       ir.op("<", ir.col("ts"), ir.lit(as_of - window)))
        return ir.fn("count", ir.case([(pred, ir.lit(1))]))
    pred = selector_predicate(agg.selector, catalog, as_of)
    if agg.measure == "count":
        return ir.fn("count", ir.case([(pred, ir.lit(1))]))
    if agg.measure == "last_at":
        return ir.fn("max", ir.case([(pred, ir.col("ts"))]))
    if agg.measure == "distinct":
        value = ir.col("type_id") if agg.of == "event" else ir.col(prop_column("s", agg.of))
        return ir.fn("count_distinct", ir.case([(pred, value)]))
    if agg.measure == "active_weeks":
        return ir.fn("count_distinct", ir.case([(pred, ir.idiv(ir.op("-", ir.lit(as_of), ir.col("ts")),
                                                                  ir.lit(WEEK)))]))
    if agg.measure == "sophistication":
        text = ir.fn("coalesce", ir.col(prop_column("s", agg.of)), ir.lit("none"))
        intermediate, advanced = agg.extra
        whens = []
        if advanced:
            whens.append((ir.and_(pred, ir.isin(text, sorted(advanced))), ir.lit(3)))
        if intermediate:
            whens.append((ir.and_(pred, ir.isin(text, sorted(intermediate))), ir.lit(2)))
        whens.append((pred, ir.lit(1)))
        return ir.fn("max", ir.case(whens))
    number = ir.col(prop_column("n", agg.of))
    if agg.measure == "average":
        return ir.fn("avg", ir.case([(pred, number)]))
    if agg.measure == "sum":
        return ir.fn("sum", ir.case([(pred, number)]))
    raise ValueError(f"the set-wise plan has no aggregate {agg.measure!r}")
