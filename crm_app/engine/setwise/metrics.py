"""Metric and quota conditions in the set-wise plan. Both read "the latest value of a metric at or before a
moment" per person: a metric condition at the run's moment, a quota at the run's moment and `rate_over`
earlier. Each such point is a pair of columns of the relation `mp` (value, and the moment it was recorded),
which the runner fills from the store with the per-person engine's own query; the expressions here follow
engine.usage.quota_value and the comparisons of engine.conditions step by step.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from crm_app.engine.conditions import DAY
from crm_app.engine.operators import as_number
from crm_app.engine.setwise import ir
from crm_app.engine.setwise.fields import field_column
from crm_app.specs.conditions import MetricCondition, model_leaves
from crm_app.specs.usage import QuotaCondition


@dataclass(frozen=True, order=True)
class MetricPoint:
    """A metric's latest value at or before the run's moment less `back` seconds."""

    name: str
    back: int = 0


def value_column(index: int) -> str:
    return f"m:{index}"


def at_column(index: int) -> str:
    return f"ma:{index}"


def metric_points(models) -> tuple:
    """Every point the models' metric and quota conditions read, deduplicated, in a stable order."""
    points = set()
    for leaf in model_leaves(models):
        if isinstance(leaf, MetricCondition):
            points.add(MetricPoint(leaf.name))
        elif isinstance(leaf, QuotaCondition):
            points.update({MetricPoint(leaf.metric), MetricPoint(leaf.metric, int(leaf.rate_window))})
    return tuple(sorted(points))


class PointColumns:
    """The plan's columns of each point, and the values of quota limits decided over their distinct texts."""

    def __init__(self, points: tuple, field_values):
        self.index = {p: i for i, p in enumerate(points)}
        self.field_values = field_values  # field -> its distinct JSON texts among the subjects

    def value(self, point: MetricPoint):
        return ir.col(value_column(self.index[point]))

    def at(self, point: MetricPoint):
        return ir.col(at_column(self.index[point]))

    def metric(self, cond: MetricCondition):
        return self.value(MetricPoint(cond.name))

    def limit(self, cond: QuotaCondition):
        """quota_limit: the rule's number, or the field's number; NULL when unknown or not above zero."""
        if not isinstance(cond.limit, str):
            return ir.lit(cond.limit) if cond.limit and cond.limit > 0 else ir.NULL
        column = ir.col(field_column(cond.limit))
        whens = []
        for text in sorted({v for v in self.field_values(cond.limit) if v is not None}):
            number = as_number(json.loads(text))
            if number and number > 0:
                whens.append((ir.op("=", column, ir.lit(text)), ir.lit(number)))
        return ir.case(whens) if whens else ir.NULL

    def quota(self, cond: QuotaCondition):
        """quota_value: percent of the limit used, or whole days to the limit at the rate over rate_window."""
        now, now_at = self.value(MetricPoint(cond.metric)), self.at(MetricPoint(cond.metric))
        earlier = MetricPoint(cond.metric, int(cond.rate_window))
        before, before_at = self.value(earlier), self.at(earlier)
        limit = self.limit(cond)
        unknown = ir.or_(ir.is_null(now_at), ir.is_null(now), ir.is_null(limit))
        if cond.measure == "percent":
            return ir.case([(unknown, ir.NULL)], ir.op("/", ir.op("*", ir.lit(100.0), now), limit))
        per_day = ir.op("/", ir.op("-", now, before), ir.op("/", ir.op("-", now_at, before_at), ir.lit(DAY)))
        return ir.case([
            (unknown, ir.NULL),
            (ir.op(">=", now, limit), ir.lit(0)),
            (ir.or_(ir.is_null(before), ir.is_null(before_at), ir.op("<=", now_at, before_at)), ir.NULL),
            (ir.op("<=", per_day, ir.lit(0)), ir.NULL),
        # trunc, not a cast to BIGINT: a rate near zero projects more days than BIGINT holds (Python's int does).
        ], ir.fn("trunc", ir.op("/", ir.op("-", limit, now), per_day)))
