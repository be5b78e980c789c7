"""The record-creation policy (mapping/create.yaml): which product users get a CRM record, as what, and how its
fields are filled. Checked like every admin file: each problem names file:line, the key and the fix."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crm_app.errors import ErrorCollector, SpecSetInvalid, did_you_mean
from crm_app.specs.condition_parser import parse_condition
from crm_app.specs.reader import Reader, Where
from crm_app.specs.yamlsource import load_yaml

OBJECTS = {"salesforce": ("Lead", "Contact"), "hubspot": ("contacts",), "sandbox": ("leads", "contacts")}
# What the CRM refuses a create without (Salesforce Object Reference: Lead, Contact).
REQUIRED = {("salesforce", "Lead"): ("LastName", "Company"), ("salesforce", "Contact"): ("LastName",),
            ("hubspot", "contacts"): ("email",), ("sandbox", "leads"): ("email",), ("sandbox", "contacts"): ("email",)}
WHEN_KINDS = ("became_pql", "in_segment", "condition")
CREATION_HOLDS = "'create:' with 'when:' and the object and fields to create per CRM"
DERIVED = ("email_local",)  # the part of the email before the @


@dataclass(frozen=True)
class FieldRule:
    """A CRM field and how it is filled: the first present value of `sources`, else the constant `value`."""

    name: str
    sources: tuple = ()
    value: str | None = None


@dataclass(frozen=True)
class CrmTarget:
    object_type: str  # a Contact needs the person's account to be linked; without one a Lead is made
    external_id_field: str
    fields: tuple  # FieldRule, ...
    fallback_object: str | None = None
    fallback_fields: tuple = ()


@dataclass(frozen=True)
class CreationPolicy:
    when_kind: str  # became_pql | in_segment | condition
    model: str | None
    segment: str | None
    condition: object  # a parsed condition, for `condition`
    targets: tuple  # ((crm, CrmTarget), ...)
    source: str = ""

    def target(self, crm: str) -> CrmTarget | None:
        return dict(self.targets).get(crm)


def load_creation_policy(path: Path, models: list[str] | None = None,
                         errors: ErrorCollector | None = None) -> CreationPolicy | None:
    """The policy, or None when there is no file (nothing is created); raise SpecSetInvalid on any problem."""
    own = errors is None
    errors = errors if errors is not None else ErrorCollector()
    if not path.is_file():
        return None
    doc = load_yaml(path, errors, str(path), holds=CREATION_HOLDS)
    policy = parse_policy(doc, str(path), errors, models) if doc is not None else None
    if own and errors:
        raise SpecSetInvalid(errors.sorted())
    return policy


def parse_policy(doc, file: str, errors: ErrorCollector, models: list[str] | None = None) -> CreationPolicy | None:
    r = Reader(doc, Where(file, getattr(doc, "line", 1), ""), errors, "the record-creation file")
    if not r.ok:
        return None
    node = r.mapping("create", required=True)
    r.finish()
    if node is None:
        return None
    c = Reader(node, r.at("create"), errors)
    when_kind, model, segment, condition = _when(c, models or [])
    targets = []
    for crm in OBJECTS:
        target_node = c.mapping(crm)
        if target_node is not None:
            target = _target(Reader(target_node, c.at(crm), errors), crm)
            if target is not None:
                targets.append((crm, target))
    c.finish()
    if not c.ok or when_kind is None:
        return None
    return CreationPolicy(when_kind, model, segment, condition, tuple(targets), f"{file}:{r.at('create').line}")


def _when(c: Reader, models: list[str]):
    node = c.mapping("when", required=True)
    if node is None:
        return None, None, None, None
    w = Reader(node, c.at("when"), c.errors)
    given = [k for k in WHEN_KINDS if w.has(k)]
    unknown = [k for k in node if k not in WHEN_KINDS]
    for key in unknown:
        w.error(w.at(key), f"unknown key '{key}'; use one of: {', '.join(WHEN_KINDS)}",
                did_you_mean(str(key), WHEN_KINDS))
    if len(given) != 1:
        if not unknown:
            w.error(c.at("when"), f"give exactly one of {', '.join(WHEN_KINDS)} (found {len(given)})")
        return None, None, None, None
    kind = given[0]
    w.seen.update(node)
    model = segment = condition = None
    if kind == "became_pql":
        model = w.text("became_pql", required=True)
    elif kind == "in_segment":
        s = Reader(w.mapping("in_segment") or {}, w.at("in_segment"), c.errors)
        model, segment = s.text("model", required=True), s.text("segment", required=True)
        s.finish()
    else:
        condition = parse_condition(node["condition"], w.at("condition"), c.errors, {})
    if model and models and model not in models:
        w.error(w.at(kind), f"no model named '{model}'", did_you_mean(model, models), ("model", model))
        return None, None, None, None
    return kind, model, segment, condition


def _target(t: Reader, crm: str) -> CrmTarget | None:
    object_type = t.text("object", required=True)
    if object_type and object_type not in OBJECTS[crm]:
        t.error(t.at("object"), f"{crm} records are created as one of: {', '.join(OBJECTS[crm])}",
                did_you_mean(object_type, OBJECTS[crm]))
        return None
    external = t.text("external_id_field", required=True)
    fields = _fields(t, "fields", crm, object_type)
    fallback = None
    fallback_fields = ()
    if crm == "salesforce" and object_type == "Contact":
        fallback = "Lead"
        fallback_fields = _fields(t, "lead_fields", crm, "Lead")
    t.finish()
    if not t.ok or fields is None:
        return None
    return CrmTarget(object_type, external, fields, fallback, fallback_fields or ())


def _fields(t: Reader, key: str, crm: str, object_type: str | None):
    node = t.mapping(key, required=True)
    if node is None:
        return None
    rules = []
    for name, spec in node.items():
        where = t.at(key).child(name, node.key_lines.get(name, t.at(key).line))
        if isinstance(spec, str):
            rules.append(FieldRule(name, (spec,)))
        elif isinstance(spec, list) and spec and all(isinstance(s, str) for s in spec):
            rules.append(FieldRule(name, tuple(spec)))
        elif isinstance(spec, dict) and set(spec) == {"value"} and isinstance(spec["value"], (str, int, float)):
            rules.append(FieldRule(name, (), str(spec["value"])))
        else:
            t.error(where, "give our field name, a list of them (the first present value is used), "
                           "or {value: a constant}")
    missing = [f for f in REQUIRED.get((crm, object_type), ()) if f not in node]
    for name in missing:
        t.error(t.at(key), f"{crm} refuses a {object_type} without {name}; add a rule for it, e.g. "
                           f"{name}: [{'account.name, email_domain' if name == 'Company' else 'last_name, email_local'}]")
    return tuple(rules)
