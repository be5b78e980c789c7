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
    _truth: dict = field(default_factory=dict)

    def matching(self, cond) -> tuple[tuple, tuple, bool]:
        """(JSON texts the condition accepts, those it refuses, whether a missing value passes)."""
        key = (cond.field, cond.op, repr(cond.value))
        if key not in self._truth:
            test = field_predicate(cond.op, cond.value)
            values = sorted({v for v in self.values(cond.field) if v is not None})
            accepted = tuple(v for v in values if test(json.loads(v)))
            taken = set(accepted)
            refused = tuple(v for v in values if v not in taken)
            self._truth[key] = (accepted, refused, test(None))
        return self._truth[key]


def field_leaf(catalog: FieldCatalog, cond):
    """A total boolean over the subject row for one field condition."""
    accepted, refused, missing_passes = catalog.matching(cond)
    column = ir.col(field_column(cond.field))
    # The shorter list is written; both are exact over the values the subjects hold at planning time.
    test = ir.isin(column, accepted) if len(accepted) <= len(refused) else ir.not_(ir.isin(column, refused))
    present = ir.and_(ir.not_(ir.is_null(column)), test)
    return ir.or_(present, ir.is_null(column)) if missing_passes else ir.total(present)


def record_fields(models) -> tuple:
    """Every record field the models' conditions read (populations and quota limits included), in a stable order."""
    from crm_app.specs.conditions import FieldCondition, iter_conditions
    from crm_app.specs.usage import QuotaCondition
    names = set()
    for model in models:
        for when in [r.when for r in model.rules] + [model.population]:
            for c in iter_conditions(when):
                if isinstance(c, FieldCondition):
                    names.add(c.field)
                elif isinstance(c, QuotaCondition) and isinstance(c.limit, str):
                    names.add(c.limit)  # the field holding the plan limit
    return tuple(sorted(names))
