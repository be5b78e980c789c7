"""Creates, upserts, merges and archiving in the HubSpot emulator.

HubSpot docs:
- CRM "Contacts" guide: a contact's email is unique; creating (or setting) an email another contact has is a 409
  CONFLICT "Contact already exists. Existing ID: {id}". Properties with `hasUniqueValue` (CRM "Properties":
  unique identifier properties) refuse a value another record has, also with 409.
- "Batch": POST .../batch/create (at most 100 inputs, 201, validated as a whole); POST .../batch/upsert with
  inputs [{idProperty, id, properties}], where idProperty is a unique-value property (or email for contacts):
  matched records are updated, others created with idProperty = id; each result carries `new`.
- "Merge two contacts" / "Merge two objects with same type" (POST /crm/v3/objects/{type}/merge
  {primaryObjectId, objectIdToMerge}); Developer Changelog "Updated merge functionality for contacts and
  companies": the merge makes a new record with a new id, both old ids then lead to it, the primary's values
  win; hs_merged_object_ids lists the merged ids (`merge_new_id=False` keeps the primary's id, the older way).
- "Archive" (DELETE /crm/v3/objects/{type}/{id} -> 204): an archived record is a 404 unless asked for with
  ?archived=true, and leaves search.
- "Permanently delete a contact (GDPR-compliant)" (POST /crm/v3/objects/contacts/gdpr-delete {objectId,
  idProperty}): the contact and its associations are gone for good: no archived copy, every read is a 404.
- "List" (GET /crm/v3/objects/{type}?limit=&after=&properties=&archived=): at most 100 a page, in id order,
  paging.next.after to go on; archived=true lists only archived records (the recycling bin), with archivedAt.
"""
from __future__ import annotations

import re

from tests.emulators import hubspot_associations as assoc
from tests.emulators.server import Response

READ_ONLY = ("hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_merged_object_ids")
BATCH_LIMIT = 100


def _fail(status: int, category: str, message: str) -> Response:
    return Response(status, {"status": "error", "message": message, "correlationId": "emulator",
                             "category": category})


def unique_names(emu, object_type: str) -> list[str]:
    names = [n for n, p in emu.properties[object_type].items() if p.get("hasUniqueValue")]
    return (["email"] if object_type == "contacts" else []) + names


def _same(name: str, a, b) -> bool:
    return a is not None and b is not None and (str(a).lower() == str(b).lower() if name == "email" else
                                                str(a) == str(b))


def conflict(emu, object_type: str, properties: dict, record_id: str | None, pending=()) -> Response | None:
    """409 when a unique value is taken by another live record (or by an earlier input of the same batch)."""
    for name in unique_names(emu, object_type):
        value = properties.get(name)
        if value in (None, ""):
            continue
        for other in list(emu.live(object_type)) + list(pending):
            if other["id"] != record_id and _same(name, other["properties"].get(name), value):
                if name == "email":
                    return _fail(409, "CONFLICT", f"Contact already exists. Existing ID: {other['id']}")
                return _fail(409, "CONFLICT", f"A {object_type[:-1]} with {name} = {value} already exists. "
                             f"Existing ID: {other['id']}")
    return None


def check_properties(emu, object_type: str, properties: dict) -> Response | None:
    for name, value in properties.items():
        if not emu.known(object_type, name):
            return _fail(400, "VALIDATION_ERROR", f'Property "{name}" does not exist (PROPERTY_DOESNT_EXIST)')
        if name in READ_ONLY:
            return _fail(400, "VALIDATION_ERROR", f"{name} is a read only property; its value cannot be set. "
                         "(READ_ONLY_VALUE)")
        problem = check_value(emu, object_type, name, value)
        if problem:
            return _fail(400, "VALIDATION_ERROR", problem)
    return None


def check_create(emu, object_type: str, body: dict, pending=()) -> Response | None:
    properties = body.get("properties") or {}
    if object_type == "tasks" and not properties.get("hs_timestamp"):
        return _fail(400, "VALIDATION_ERROR", "hs_timestamp is required")
    return (check_properties(emu, object_type, properties) or conflict(emu, object_type, properties, None, pending)
            or assoc.check(emu, object_type, body.get("associations")))


