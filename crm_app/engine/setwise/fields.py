"""Field conditions decided on distinct values: the engine's own predicate over each distinct JSON value a
field holds, so a million people with 40 titles cost 40 predicate calls and one IN test per person.

The subject relation holds each field rules read as JSON text in column `v:<field>`.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from crm_app.engine.operators import field_predicate
from crm_app.engine.setwise import ir


def field_column(name: str) -> str:
    return f"v:{name}"


@dataclass
class FieldCatalog:
    values: Callable[[str], Iterable]  # field -> its distinct JSON texts among the subjects (None included)
    # field -> its distinct JSON texts that may hold no value (null, an empty list, a blank string): a superset,
    # each decided by the predicate itself. Given, `exists` conditions never list a field's every value (an id
    # field holds one per subject).
    blank_texts: Callable[[str], Iterable] | None = None
    _truth: dict = field(default_factory=dict)
    _parsed: dict = field(default_factory=dict)  # field -> its (JSON text, value) pairs, in text order

    def matching(self, cond) -> tuple[tuple, tuple, bool]:
        """(JSON texts the condition accepts, those it refuses, whether a missing value passes)."""
        key = (cond.field, cond.op, repr(cond.value))
        if key not in self._truth:
            test = field_predicate(cond.op, cond.value)
            accepted, refused = [], []
            for text, value in self._values_of(cond.field):
                (accepted if test(value) else refused).append(text)
            self._truth[key] = (tuple(accepted), tuple(refused), test(None))
        return self._truth[key]

    def _values_of(self, name: str) -> list:
        """A field's distinct values, each parsed once for all the conditions on it."""
        if name not in self._parsed:
            self._parsed[name] = [(v, json.loads(v)) for v in sorted({v for v in self.values(name) if v is not None})]
        return self._parsed[name]


def field_leaf(catalog: FieldCatalog, cond):
    """A total boolean over the subject row for one field condition."""
    if cond.op == "exists" and catalog.blank_texts is not None:
        return _exists_leaf(catalog, cond)
    accepted, refused, missing_passes = catalog.matching(cond)
    column = ir.col(field_column(cond.field))
    # The shorter list is written; both are exact over the values the subjects hold at planning time.
    test = ir.isin(column, accepted) if len(accepted) <= len(refused) else ir.not_(ir.isin(column, refused))
    present = ir.and_(ir.not_(ir.is_null(column)), test)
    return ir.or_(present, ir.is_null(column)) if missing_passes else ir.total(present)


def _exists_leaf(catalog: FieldCatalog, cond):
    """`exists` decided on the field's blank texts alone: any other text holds a value, so the predicate gives
    for it what it gives for a plain value."""
    test = field_predicate(cond.op, cond.value)
    blanks = sorted({v for v in catalog.blank_texts(cond.field) if v is not None})
    passing = tuple(v for v in blanks if test(json.loads(v)))
    column = ir.col(field_column(cond.field))
    present = ir.not_(ir.is_null(column))
    other = ir.and_(present, ir.not_(ir.isin(column, blanks))) if test("a value") else ir.FALSE
    return ir.total(ir.or_(ir.and_(ir.is_null(column), ir.lit(test(None))),
                           ir.and_(present, ir.isin(column, passing)), other))


def maybe_blank(text: str) -> bool:
    """Whether a JSON text holds no value to the engine's operators: null, an empty list, a blank string."""
    value = json.loads(text)
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def exists_only_fields(models) -> tuple:
    """Fields every condition of which is `exists`: the plan needs only their blank texts, not their values."""
    from crm_app.specs.conditions import FieldCondition, model_leaves
    from crm_app.specs.usage import QuotaCondition
    ops: dict = {}
    for c in model_leaves(models):
        if isinstance(c, FieldCondition):
            ops.setdefault(c.field, set()).add(c.op)
        elif isinstance(c, QuotaCondition) and isinstance(c.limit, str):
            ops.setdefault(c.limit, set()).add("quota limit")  # its numbers are read from its values
    return tuple(sorted(f for f, used in ops.items() if used == {"exists"}))


def record_fields(models) -> tuple:
    """Every record field the models' conditions read (populations and quota limits included), in a stable order."""
    from crm_app.specs.conditions import FieldCondition, model_leaves
    from crm_app.specs.usage import QuotaCondition
    names = set()
    for c in model_leaves(models):
        if isinstance(c, FieldCondition):
            names.add(c.field)
        elif isinstance(c, QuotaCondition) and isinstance(c.limit, str):
            names.add(c.limit)  # the field holding the plan limit
    return tuple(sorted(names))
