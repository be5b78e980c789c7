"""Each person model as columns over one row per subject: rule checks, exclusive groups, recency-weighted
points, fit, behaviour, decay, clamp, combined, band, PQL with its sticky dates, activation and population.

The layers mirror engine.scoring.evaluate step by step, so the same inputs give the same numbers; the
differential test (tests/test_setwise_plan.py) holds the two to that on random rule sets and histories.
"""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.engine import usage
from crm_app.engine.conditions import DAY
from crm_app.engine.plan import activity_key
from crm_app.engine.setwise import ir
from crm_app.engine.setwise.fields import field_leaf
from crm_app.specs.conditions import (AllOf, AnyOf, EventCondition, FieldCondition, MetricCondition, Not, iter_conditions,
                                      last_at_key)
from crm_app.specs.usage import SPIKE_SPANS, QuotaCondition

ZERO_WHEN_MISSING = ("count", "distinct", "sum", "active_weeks", "sophistication")


class Unsupported(ValueError):
    """A model the set-wise plan cannot express yet; the caller scores it with the per-person engine."""


def rule_column(model, rule, what: str) -> str:
    return f"{model.name}:{rule.id}:{what}"


def model_column(model, what: str) -> str:
    return f"{model.name}:{what}"


def weighted_evidence(model, rule) -> tuple:
    """Last-at feature keys a rule's recency reads (empty when its points are never weighted)."""
    if not (rule.kind == "behaviour" and rule.points > 0 and rule.recency_weighted and model.recency):
        return ()
    events = [c for c in iter_conditions(rule.when) if isinstance(c, EventCondition)]
    return tuple(dict.fromkeys(last_at_key(c.selector) for c in events if c.measure != "days_since_last"))


def _round_half_up(x):
    return ir.case([(ir.op(">=", x, ir.lit(0)), ir.to_int(ir.fn("floor", ir.op("+", x, ir.lit(0.5)))))],
                   ir.op("-", ir.lit(0), ir.to_int(ir.fn("floor", ir.op("+", ir.op("-", ir.lit(0), x),
                                                                          ir.lit(0.5))))))


def _static_points(points: float) -> int:
    return int(points + 0.5) if points >= 0 else -int(-points + 0.5)


@dataclass
class Compiler:
    """Condition trees to total boolean expressions over the subject row (features `f:<key>`, fields)."""

    features: dict  # feature key -> column name
    catalog: object  # fields.FieldCatalog
    as_of: int
    points: object = None  # metrics.PointColumns, when the plan reads metric points

    def feature(self, key: str):
        if key not in self.features:
            return ir.NULL
        return ir.col(self.features[key])

    def measured(self, cond: EventCondition):
        if cond.measure == "days_since_last":
            last = ir.fn("coalesce", self.feature(last_at_key(cond.selector)), ir.col("created_at"))
            return ir.fn("greatest", ir.lit(0), ir.idiv(ir.op("-", ir.lit(self.as_of), last), ir.lit(DAY)))
        if cond.measure in ("growth", "spike"):
            spans = 1 if cond.measure == "growth" else SPIKE_SPANS
            before = ir.fn("coalesce", self.feature(usage.prior_key(cond, spans)), ir.lit(0))
            now = ir.fn("coalesce", self.feature(usage.count_key(cond)), ir.lit(0))
            value = (ir.op("/", ir.op("*", ir.lit(100.0), ir.op("-", now, before)), before)
                     if cond.measure == "growth" else ir.op("/", now, ir.op("/", before, ir.lit(float(SPIKE_SPANS)))))
            return ir.case([(ir.op("=", before, ir.lit(0)), ir.NULL)], value)
        value = self.feature(cond.feature_key)
        return ir.fn("coalesce", value, ir.lit(0)) if cond.measure in ZERO_WHEN_MISSING else value

    def compare(self, value, comparison):
        if comparison.op == "between":
            low, high = comparison.value
            test = ir.and_(ir.op(">=", value, ir.lit(low)), ir.op("<=", value, ir.lit(high)))
        else:
            symbol = {"at_least": ">=", "more_than": ">", "at_most": "<=", "less_than": "<", "equals": "="}
            test = ir.op(symbol[comparison.op], value, ir.lit(comparison.value))
        return ir.total(test)

    def condition(self, cond):
        if isinstance(cond, FieldCondition):
            return field_leaf(self.catalog, cond)
        if isinstance(cond, EventCondition):
            return self.compare(self.measured(cond), cond.comparison)
        if isinstance(cond, MetricCondition) and self.points is not None:
            return self.compare(self.points.metric(cond), cond.comparison)
        if isinstance(cond, QuotaCondition) and self.points is not None:
            return self.compare(self.points.quota(cond), cond.comparison)
        if isinstance(cond, AllOf):
            return ir.and_(*[self.condition(c) for c in cond.items])
        if isinstance(cond, AnyOf):
            return ir.or_(*[self.condition(c) for c in cond.items])
        if isinstance(cond, Not):
            return ir.not_(self.condition(cond.item))
        raise Unsupported(f"{type(cond).__name__} conditions are scored by the per-person engine")