def create(emu, object_type: str, body: dict) -> Response:
    problem = check_create(emu, object_type, body)
    if problem:
        return problem
    record_id = emu.insert(object_type, body.get("properties") or {})
    assoc.create_inline(emu, object_type, record_id, body.get("associations"))
    record = emu.objects[object_type][record_id]
    return Response(201, emu.public(record, list(record["properties"])))


def batch_create(emu, object_type: str, body: dict) -> Response:
    inputs = body.get("inputs") or []
    if len(inputs) > BATCH_LIMIT:
        return _fail(400, "VALIDATION_ERROR", f"Batch input size must be at most {BATCH_LIMIT}")
    pending = []
    for item in inputs:
        problem = check_create(emu, object_type, item, pending)
        if problem:
            return problem
        pending.append({"id": f"input {len(pending)}", "properties": item.get("properties") or {}})
    started, results = emu.now(), []
    for item in inputs:
        record_id = emu.insert(object_type, item.get("properties") or {})
        assoc.create_inline(emu, object_type, record_id, item.get("associations"))
        record = emu.objects[object_type][record_id]
        results.append(emu.public(record, list(record["properties"])))
    return Response(201, {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": emu.now()})


def batch_upsert(emu, object_type: str, body: dict) -> Response:
    inputs = body.get("inputs") or []
    if len(inputs) > BATCH_LIMIT:
        return _fail(400, "VALIDATION_ERROR", f"Batch input size must be at most {BATCH_LIMIT}")
    allowed = unique_names(emu, object_type)
    keys = []
    for item in inputs:
        prop, value = item.get("idProperty"), item.get("id")
        if prop not in allowed:
            return _fail(400, "VALIDATION_ERROR", f"idProperty {prop!r} is not a unique-value property of "
                         f"{object_type}")
        if value in (None, ""):
            return _fail(400, "VALIDATION_ERROR", "every input needs an id")
        keys.append((prop, str(value).lower() if prop == "email" else str(value)))
    if len(set(keys)) != len(keys):
        return _fail(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
    plan = []
    for item in inputs:
        prop, value, properties = item["idProperty"], str(item["id"]), item.get("properties") or {}
        match = next((r for r in emu.live(object_type) if _same(prop, r["properties"].get(prop), value)), None)
        full = {**properties, prop: value}
        problem = (check_properties(emu, object_type, properties) or
                   conflict(emu, object_type, full, match["id"] if match else None))
        if problem:
            return problem
        if match is None and object_type == "tasks" and not full.get("hs_timestamp"):
            return _fail(400, "VALIDATION_ERROR", "hs_timestamp is required")
        plan.append((match, full))
    started, results = emu.now(), []
    for match, full in plan:
        if match is None:
            record = emu.objects[object_type][emu.insert(object_type, full)]
        else:
            emu._apply(object_type, match, full)
            record = match
        results.append({**emu.public(record, list(full)), "new": match is None})
    return Response(200, {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": emu.now()})


def gdpr_delete(emu, object_type: str, body: dict) -> Response:
    wanted = str(body.get("objectId") or "")
    if body.get("idProperty") == "email":
        record = next((r for r in emu.live(object_type) if _same("email", r["properties"].get("email"), wanted)), None)
    else:
        record = emu.live_record(object_type, wanted, archived=True)
    if record is None:
        return _fail(404, "OBJECT_NOT_FOUND", f"{object_type} {wanted} not found")
    del emu.objects[object_type][record["id"]]
    emu.associations[:] = [a for a in emu.associations if record["id"] not in (a[1], a[3])]
    return Response(204)


def list_page(emu, object_type: str, query: dict) -> Response:
    try:
        limit, after = int(query.get("limit") or 10), int(query.get("after") or 0)
    except ValueError:
        return _fail(400, "VALIDATION_ERROR", "limit and after must be integers")
    if not 1 <= limit <= 100:
        return _fail(400, "VALIDATION_ERROR", "limit must be between 1 and 100")
    archived = str(query.get("archived")).lower() == "true"  # the Python SDK sends "True"
    names = [n for n in (query.get("properties") or "").split(",") if n]
    rows = sorted((r for r in emu.objects[object_type].values()
                   if bool(r.get("archived")) == archived and int(r["id"]) > after), key=lambda r: int(r["id"]))
    body = {"results": [emu.public(r, names) for r in rows[:limit]]}
    if len(rows) > limit:
        body["paging"] = {"next": {"after": rows[limit - 1]["id"]}}
    return Response(200, body)


def merge(emu, object_type: str, body: dict) -> Response:
    primary_id, other_id = str(body.get("primaryObjectId") or ""), str(body.get("objectIdToMerge") or "")
    if not primary_id or not other_id:
        return _fail(400, "VALIDATION_ERROR", "primaryObjectId and objectIdToMerge are required")
    primary, other = emu.live_record(object_type, primary_id), emu.live_record(object_type, other_id)
    if primary is None or other is None:
        return _fail(404, "OBJECT_NOT_FOUND", f"{object_type} {primary_id if primary is None else other_id} "
                     "does not exist")
    if primary is other:
        return _fail(400, "VALIDATION_ERROR", "An object cannot be merged with itself")
    merged_ids = set()
    for record in (primary, other):
        merged_ids |= set(filter(None, (record["properties"].get("hs_merged_object_ids") or "").split(";")))
    values = {k: v for k, v in other["properties"].items() if v is not None}
    values.update({k: v for k, v in primary["properties"].items() if v is not None})
    if object_type == "contacts" and other["properties"].get("email") and \
            not _same("email", other["properties"]["email"], primary["properties"].get("email")):
        values["hs_additional_emails"] = ";".join(filter(None, [primary["properties"].get("hs_additional_emails"),
                                                                other["properties"]["email"]]))
    for record in (primary, other):
        emu.archive_record(object_type, record, keep_associations=True)
    if emu.merge_new_id:
        merged_ids |= {primary["id"], other["id"]}
        survivor = emu.objects[object_type][emu.insert(object_type, {k: v for k, v in values.items()
                                                                     if k not in READ_ONLY})]
    else:
        merged_ids.add(other["id"])
        survivor = primary
        survivor.update(archived=False)
        survivor.pop("archivedAt", None)
        emu._apply(object_type, survivor, {k: v for k, v in values.items() if k not in READ_ONLY})
    survivor["properties"]["hs_merged_object_ids"] = ";".join(sorted(merged_ids - {survivor["id"]}, key=int))
    emu.index(survivor)
    for old in (primary["id"], other["id"]):
        if old != survivor["id"]:
            emu.alias(object_type, old, survivor["id"])
    assoc.move(emu, {primary["id"], other["id"]}, survivor["id"])
    return Response(200, emu.public(survivor, list(survivor["properties"])))


def check_value(emu, object_type: str, name: str, value) -> str | None:
    prop = emu.properties[object_type].get(name)
    if prop is None or value == "":
        return None
    text, kind = str(value), prop["type"]
    if kind == "number" and not re.match(r"^-?\d+(\.\d+)?$", text):
        return f"{text} was not a valid number for {name} (INVALID_INTEGER)"
    if kind == "bool" and text not in ("true", "false"):
        return f"{text} is not a valid boolean for {name} (INVALID_BOOLEAN)"
    if kind == "date" and not (re.match(r"^\d{4}-\d{2}-\d{2}$", text) or text.isdigit()):
        return f"{text} is not a valid date for {name} (INVALID_DATE)"
    if kind == "datetime" and not (re.match(r"^\d{4}-\d{2}-\d{2}T", text) or text.isdigit()):
        return f"{text} is not a valid datetime for {name} (INVALID_DATETIME)"
    if kind == "enumeration" and text not in [o["value"] for o in prop["options"]]:
        return f"{text} was not one of the allowed options for {name} (INVALID_OPTION)"
    if kind == "string" and len(text) > 65536:
        return f"{name} is too long"
    return None
