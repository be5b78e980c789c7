"""Condition trees -> fast predicates over (record, features, as_of)."""
from __future__ import annotations

from typing import Callable, Mapping

from crm_app.engine import usage
from crm_app.engine.operators import COMPARE, field_predicate
from crm_app.engine.plan import metric_key, score_key
from crm_app.specs.conditions import (AllOf, AnyOf, EventCondition, FieldCondition, MetricCondition, Not,
                                      ScoreCondition, last_at_key)
from crm_app.specs.usage import QuotaCondition

DAY = 86400
CREATED_AT = "created_at"  # epoch seconds the person was created; set by the store
Check = Callable[[Mapping, Mapping, int], bool]
USAGE_VALUES = {"growth": usage.growth, "spike": usage.spike}  # computed from two counts, not one aggregate


def days_since_last(cond: EventCondition, record: Mapping, features: Mapping, as_of: int):
    """Whole days since the last matching event; with none, since the person was created (signed up).

    Counting from sign-up rather than from the first event keeps "adding an event never lowers behaviour"
    true: a first event must not start a never-logged-in clock.
    """
    last = features.get(_last_key(cond))
    if last is None:
        last = record.get(CREATED_AT)
    if last is None or isinstance(last, bool) or not isinstance(last, (int, float)):
        return None
    return max(0, (as_of - int(last)) // DAY)


_LAST_KEYS: dict = {}


def _last_key(cond: EventCondition) -> str:
    """last_at_key of a condition's selector, computed once per condition (it is hot)."""
    key = _LAST_KEYS.get(id(cond))
    if key is None or key[0] is not cond:
        key = _LAST_KEYS[id(cond)] = (cond, last_at_key(cond.selector))
    return key[1]


def measured_value(cond: EventCondition, record: Mapping, features: Mapping, as_of: int):
    """The number an event condition compares: a count, distinct count, average, sum, days or usage shape."""
    if cond.measure == "days_since_last":
        return days_since_last(cond, record, features, as_of)
    if cond.measure in USAGE_VALUES:
        return USAGE_VALUES[cond.measure](cond, features)
    value = features.get(cond.feature_key)
    if value is None and cond.measure in ("count", "distinct", "sum", "active_weeks", "sophistication"):
        return 0
    return value


def _compare(comparison) -> Callable:
    """A one-argument test with the target baked in (this runs millions of times per scoring run)."""
    op, t = comparison.op, comparison.value
    if op == "at_least":
        return lambda n: n is not None and n >= t
    if op == "more_than":
        return lambda n: n is not None and n > t
    if op == "at_most":
        return lambda n: n is not None and n <= t
    if op == "less_than":
        return lambda n: n is not None and n < t
    test = COMPARE[op]
    return lambda n: n is not None and test(n, t)


def compile_condition(cond) -> Check:
    """A predicate for a condition tree; leaves missing data are false, never errors."""
    if isinstance(cond, FieldCondition):
        pred, name = field_predicate(cond.op, cond.value), cond.field
        return lambda record, features, as_of: pred(record.get(name))
    if isinstance(cond, EventCondition):
        test, key = _compare(cond.comparison), cond.feature_key
        if cond.measure in ("count", "distinct", "sum", "active_weeks", "sophistication"):
            return lambda record, features, as_of: test(features.get(key, 0))
        if cond.measure in USAGE_VALUES:
            value = USAGE_VALUES[cond.measure]
            return lambda record, features, as_of: test(value(cond, features))
        if cond.measure == "average":
            return lambda record, features, as_of: test(features.get(key))
        return lambda record, features, as_of: test(days_since_last(cond, record, features, as_of))
    if isinstance(cond, MetricCondition):
        test, key = _compare(cond.comparison), metric_key(cond.name)
        return lambda record, features, as_of: test(features.get(key))
    if isinstance(cond, QuotaCondition):
        test = _compare(cond.comparison)
        return lambda record, features, as_of: test(usage.quota_value(cond, record, features, as_of))
    if isinstance(cond, ScoreCondition):
        test, key = _compare(cond.comparison), score_key(cond.model)
        return lambda record, features, as_of: test(features.get(key))
    if isinstance(cond, AllOf):
        checks = tuple(compile_condition(c) for c in cond.items)
        return lambda record, features, as_of: all(c(record, features, as_of) for c in checks)
    if isinstance(cond, AnyOf):
        checks = tuple(compile_condition(c) for c in cond.items)
        return lambda record, features, as_of: any(c(record, features, as_of) for c in checks)
    if isinstance(cond, Not):
        inner = compile_condition(cond.item)
        return lambda record, features, as_of: not inner(record, features, as_of)
    raise TypeError(f"unknown condition type {type(cond).__name__}")
