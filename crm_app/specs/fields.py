"""Field specs: one custom CRM field per score value, with its API name per CRM."""
from __future__ import annotations

import re
from dataclasses import dataclass

from crm_app.errors import ErrorCollector
from crm_app.specs.reader import Reader, Where, item_where

FIELD_TYPES = ("number", "boolean", "date", "datetime", "text", "long_text", "picklist")
# What a field can show: a value of the model's result.
RESULT_VALUES = ("fit", "behaviour", "combined", "band", "pql", "pql_since", "pql_first_at", "activation",
                 "last_activity", "days_inactive", "reasons", "segment", "model_score")
SALESFORCE_OBJECTS = ("Lead", "Contact", "Account")
HUBSPOT_OBJECTS = ("contacts", "companies")
_SF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")
_HS_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class FieldSpec:
    """A custom field the service provisions and writes one result value into."""

    key: str  # unique id of the spec
    model: str
    value: str  # one of RESULT_VALUES
    label: str
    type: str
    options: tuple = ()
    length: int | None = None
    salesforce_objects: tuple = ()
    salesforce_name: str | None = None
    hubspot_object: str | None = None
    hubspot_name: str | None = None
    sandbox_column: str | None = None
    source: str = ""


def parse_field_specs(doc, file: str, errors: ErrorCollector) -> list[FieldSpec]:
    """One field-spec file -> FieldSpecs; every problem is recorded."""
    r = Reader(doc, Where(file, getattr(doc, "line", 1), ""), errors, "a field spec file")
    items = r.sequence("fields", required=True) or []
    r.finish(["fields"])
    specs = []
    for i, item in enumerate(items):
        spec = _parse_one(item, item_where(r.at("fields"), items, i), errors)
        if spec:
            specs.append(spec)
    return specs


def _parse_one(node, where: Where, errors: ErrorCollector) -> FieldSpec | None:
    r = Reader(node, where, errors, "a field spec")
    key = r.text("key", required=True)
    model = r.text("model", required=True)
    value = r.choice("value", RESULT_VALUES, required=True)
    label = r.text("label", required=True)
    ftype = r.choice("type", FIELD_TYPES, required=True)
    options = r.sequence("options") or []
    length = r.number("length", default=None, minimum=1, maximum=131072)
    sf = r.mapping("salesforce")
    hs = r.mapping("hubspot")
    sandbox = r.text("sandbox_column", default=None)
    r.finish()
    if ftype == "picklist" and not options:
        r.error(r.at("type"), "a picklist needs 'options:', the values it may hold")
    sf_objects, sf_name = (), None
    if sf is not None:
        s = Reader(sf, r.at("salesforce"), errors)
        sf_objects = tuple(s.sequence("objects", required=True) or ())
        sf_name = s.text("api_name", required=True)
        s.finish()
        for obj in sf_objects:
            if obj not in SALESFORCE_OBJECTS:
                s.error(s.at("objects"), f"{obj!r} is not one of: {', '.join(SALESFORCE_OBJECTS)}")
        if sf_name and not _SF_NAME.match(sf_name):
            s.error(s.at("api_name"), f"'{sf_name}' is not a custom field API name; it must end in __c, "
                    "such as PQL_Score__c")
        r.ok = r.ok and s.ok
    hs_object, hs_name = None, None
    if hs is not None:
        h = Reader(hs, r.at("hubspot"), errors)
        hs_object = h.choice("object", HUBSPOT_OBJECTS, required=True)
        hs_name = h.text("name", required=True)
        h.finish()
        if hs_name and not _HS_NAME.match(hs_name):
            h.error(h.at("name"), f"'{hs_name}' must be lowercase letters, digits and _ (HubSpot internal name)")
        r.ok = r.ok and h.ok
    if not r.ok:
        return None
    return FieldSpec(key=key, model=model, value=value, label=label, type=ftype,
                     options=tuple(str(o) for o in options), length=int(length) if length else None,
                     salesforce_objects=sf_objects, salesforce_name=sf_name, hubspot_object=hs_object,
                     hubspot_name=hs_name, sandbox_column=sandbox or key, source=f"{where.file}:{where.line}")
