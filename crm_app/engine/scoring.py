"""evaluate(model, record, features, as_of): fit + behaviour, recency, decay, combine, band, PQL, reasons."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from crm_app.engine.conditions import DAY, compile_condition, days_since_last, measured_value
from crm_app.engine.plan import activity_key
from crm_app.engine.result import Reason, ScoreResult
from crm_app.specs.conditions import EventCondition, FieldCondition, iter_conditions, last_at_key
from crm_app.specs.rules import Model, Recency, Rule

_PLACEHOLDER = re.compile(r"\{(count|distinct|average|sum|days|value|window)\}")
NOT_STARTED, ACTIVATED, POWER_USER = "Not Started", "Activated", "Power User"


def round_half_up(x: float) -> int:
    """Round to the nearest integer, halves away from zero, so 0.5 never rounds to 0."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def to_epoch(as_of) -> int:
    """Epoch seconds from an int or an aware datetime (a naive datetime is refused: it has no zone)."""
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware, such as 2026-11-01T00:00:00+00:00")
        return int(as_of.timestamp())
    return int(as_of)


def recency_factor(recency: Recency | None, age_seconds: int | None) -> float:
    """1.0 within full_within; reduced_factor from reduced_after on; linear in between."""
    if recency is None or age_seconds is None or age_seconds <= recency.full_within:
        return 1.0
    if age_seconds >= recency.reduced_after:
        return recency.reduced_factor
    span = recency.reduced_after - recency.full_within
    return 1.0 - (1.0 - recency.reduced_factor) * (age_seconds - recency.full_within) / span


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    check: object
    evidence: tuple  # last_at feature keys of the rule's positive event conditions
    first_event: EventCondition | None
    first_field: FieldCondition | None
    template: tuple  # the reason split into (literal, placeholder or None) pairs, parsed once


@dataclass(frozen=True)
class CompiledModel:
    model: Model
    fit: tuple
    behaviour: tuple
    activity_key: str
    milestones: frozenset


def _compile_rule(rule: Rule) -> CompiledRule:
    leaves = list(iter_conditions(rule.when))
    events = [c for c in leaves if isinstance(c, EventCondition)]
    evidence = tuple(dict.fromkeys(last_at_key(c.selector) for c in events if c.measure != "days_since_last"))
    fields = [c for c in leaves if isinstance(c, FieldCondition)]
    return CompiledRule(rule, compile_condition(rule.when), evidence,
                        events[0] if events else None, fields[0] if fields else None,
                        _split_template(rule.reason or rule.label))


def _split_template(text: str) -> tuple:
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append((text[last:match.start()], match.group(1)))
        last = match.end()
    parts.append((text[last:], None))
    return tuple(parts)


_COMPILED: dict[int, CompiledModel] = {}


def compile_model(model: Model) -> CompiledModel:
    """Compile a model's conditions once; evaluate() reuses it for every subject."""
    cached = _COMPILED.get(id(model))
    if cached is not None and cached.model is model:
        return cached
    compiled = CompiledModel(model, tuple(_compile_rule(r) for r in model.fit),
                             tuple(_compile_rule(r) for r in model.behaviour), activity_key(model),
                             frozenset(model.activation.milestones) if model.activation else frozenset())
    _COMPILED[id(model)] = compiled
    return compiled


def _window_text(seconds: int | None) -> str:
    if not seconds:
        return "all time"
    if seconds % DAY == 0:
        days = seconds // DAY
        return f"{days} day{'s' if days != 1 else ''}"
    hours = seconds / 3600
    return f"{hours:g} hours"


def _format_number(value) -> str:
    if value is None:
        return "?"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"
    return str(value)


def _reason_text(cr: CompiledRule, record: Mapping, features: Mapping, as_of: int) -> str:
    if len(cr.template) == 1:
        return cr.template[0][0]
    event = cr.first_event

    def fill(name: str) -> str:
        if name == "value":
            return str(record.get(cr.first_field.field, "?")) if cr.first_field else "?"
        if event is None:
            return "?"
        if name == "window":
            return _window_text(event.selector.within)
        if name == "days":
            return _format_number(days_since_last(event, record, features, as_of))
        if name == event.measure:
            return _format_number(measured_value(event, record, features, as_of))
        return "?"
    return "".join(literal + (fill(name) if name else "") for literal, name in cr.template)


def _age_text(age_seconds: int) -> str:
    """Age of the evidence in whole weeks: the reason text changes weekly, not daily.

    Reason texts are written into a CRM field; a text that changed every day would cost a write-back call
    per person per day while the points stayed the same.
    """
    weeks = age_seconds // (7 * DAY)
    return f"{weeks} week{'s' if weeks != 1 else ''} ago"


