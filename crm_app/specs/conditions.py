"""Condition language: the frozen condition objects admin files are parsed into. Data, never code."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Union

from crm_app.specs.operators import (COMPARISONS)
from crm_app.specs.usage import (QuotaCondition)


@dataclass(frozen=True)
class Comparison:
    """A test on a measured number: op is a key of COMPARISONS; between takes a (low, high) pair."""

    op: str
    value: Union[float, tuple]

    def describe(self) -> str:
        if self.op == "between":
            return f"{self.value[0]:g}–{self.value[1]:g}"
        return f"{COMPARISONS[self.op]} {self.value:g}"


@dataclass(frozen=True)
class FieldCondition:
    """A test on one field of the record, or on one property of an event inside `where:`."""

    field: str
    op: str
    value: object


@dataclass(frozen=True)
class EventSelector:
    """Which events count: names (empty = any), property filters, and an optional look-back window."""

    names: tuple
    where: tuple  # FieldConditions on event properties, all must hold
    within: int | None  # seconds before as_of; None = all history

    @cached_property
    def key(self) -> str:
        where = ";".join(f"{w.field}:{w.op}:{w.value!r}" for w in self.where)
        return f"{'|'.join(self.names) or '*'}[{where}]@{self.within or 'all'}"


@dataclass(frozen=True)
class EventCondition:
    """A measure over selected events compared with a number, e.g. 5+ logins within 7 days."""

    selector: EventSelector
    measure: str
    of: str | None
    comparison: Comparison
    levels: tuple = ()  # sophistication: (intermediate values, advanced values)

    @cached_property
    def feature_key(self) -> str:
        if self.measure == "days_since_last":
            return last_at_key(self.selector)
        if self.levels:
            return f"{self.measure}({self.of or ''}:{self.levels!r})/{self.selector.key}"
        return f"{self.measure}({self.of or ''})/{self.selector.key}"


def last_at_key(selector: EventSelector) -> str:
    """Feature key of the time of the last event a selector matches, whatever its window.

    The window is left out on purpose: the latest matching event is the same with or without it, and a
    windowed measure that holds implies that event lies inside the window.
    """
    return f"last_at/{EventSelector(selector.names, selector.where, None).key}"


@dataclass(frozen=True)
class MetricCondition:
    """A rolled-up per-person metric, imported from a warehouse or CSV, compared with a number."""

    name: str
    comparison: Comparison


@dataclass(frozen=True)
class ScoreCondition:
    """Another model's score for the same subject, compared with a number (the hybrid method)."""

    model: str
    comparison: Comparison


@dataclass(frozen=True)
class AllOf:
    items: tuple


@dataclass(frozen=True)
class AnyOf:
    items: tuple


@dataclass(frozen=True)
class Not:
    item: object


Condition = Union[FieldCondition, EventCondition, MetricCondition, ScoreCondition, QuotaCondition, AllOf, AnyOf,
                  Not]


def iter_conditions(cond):
    """Every leaf condition inside a condition tree."""
    if isinstance(cond, (AllOf, AnyOf)):
        for item in cond.items:
            yield from iter_conditions(item)
    elif isinstance(cond, Not):
        yield from iter_conditions(cond.item)
    elif cond is not None:
        yield cond


def model_leaves(models):
    """Every leaf condition of the models' rules and populations."""
    for model in models:
        for when in [r.when for r in model.rules] + [model.population]:
            yield from iter_conditions(when)
