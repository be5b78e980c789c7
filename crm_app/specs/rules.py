"""Scoring models from rule files -> frozen, typed objects."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from crm_app.errors import ErrorCollector
from crm_app.specs.conditions import EventCondition, EventSelector, iter_conditions
from crm_app.specs.condition_parser import parse_condition
from crm_app.specs.reader import Reader, Where, item_where
from crm_app.specs.model_sections import (Activation, Bands, Decay, PqlSpec, Recency, parse_activation,  # noqa: F401
                                          parse_activity, parse_bands, parse_clamp, parse_decay, parse_pql,
                                          parse_recency)
from crm_app.specs.segments import parse_segments

STAGES = ("conversion", "onboarding", "expansion", "retention", "account", "health")
SUBJECT_KINDS = ("person", "account")
REASON_PLACEHOLDERS = ("count", "distinct", "average", "sum", "days", "value", "window")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Rule:
    """One scoring rule: points awarded when its condition holds."""

    id: str
    kind: str  # fit | behaviour
    label: str
    points: float
    when: object
    group: str | None = None
    reason: str | None = None  # template with {count}-style placeholders
    exclusive: str | None = None  # among rules sharing this, only the first that fires counts
    recency_weighted: bool = True
    source: str = ""


@dataclass(frozen=True)
class Model:
    """A scoring model: fit + behaviour rules, decay, recency, bands, PQL and activation."""

    name: str
    label: str
    stage: str
    subject: str
    fit: tuple
    behaviour: tuple
    decay: Decay | None
    recency: Recency | None
    bands: Bands
    pql: PqlSpec | None
    activation: Activation | None
    activity: EventSelector
    clamp: tuple = (0.0, 100.0)
    source: str = ""
    segments: tuple = ()  # specs.segments.Segment, in priority order
    population: object = None  # a condition: who this model scores (None = everyone)

    @property
    def rules(self) -> tuple:
        return self.fit + self.behaviour

    def event_conditions(self) -> list[EventCondition]:
        """Every event condition the model's rules and population use, for set-wise feature computation."""
        found = []
        for when in [rule.when for rule in self.rules] + [self.population]:
            found.extend(c for c in iter_conditions(when) if isinstance(c, EventCondition))
        return found


@dataclass(frozen=True)
class RuleSet:
    """Every model of a file set, with the content hash that identifies the set."""

    models: tuple
    lists: tuple = field(default=())  # (name, values) pairs, global lists
    hash: str = ""
    files: tuple = ()

    def model(self, name: str) -> Model:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]


MODEL_KEYS = ("model", "label", "stage", "subject", "lists", "fit", "behaviour", "decay", "recency", "bands",
              "pql", "activation", "activity_events", "clamp", "segments", "population")


def parse_lists(node, where: Where, errors: ErrorCollector) -> dict:
    """Named lists: name -> tuple of lower-cased values."""
    r = Reader(node, where, errors, "'lists'")
    lists = {}
    for name in list(r.node):
        values = r.sequence(name)
        if values is None:
            continue
        if not _ID.match(str(name)):
            r.error(r.at(name), f"list name '{name}' must be lower_snake_case")
        lists[str(name)] = tuple(str(v).strip().lower() if isinstance(v, str) else v for v in values)
    return lists


def parse_model(doc, file: str, errors: ErrorCollector, global_lists: dict) -> Model | None:
    """One model file -> Model, recording every problem."""
    root = Where(file, getattr(doc, "line", 1), "")
    r = Reader(doc, root, errors, "a rule file")
    if not r.ok:
        return None
    name = r.text("model", required=True)
    if name and not _ID.match(name):
        r.error(r.at("model"), f"model name '{name}' must be lower_snake_case, such as 'conversion'")
    lists = dict(global_lists)
    local = r.mapping("lists")
    if local is not None:
        lists.update(parse_lists(local, r.at("lists"), errors))
    stage = r.choice("stage", STAGES, default="conversion")
    subject = r.choice("subject", SUBJECT_KINDS, default="person")
    fit = _parse_rules(r, "fit", lists)
    behaviour = _parse_rules(r, "behaviour", lists)
    decay = parse_decay(r)
    recency = parse_recency(r)
    bands = parse_bands(r)
    pql = parse_pql(r)
    activity = parse_activity(r, lists)
    clamp = parse_clamp(r)
    activation = parse_activation(r, {rule.id for rule in behaviour + fit})
    label = r.text("label", default=name or "")
    segments = parse_segments(r.raw("segments", None), r.at("segments"), errors, lists)
    population_raw = r.raw("population", None)
    population = (parse_condition(population_raw, r.at("population"), errors, lists)
                  if population_raw is not None else None)
    if population_raw is not None and population is None:
        r.ok = False
    r.finish(MODEL_KEYS)
    _check_unique_ids(r, fit + behaviour)
    if not r.ok or name is None:
        return None
    return Model(name=name, label=label, stage=stage, subject=subject, fit=fit, behaviour=behaviour,
                 decay=decay, recency=recency, bands=bands, pql=pql, activation=activation,
                 activity=activity, clamp=clamp, source=file, segments=segments, population=population)


def _parse_rules(r: Reader, kind: str, lists: dict) -> tuple:
    items = r.sequence(kind)
    if items is None:
        return ()
    rules = []
    for i, item in enumerate(items):
        where = item_where(r.at(kind), items, i)
        rule = _parse_rule(item, where, r, kind, lists)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _parse_rule(node, where: Where, parent: Reader, kind: str, lists: dict) -> Rule | None:
    rr = Reader(node, where, parent.errors, "a rule")
    if not rr.ok:
        parent.ok = False
        return None
    rule_id = rr.text("id", required=True)
    if rule_id and not _ID.match(rule_id):
        rr.error(rr.at("id"), f"rule id '{rule_id}' must be lower_snake_case, such as 'invited_teammates'")
    label = rr.text("label", required=True)
    points = rr.number("points", required=True, minimum=-1000, maximum=1000)
    reason = rr.text("reason", default=None)
    if reason is not None:
        for placeholder in _PLACEHOLDER.findall(reason):
            if placeholder not in REASON_PLACEHOLDERS:
                rr.error(rr.at("reason"), f"unknown placeholder '{{{placeholder}}}'; use one of: "
                         + ", ".join("{" + p + "}" for p in REASON_PLACEHOLDERS))
    group = rr.text("group", default=None)
    exclusive = rr.text("exclusive", default=None)
    weighted = rr.boolean("recency_weighted", default=True)
    when_raw = rr.raw("when", required=True)
    when = parse_condition(when_raw, rr.at("when"), parent.errors, lists) if when_raw is not None else None
    rr.finish(["id", "label", "points", "reason", "group", "exclusive", "recency_weighted", "when"])
    if kind == "fit" and when is not None:
        for leaf in iter_conditions(when):
            if isinstance(leaf, EventCondition):
                rr.error(rr.at("when"), "fit rules describe who someone is and never decay; "
                         "move event conditions to 'behaviour'")
                break
    if not rr.ok or when is None:
        parent.ok = False
        return None
    return Rule(id=rule_id, kind=kind, label=label, points=float(points), when=when, group=group, reason=reason,
                exclusive=exclusive, recency_weighted=weighted, source=f"{where.file}:{where.line}")


def _check_unique_ids(r: Reader, rules: tuple) -> None:
    seen = {}
    for rule in rules:
        if rule.id in seen:
            file, line = rule.source.rsplit(":", 1)
            r.error(Where(file, int(line), "id"), f"rule id '{rule.id}' is used twice (also at {seen[rule.id]}); "
                    "give each rule its own id")
        seen[rule.id] = rule.source