def _evidence_age(cr: CompiledRule, features: Mapping, as_of: int) -> int | None:
    times = [features.get(k) for k in cr.evidence]
    times = [t for t in times if t is not None]
    return as_of - max(times) if times else None


def _fire(rules: tuple, record: Mapping, features: Mapping, as_of: int, recency: Recency | None,
          reasons: list, fired: set) -> int:
    total = 0
    taken_groups: set = set()
    for cr in rules:
        rule = cr.rule
        if rule.exclusive and rule.exclusive in taken_groups:
            continue
        if not cr.check(record, features, as_of):
            continue
        if rule.exclusive:
            taken_groups.add(rule.exclusive)
        fired.add(rule.id)
        factor, age = 1.0, None
        if rule.kind == "behaviour" and rule.points > 0 and rule.recency_weighted and cr.evidence:
            age = _evidence_age(cr, features, as_of)
            factor = recency_factor(recency, age)
        points = round_half_up(rule.points * factor)
        total += points
        text = _reason_text(cr, record, features, as_of)
        if factor != 1.0:
            text = f"{text} ({_age_text(age or 0)})"
        reasons.append(Reason(rule.id, rule.kind, text, points, rule.points, round(factor, 4), rule.group))
    return total


def _clamp(value: float, bounds: tuple) -> int:
    return int(min(max(value, bounds[0]), bounds[1]))


_POPULATIONS: dict = {}


def in_population(model: Model, record: Mapping, features: Mapping, as_of) -> bool:
    """Whether the model scores this subject at all (its `population:` condition; everyone without one)."""
    if model.population is None:
        return True
    cached = _POPULATIONS.get(id(model))
    if cached is None or cached[0] is not model:
        cached = _POPULATIONS[id(model)] = (model, compile_condition(model.population))
    return cached[1](record, features, to_epoch(as_of))


def evaluate(model: Model, record: Mapping, features: Mapping, as_of, previous=None) -> ScoreResult:
    """Score one subject as of a moment. Pure: same inputs, same result, byte for byte.

    record: flat field values ("title", "account.industry", ...). features: aggregates keyed as
    engine.plan names them. previous: the subject's last result (or None), for the sticky PQL dates.
    """
    now = to_epoch(as_of)
    cm = compile_model(model)
    reasons: list[Reason] = []
    fired: set = set()
    fit_raw = _fire(cm.fit, record, features, now, None, reasons, fired)
    behaviour_raw = _fire(cm.behaviour, record, features, now, model.recency, reasons, fired)

    last_activity = features.get(cm.activity_key)
    days_inactive = None if last_activity is None else max(0, (now - int(last_activity)) // DAY)
    decay = 0
    if model.decay and last_activity is not None:
        steps = max(0, now - int(last_activity)) // model.decay.every
        decay = round_half_up(steps * model.decay.points)
        if decay:
            quiet = steps * model.decay.every // DAY
            reasons.append(Reason("decay", "decay", f"No product activity for {quiet}+ days (decay)",
                                  -decay, -model.decay.points, float(steps)))
    floor = model.decay.floor if model.decay else model.clamp[0]
    behaviour = _clamp(max(floor, behaviour_raw - decay), model.clamp)
    combined = _clamp(fit_raw + behaviour, model.clamp)
    fit = _clamp(fit_raw, model.clamp)
    band = "high" if combined >= model.bands.high else "medium" if combined >= model.bands.medium else "low"

    pql = False
    if model.pql is not None:
        pql = combined >= model.pql.threshold and (model.pql.min_fit is None or fit_raw >= model.pql.min_fit)
    prev_pql = bool(previous and _get(previous, "pql"))
    prev_since = _get(previous, "pql_since") if previous else None
    prev_first = _get(previous, "pql_first_at") if previous else None
    pql_since = (prev_since if prev_pql and prev_since is not None else now) if pql else None
    pql_first_at = prev_first if prev_first is not None else (now if pql else None)

    activation, milestones = None, 0
    if model.activation is not None:
        milestones = len(cm.milestones & fired)
        activation = (POWER_USER if milestones >= model.activation.power_user_at
                      else ACTIVATED if milestones >= model.activation.activated_at else NOT_STARTED)

    return ScoreResult(model=model.name, as_of=now, fit=fit, fit_raw=fit_raw, behaviour=behaviour,
                       behaviour_before_decay=behaviour_raw, decay=decay, combined=combined, band=band, pql=pql,
                       pql_since=pql_since, pql_first_at=pql_first_at, activation=activation,
                       milestones=milestones, last_activity=None if last_activity is None else int(last_activity),
                       days_inactive=days_inactive, reasons=tuple(reasons))


def _get(obj, name):
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
