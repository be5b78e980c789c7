"""Record writes of the Salesforce emulator: the per-record rules every create and update path applies.

REST API Developer Guide: "Create a Record", "Update a Record", "Status Codes and Error Responses"
(REQUIRED_FIELD_MISSING, STRING_TOO_LONG, INVALID_FIELD_FOR_INSERT_UPDATE, DUPLICATE_VALUE, ENTITY_IS_DELETED,
CANNOT_UPDATE_CONVERTED_LEAD). Object Reference "Task": WhoId is a lead or a contact ("Name ID"), WhatId a
non-person object ("Related To ID"), and a task whose WhoId is a lead has no WhatId. Object Reference "Lead":
a converted lead cannot be updated or referenced. Tooling API "CustomField" for new fields (the Metadata may
flag a field externalId, unique and caseSensitive). An error is (errorCode, message, fields).
"""
from __future__ import annotations

import re

from tests.emulators import soql
from tests.emulators.salesforce_schema import (LABELS, LENGTHS, METADATA_TYPES, READ_ONLY, REQUIRED, STANDARD,
                                               check_metadata, id18, object_of)
from tests.emulators.server import Response

SKIP = ("attributes", "Id", "id")
WHO = ("Lead", "Contact")
WHAT = ("Account",)


def create(emu, obj: str, body: dict, by: str):
    """Insert one record after every create rule; (record id, None) or (None, error)."""
    values = {k: v for k, v in body.items() if k not in ("attributes",)}
    if "Id" in values or "id" in values:
        return None, ("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
    unknown = [k for k in values if not emu.visible(obj, k)]
    if unknown:
        return None, ("INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {obj}", [unknown[0]])
    problem = check(emu, obj, values, None)
    if problem:
        return None, problem
    return emu.insert(obj, normalise(obj, values), by=by), None


def update(emu, obj: str, record_id: str, values: dict, headers: dict, by: str):
    """Apply one record's update; None on success, else an error."""
    record = emu.records.get(obj, {}).get(id18(record_id) or record_id)
    if record is None or record.get("IsDeleted"):
        return ("ENTITY_IS_DELETED" if obj in STANDARD else "INVALID_TYPE", f"entity is deleted: {record_id}", [])
    if record["Id"] in emu.fail_ids:
        return ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "rejected by a validation rule", [])
    if obj == "Lead" and record.get("IsConverted"):
        return ("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
    values = {k: v for k, v in values.items() if k not in SKIP}
    for name in values:
        if not emu.visible(obj, name):
            return ("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}. Please check the "
                    "security settings of this field and verify that it is read/write for your profile or "
                    "permission set.", [name])
    problem = check(emu, obj, values, record)
    if problem:
        return problem
    record.update(normalise(obj, values))
    record.update(SystemModstamp=emu.tick(), LastModifiedById=by) if obj != "Task" else \
        record.update(SystemModstamp=emu.tick())
    emu.applied[record["Id"]] = emu.applied.get(record["Id"], 0) + 1
    if obj == "Lead" and headers.get("sforce-auto-assign", "TRUE").upper() != "FALSE":
        emu.reassign(record)
    return None


def check(emu, obj: str, values: dict, existing: dict | None):
    """Read-only fields, value types and lengths, required fields, uniqueness and the Task lookups."""
    for name, value in values.items():
        if name in READ_ONLY:
            return ("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}. Please check the "
                    "security settings of this field and verify that it is read/write for your profile or "
                    "permission set.", [name])
        problem = check_value(emu, obj, name, value)
        if problem:
            return problem
    merged = {**(existing or {}), **values}
    missing = [f for f in REQUIRED.get(obj, ()) if merged.get(f) in (None, "")]
    if missing:
        return ("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
    problem = _unique(emu, obj, values, existing)
    if problem:
        return problem
    return check_task_links(emu, merged) if obj == "Task" else None


def check_value(emu, obj: str, name: str, value):
    ftype = emu.field_type(obj, name)
    meta = emu.custom.get((obj, name), {}).get("meta", {})
    if value is None:
        return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: a checkbox cannot be null", [name]) \
            if ftype == "boolean" else None
    if ftype in ("double", "int") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value!r}", [name])
    if ftype == "boolean" and not isinstance(value, bool):
        return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value!r}", [name])
    if ftype == "date" and not re.match(r"^\d{4}-\d{2}-\d{2}$", str(value)):
        return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: not a date: {value!r}", [name])
    if ftype == "datetime":
        try:
            soql.parse_datetime(str(value))
        except ValueError:
            return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: not a datetime: {value!r}", [name])
    limit = LENGTHS.get((obj, name)) or (int(meta.get("length", 255)) if meta and ftype in ("string", "textarea")
                                         else None)
    if limit and ftype in ("string", "textarea", "email", "url") and len(str(value)) > limit:
        return ("STRING_TOO_LONG", f"{LABELS.get(name, name)}: data value too large: {str(value)[:40]} "
                f"(max length={limit})", [name])
    if ftype == "picklist" and meta:
        allowed = [v["fullName"] for v in meta["valueSet"]["valueSetDefinition"]["value"]]
        if meta["valueSet"].get("restricted") and value not in allowed:
            return ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"{name}: bad value for restricted picklist "
                    f"field: {value}", [name])
    return None


