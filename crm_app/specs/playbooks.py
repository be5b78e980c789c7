"""Playbook files -> frozen objects: a trigger, optional conditions, then actions in order.

A file holding `routing:` defines the reps, pools and territories that `assign` uses; every other file in
playbooks/ is one playbook. Errors name file:line and the key, like the rule files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from crm_app.errors import ErrorCollector, did_you_mean
from crm_app.specs.condition_parser import parse_condition
from crm_app.specs.reader import Reader, Where, item_where
from crm_app.specs.routing import Routing, parse_routing
from crm_app.specs.templates.compiler import template_problems

BANDS = ("high", "medium", "low")
# Trigger registry: type -> meaning. docs/admin-guide.md documents each; a test checks that.
TRIGGERS: dict[str, str] = {
    "became_pql": "the person became a PQL (re-arms after the score falls `hysteresis` points below entry)",
    "band_changed": "the band changed; optional `from:` and `to:` narrow it",
    "score_crossed": "the combined score crossed `value:` going `direction: up|down`, with `hysteresis:`",
    "score_dropped": "the combined score fell by `by:` points or more from its peak `within:` a duration",
    "inactive": "no product activity for `days:` days (fires once per quiet stretch)",
    "entered_segment": "the record entered `segment:` (segments come from account scoring)",
    "left_segment": "the record left `segment:`",
}
# Action registry: type -> meaning.
ACTIONS: dict[str, str] = {
    "assign": "choose an owner by strategies in order: keep_current, account_owner, territory, round_robin",
    "create_task": "create a CRM task for the owner, with a due date and a Jinja subject/body",
    "slack_alert": "post the PQL alert with buttons to `channel:` or as a DM `to: owner`",
    "set_field": "write `value:` (a Jinja template) into the CRM field `field:`",
}
STRATEGIES = ("keep_current", "account_owner", "territory", "round_robin")
PLAYBOOK_KEYS = ("playbook", "label", "model", "enabled", "trigger", "when", "limits", "actions")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Trigger:
    type: str
    band_from: str | None = None
    band_to: str | None = None
    value: float | None = None
    direction: str = "up"
    by: float | None = None
    within: int | None = None  # seconds
    days: int | None = None
    segment: str | None = None
    hysteresis: float = 0.0


@dataclass(frozen=True)
class Action:
    """One action; `params` holds its validated keys (templates stay text, rendered at run time)."""

    type: str
    params: dict
    source: str = ""


@dataclass(frozen=True)
class Limit:
    count: int
    per: int  # seconds


@dataclass(frozen=True)
class Playbook:
    name: str
    label: str
    model: str
    enabled: bool
    trigger: Trigger
    when: object  # a condition tree or None
    actions: tuple
    per_person: Limit | None = None
    per_owner: Limit | None = None
    source: str = ""


@dataclass(frozen=True)
class PlaybookSet:
    playbooks: tuple = ()
    routing: Routing = field(default_factory=Routing)

    def get(self, name: str) -> Playbook:
        return next(p for p in self.playbooks if p.name == name)


def parse_playbook(doc, file: str, errors: ErrorCollector, lists: dict, models: list) -> Playbook | None:
    """One playbook file -> Playbook, recording every problem with file:line and key."""
    r = Reader(doc, Where(file, getattr(doc, "line", 1), ""), errors, "a playbook file")
    if not r.ok:
        return None
    name = r.text("playbook", required=True)
    if name and not _ID.match(name):
        r.error(r.at("playbook"), f"playbook name '{name}' must be lower_snake_case, such as 'new_pql'")
    model = r.text("model", default=models[0] if models else "conversion")
    if models and model not in models:
        r.error(r.at("model"), f"no model named '{model}'", did_you_mean(model, models), ("model", model))
    trigger = _parse_trigger(r)
    when = None
    if r.has("when"):
        when = parse_condition(r.raw("when"), r.at("when"), errors, lists)
    per_person, per_owner = _parse_limits(r)
    actions = _parse_actions(r)
    label, enabled = r.text("label", default=name or ""), r.boolean("enabled", True)
    r.finish(PLAYBOOK_KEYS)
    if not r.ok or name is None or trigger is None:
        return None
    return Playbook(name, label, model, enabled, trigger, when, actions, per_person, per_owner,
                    f"{file}:{getattr(doc, 'line', 1)}")


def _parse_trigger(r: Reader) -> Trigger | None:
    node = r.mapping("trigger", required=True)
    if node is None:
        return None
    t = Reader(node, r.at("trigger"), r.errors, "'trigger'")
    kind = t.choice("type", tuple(TRIGGERS), required=True)
    hysteresis = t.number("hysteresis", default=10 if kind == "became_pql" else 0, minimum=0, maximum=100)
    args: dict = {}
    if kind == "band_changed":
        args = {"band_from": t.choice("from", BANDS, default=None), "band_to": t.choice("to", BANDS, default=None)}
    elif kind == "score_crossed":
        args = {"value": t.number("value", required=True, minimum=0, maximum=100),
                "direction": t.choice("direction", ("up", "down"), default="up")}
    elif kind == "score_dropped":
        args = {"by": t.number("by", required=True, minimum=1, maximum=100),
                "within": t.duration("within", required=True)}
    elif kind == "inactive":
        args = {"days": t.number("days", required=True, minimum=1, maximum=3650)}
    elif kind in ("entered_segment", "left_segment"):
        args = {"segment": t.text("segment", required=True)}
    t.finish(["type", "hysteresis"])
    if not t.ok or kind is None:
        return None
    return Trigger(type=kind, hysteresis=float(hysteresis or 0), **args)


def _parse_limits(r: Reader) -> tuple:
    node = r.mapping("limits")
    if node is None:
        return None, None
    lr = Reader(node, r.at("limits"), r.errors, "'limits'")
    found = []
    for key in ("per_person", "per_owner"):
        sub = lr.mapping(key)
        if sub is None:
            found.append(None)
            continue
        s = Reader(sub, lr.at(key), r.errors, f"'{key}'")
        count, per = s.number("alerts", required=True, minimum=1, maximum=10000), s.duration("per", required=True)
        s.finish(["alerts", "per"])
        found.append(Limit(int(count), per) if s.ok else None)
    lr.finish(["per_person", "per_owner"])
    return tuple(found)


def _parse_actions(r: Reader) -> tuple:
    items = r.sequence("actions", required=True) or []
    if not items and r.has("actions"):
        r.error(r.at("actions"), "a playbook needs at least one action")
    actions = []
    for i, item in enumerate(items):
        where = item_where(r.at("actions"), items, i)
        a = Reader(item, where, r.errors, "an action")
        kind = a.choice("type", tuple(ACTIONS), required=True)
        params = _ACTION_PARSERS[kind](a) if kind else {}
        a.finish(["type"])
        if a.ok and kind:
            actions.append(Action(kind, params, f"{where.file}:{where.line}"))
    return tuple(actions)


def _template(a: Reader, key: str, default=None, required: bool = False) -> str | None:
    """A Jinja template, compiled now so a typo, an unknown filter or a variable that can never exist is
    reported at file:line, not at run time."""
    text = a.text(key, default=default, required=required)
    for line, message, suggestion in template_problems(text) if text is not None else ():
        a.error(a.at(key), message + (f" (line {line} of the template)" if line > 1 else ""), suggestion)
    return text


def _assign(a: Reader) -> dict:
    raw = a.raw("strategy", required=True)
    strategies = raw if isinstance(raw, list) else [raw] if raw is not None else []
    for s in strategies:
        if s not in STRATEGIES:
            a.error(a.at("strategy"), f"{s!r} is not one of: {', '.join(STRATEGIES)}", did_you_mean(s, STRATEGIES))
    pool = a.text("pool", default=None)
    if "round_robin" in strategies and pool is None:
        a.error(a.at("strategy"), "round_robin needs 'pool:' naming a pool from the routing file")
    return {"strategies": tuple(strategies), "pool": pool, "object": a.text("object", default=None)}


def _create_task(a: Reader) -> dict:
    return {"subject": _template(a, "subject", required=True), "body": _template(a, "body", default=None),
            "due_in": a.duration("due_in", default=86400), "priority": a.choice("priority", ("High", "Normal", "Low"),
                                                                               default="Normal")}


def _slack_alert(a: Reader) -> dict:
    channel, to = a.text("channel", default=None), a.choice("to", ("owner",), default=None)
    if (channel is None) == (to is None):
        a.error(a.where, "a slack_alert needs exactly one of 'channel: \"#name\"' or 'to: owner'")
    return {"channel": channel, "to": to, "text": _template(a, "text", default=None)}


def _set_field(a: Reader) -> dict:
    return {"field": a.text("field", required=True), "value": _template(a, "value", required=True)}


_ACTION_PARSERS = {"assign": _assign, "create_task": _create_task, "slack_alert": _slack_alert,
                   "set_field": _set_field}


def parse_playbook_set(docs: list, errors: ErrorCollector, lists: dict, models: list) -> PlaybookSet:
    """Every (file, doc) of playbooks/ -> PlaybookSet; pools named by actions must exist."""
    routing, playbooks, seen = Routing(), [], {}
    for file, doc in docs:
        if isinstance(doc, dict) and "routing" in doc:
            routing = parse_routing(doc, file, errors, lists)
            continue
        pb = parse_playbook(doc, file, errors, lists, models)
        if pb is None:
            continue
        if pb.name in seen:
            errors.add(file, 1, "playbook", f"playbook '{pb.name}' is already defined in {seen[pb.name]}; rename one")
        seen[pb.name] = file
        playbooks.append(pb)
    for pb in playbooks:
        for action in pb.actions:
            pool = action.params.get("pool") if action.type == "assign" else None
            if pool is not None and pool not in routing.pools:
                file, line = action.source.rsplit(":", 1)
                errors.add(file, int(line), "pool", f"no pool named '{pool}' in the routing file",
                           did_you_mean(pool, routing.pools), ("pool", pool))
    return PlaybookSet(tuple(playbooks), routing)
