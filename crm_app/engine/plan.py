"""Which aggregates the store must compute for a set of models: one pass, every person at once."""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.specs.conditions import (EventCondition, EventSelector, MetricCondition, ScoreCondition,
                                      iter_conditions, last_at_key)



@dataclass(frozen=True)
class Aggregate:
    """One per-subject number computed over events known at as_of."""

    key: str
    measure: str  # count | distinct | average | sum | last_at
    of: str | None
    selector: EventSelector | None


def activity_key(model) -> str:
    """Feature key of a model's last product activity."""
    return last_at_key(model.activity)


def metric_key(name: str) -> str:
    return f"metric:{name}"


def score_key(model_name: str) -> str:
    return f"score:{model_name}"


def feature_plan(models) -> tuple:
    """Every aggregate the models need, deduplicated, in a stable order."""
    plan: dict[str, Aggregate] = {}
    for model in models:
        plan.setdefault(activity_key(model), Aggregate(activity_key(model), "last_at", None, model.activity))
        for rule in model.rules:
            # The time of the last matching event is needed for days_since_last, and as the evidence of
            # a rule that recency weighs (positive behaviour points); every other last_at would be wasted work.
            weighed = rule.kind == "behaviour" and rule.points > 0 and rule.recency_weighted and model.recency
            for cond in iter_conditions(rule.when):
                if not isinstance(cond, EventCondition):
                    continue
                if cond.measure == "days_since_last" or weighed:
                    last = last_at_key(cond.selector)
                    unwindowed = EventSelector(cond.selector.names, cond.selector.where, None)
                    plan.setdefault(last, Aggregate(last, "last_at", None, unwindowed))
                if cond.measure != "days_since_last":
                    plan.setdefault(cond.feature_key,
                                    Aggregate(cond.feature_key, cond.measure, cond.of, cond.selector))
    return tuple(plan[k] for k in sorted(plan))


def metric_names(models) -> tuple:
    """Names of rolled-up metrics the models read."""
    names = {leaf.name for m in models for r in m.rules for leaf in iter_conditions(r.when)
             if isinstance(leaf, MetricCondition)}
    return tuple(sorted(names))


def score_inputs(models) -> tuple:
    """Names of other models whose scores these models read."""
    names = {leaf.model for m in models for r in m.rules for leaf in iter_conditions(r.when)
             if isinstance(leaf, ScoreCondition)}
    return tuple(sorted(names))


def event_names(models) -> tuple:
    """Every event name any selector mentions (lower-cased)."""
    names = set()
    for m in models:
        names.update(m.activity.names)
        for cond in m.event_conditions():
            names.update(cond.selector.names)
    return tuple(sorted(names))


__all__ = ["Aggregate", "feature_plan", "metric_names", "score_inputs", "activity_key", "metric_key",
           "score_key", "event_names", "EventCondition"]