def model_layers(model, comp: Compiler) -> list:
    """[(column, expression), ...] per layer: each layer reads only the columns of the layers before it."""
    checks, fired, points, totals, scores, final = [], [], [], [], [], []
    if model.population is not None:
        checks.append((model_column(model, "in_population"), comp.condition(model.population)))
    else:
        checks.append((model_column(model, "in_population"), ir.TRUE))
    for rules in (model.fit, model.behaviour):
        earlier: dict = {}
        for rule in rules:
            check = rule_column(model, rule, "check")
            checks.append((check, comp.condition(rule.when)))
            taken = earlier.setdefault(rule.exclusive, []) if rule.exclusive else []
            fired.append((rule_column(model, rule, "fired"),
                          ir.and_(ir.col(check), *[ir.not_(ir.col(c)) for c in taken])))
            taken.append(check)
            points.extend(_rule_points(model, rule, comp))
    fit_raw = [ir.col(rule_column(model, r, "points")) for r in model.fit]
    behaviour_raw = [ir.col(rule_column(model, r, "points")) for r in model.behaviour]
    last = comp.feature(activity_key(model))
    totals += [(model_column(model, "fit_raw"), _sum(fit_raw)),
               (model_column(model, "behaviour_before_decay"), _sum(behaviour_raw)),
               (model_column(model, "last_activity"), last),
               (model_column(model, "decay"), _decay(model, last, comp.as_of)),
               (model_column(model, "days_inactive"), ir.case(
                   [(ir.is_null(last), ir.NULL)],
                   ir.fn("greatest", ir.lit(0), ir.idiv(ir.op("-", ir.lit(comp.as_of), last), ir.lit(DAY)))))]
    low = model.clamp[0]
    floor = model.decay.floor if model.decay else low
    def c(what):
        return ir.col(model_column(model, what))
    behaviour = _clamp(ir.fn("greatest", ir.lit(floor), ir.op("-", c("behaviour_before_decay"), c("decay"))),
                       model.clamp)
    scores += [(model_column(model, "behaviour"), behaviour), (model_column(model, "fit"), _clamp(c("fit_raw"),
                                                                                                   model.clamp))]
    milestones = sorted(set(model.activation.milestones)) if model.activation else []
    rule_ids = {r.id for r in model.rules}
    scores.append((model_column(model, "milestones"), _sum(
        [ir.case([(ir.col(f"{model.name}:{m}:fired"), ir.lit(1))], ir.lit(0)) for m in milestones if m in rule_ids])))
    final += [(model_column(model, "combined"), _clamp(ir.op("+", c("fit_raw"), c("behaviour")), model.clamp))]
    return [checks, fired, points, totals, scores, final, _states(model, comp.as_of), _since(model, comp.as_of)]