def same_value(meta: dict, a, b) -> bool:
    """External ID and unique matching: text ignores case unless the field is case sensitive."""
    if a is None or b is None:
        return False
    if meta.get("type") == "Number":
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return str(a) == str(b) if meta.get("caseSensitive") else str(a).lower() == str(b).lower()


def _unique(emu, obj: str, values: dict, existing: dict | None):
    for name, value in values.items():
        meta = emu.custom.get((obj, name), {}).get("meta", {})
        if not meta.get("unique") or value in (None, ""):
            continue
        for other in emu.live(obj):
            if other is not existing and same_value(meta, other.get(name), value):
                return ("DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record with id: "
                        f"{other['Id']}", [name])
    return None


def check_task_links(emu, task: dict):
    """WhoId: a live lead or contact; WhatId: a live non-person record; never both a lead and a WhatId."""
    for field, label, allowed in (("WhoId", "Name ID", WHO), ("WhatId", "Related To ID", WHAT)):
        value = task.get(field)
        if value in (None, ""):
            continue
        full = id18(value)
        if full is None:
            return ("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [field])
        kind = object_of(full)
        if kind not in allowed:
            return ("FIELD_INTEGRITY_EXCEPTION", f"{label}: id value of incorrect type: {value}", [field])
        target = emu.records[kind].get(full)
        if target is None:
            return ("INVALID_CROSS_REFERENCE_KEY", f"{label}: invalid cross reference id", [field])
        if target.get("IsDeleted"):
            return ("ENTITY_IS_DELETED", f"{label}: entity is deleted", [field])
        if kind == "Lead" and target.get("IsConverted"):
            return ("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [field])
    if object_of(str(task.get("WhoId") or "")) == "Lead" and task.get("WhatId"):
        return ("FIELD_INTEGRITY_EXCEPTION", "Related To ID: You can't associate a task with a lead and a "
                "Related To record at the same time.", ["WhoId", "WhatId"])
    return None


def normalise(obj: str, values: dict) -> dict:
    """Lookups are stored in their 18-character form, as the API returns them."""
    out = dict(values)
    for name in ("WhoId", "WhatId", "AccountId"):
        if out.get(name) and id18(out[name]):
            out[name] = id18(out[name])
    return out


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, [{"message": message, "errorCode": code, "fields": []}])


def create_custom_field(emu, body: dict) -> Response:
    full, meta = body.get("FullName", ""), body.get("Metadata") or {}
    if "." not in full or not full.endswith("__c"):
        return _error(400, "INVALID_FIELD", "FullName must be Object.Name__c")
    obj, name = full.split(".", 1)
    if obj not in STANDARD and obj != "Activity":
        return _error(400, "INVALID_TYPE", f"no object {obj}")
    if (obj, name) in emu.custom:
        return _error(400, "DUPLICATE_DEVELOPER_NAME", f"duplicate value found: {full}")
    problem = check_metadata(meta)
    if problem:
        return _error(400, "FIELD_INTEGRITY_EXCEPTION", problem)
    field_id = emu.new_id("CustomField")
    emu.custom[(obj, name)] = {"id": field_id, "type": METADATA_TYPES[meta["type"]], "meta": meta}
    if obj == "Activity":  # an activity custom field is a field of Task (and Event), granted as Activity.Name__c
        emu.custom[("Task", name)] = {**emu.custom[(obj, name)], "activity": True}
    return Response(201, {"id": field_id, "success": True, "errors": []})


def tooling_rows(emu, obj: str) -> list:
    if obj != "CustomField":
        return []
    return [{"Id": info["id"], "DeveloperName": name[:-3], "TableEnumOrId": o, "FullName": f"{o}.{name}"}
            for (o, name), info in emu.custom.items() if not info.get("activity")]
