"""Which aggregates the store must compute for a set of models: one pass, every person at once."""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.specs.conditions import (EventCondition, EventSelector, MetricCondition, ScoreCondition,
                                      iter_conditions, last_at_key)
from crm_app.engine import usage
from crm_app.specs.usage import SPIKE_SPANS, QuotaCondition



@dataclass(frozen=True)
class Aggregate:
    """One per-subject number computed over events known at as_of."""

    key: str
    measure: str  # count | distinct | average | sum | last_at | active_weeks | sophistication | prior | quota
    of: str | None
    selector: EventSelector | None
    extra: tuple = ()  # prior: (spans,); sophistication: (intermediate, advanced); quota: (rate window,)


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
        if model.population is not None:
            for cond in iter_conditions(model.population):
                if isinstance(cond, EventCondition):
                    key = last_at_key(cond.selector) if cond.measure == "days_since_last" else cond.feature_key
                    selector = (EventSelector(cond.selector.names, cond.selector.where, None)
                                if cond.measure == "days_since_last" else cond.selector)
                    measure = "last_at" if cond.measure == "days_since_last" else cond.measure
                    plan.setdefault(key, Aggregate(key, measure, None if measure == "last_at" else cond.of,
                                                   selector))
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
                if cond.measure in ("growth", "spike"):
                    _add_shape(plan, cond)
                elif cond.measure != "days_since_last":
                    plan.setdefault(cond.feature_key,
                                    Aggregate(cond.feature_key, cond.measure, cond.of, cond.selector, cond.levels))
        for quota in _quota_conditions(model):
            plan.setdefault(quota.feature_key, Aggregate(quota.feature_key, "quota", quota.metric, None,
                                                         (quota.rate_window,)))
    return tuple(plan[k] for k in sorted(plan))


def _add_shape(plan: dict, cond) -> None:
    """Growth and spike compare the window's count with the count over windows just before it."""
    spans = 1 if cond.measure == "growth" else SPIKE_SPANS
    count = usage.count_key(cond)
    plan.setdefault(count, Aggregate(count, "count", None, cond.selector))
    prior = usage.prior_key(cond, spans)
    plan.setdefault(prior, Aggregate(prior, "prior", None, cond.selector, (spans,)))


def _quota_conditions(model) -> list:
    return [leaf for r in model.rules for leaf in iter_conditions(r.when) if isinstance(leaf, QuotaCondition)]


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