def _states(model, as_of: int) -> list:
    combined, fit_raw = ir.col(model_column(model, "combined")), ir.col(model_column(model, "fit_raw"))
    band = ir.case([(ir.op(">=", combined, ir.lit(model.bands.high)), ir.lit("high")),
                    (ir.op(">=", combined, ir.lit(model.bands.medium)), ir.lit("medium"))], ir.lit("low"))
    pql = ir.FALSE
    if model.pql is not None:
        pql = ir.op(">=", combined, ir.lit(model.pql.threshold))
        if model.pql.min_fit is not None:
            pql = ir.and_(pql, ir.op(">=", fit_raw, ir.lit(model.pql.min_fit)))
    activation = ir.NULL
    if model.activation is not None:
        milestones = ir.col(model_column(model, "milestones"))
        activation = ir.case([(ir.op(">=", milestones, ir.lit(model.activation.power_user_at)), ir.lit("Power User")),
                              (ir.op(">=", milestones, ir.lit(model.activation.activated_at)), ir.lit("Activated"))],
                             ir.lit("Not Started"))
    return [(model_column(model, "band"), band), (model_column(model, "pql"), ir.total(pql)),
            (model_column(model, "activation"), activation)]


def _since(model, as_of: int) -> list:
    """The sticky PQL dates: since when continuously a PQL, and the first time ever."""
    pql = ir.col(model_column(model, "pql"))
    prev_pql = ir.fn("coalesce", ir.col(prev_column(model, "pql")), ir.FALSE)
    prev_since, prev_first = ir.col(prev_column(model, "pql_since")), ir.col(prev_column(model, "pql_first_at"))
    since = ir.case([(ir.and_(pql, prev_pql, ir.not_(ir.is_null(prev_since))), prev_since),
                     (pql, ir.lit(as_of))])
    first = ir.case([(ir.not_(ir.is_null(prev_first)), prev_first), (pql, ir.lit(as_of))])
    return [(model_column(model, "pql_since"), since), (model_column(model, "pql_first_at"), first)]


def prev_column(model, what: str) -> str:
    """Columns of the subject's previous result, joined in by the plan (NULL without one)."""
    return f"prev:{model.name}:{what}"


def _rule_points(model, rule, comp: Compiler) -> list:
    fired = ir.col(rule_column(model, rule, "fired"))
    evidence = weighted_evidence(model, rule)
    if not evidence:
        return [(rule_column(model, rule, "points"),
                 ir.case([(fired, ir.lit(_static_points(rule.points)))], ir.lit(0)))]
    latest = comp.feature(evidence[0]) if len(evidence) == 1 else ir.fn(
        "greatest", *[comp.feature(k) for k in evidence])
    age = ir.op("-", ir.lit(comp.as_of), latest)
    rec = model.recency
    span = rec.reduced_after - rec.full_within
    factor = ir.case([(ir.or_(ir.is_null(latest), ir.op("<=", age, ir.lit(rec.full_within))), ir.lit(1.0)),
                      (ir.op(">=", age, ir.lit(rec.reduced_after)), ir.lit(float(rec.reduced_factor)))],
                     ir.op("-", ir.lit(1.0), ir.op("/", ir.op("*", ir.lit(1.0 - rec.reduced_factor),
                                                               ir.op("-", age, ir.lit(rec.full_within))),
                                                   ir.lit(span))))
    weighted = _round_half_up(ir.op("*", ir.lit(float(rule.points)), factor))
    return [(rule_column(model, rule, "factor"), factor), (rule_column(model, rule, "age"), age),
            (rule_column(model, rule, "points"), ir.case([(fired, weighted)], ir.lit(0)))]


def _decay(model, last, as_of: int):
    if not model.decay:
        return ir.lit(0)
    steps = ir.idiv(ir.fn("greatest", ir.lit(0), ir.op("-", ir.lit(as_of), last)), ir.lit(model.decay.every))
    return ir.case([(ir.is_null(last), ir.lit(0))],
                   _round_half_up(ir.op("*", steps, ir.lit(float(model.decay.points)))))


def _clamp(value, bounds: tuple):
    return ir.to_int(ir.fn("least", ir.fn("greatest", value, ir.lit(float(bounds[0]))), ir.lit(float(bounds[1]))))


def _sum(items: list):
    if not items:
        return ir.lit(0)
    total = items[0]
    for item in items[1:]:
        total = ir.op("+", total, item)
    return total
