"""sObject Collections and upserts by external ID for the Salesforce emulator.

REST API Developer Guide:
- "sObject Collections": create (POST /composite/sobjects), update (PATCH /composite/sobjects), delete
  (DELETE /composite/sobjects?ids=), and upsert (PATCH /composite/sobjects/{Object}/{ExternalIdField}, API 46.0+):
  at most 200 records, every record with attributes.type, results in request order; allOrNone rolls every
  record back when one fails (the others report ALL_OR_NONE_OPERATION_ROLLED_BACK). An upsert's records
  carry the external ID field and no id; two records with the same external ID value both fail.
- "Insert or Update (Upsert) a Record Using an External ID" (PATCH /sobjects/{Object}/{Field}/{value}):
  no match creates (201 {id, success, errors, created: true}); one match updates (200 with created: false
  from API 46.0, 204 before); several matches answer 300 with the matching records' URLs; a field that does
  not exist or is not accessible is 404 NOT_FOUND; updateOnly=true refuses to create.
"""
from __future__ import annotations

from urllib.parse import unquote

from tests.emulators import salesforce_writes as writes
from tests.emulators.salesforce_schema import STANDARD, id18
from tests.emulators.server import Request, Response

COLLECTION_LIMIT = 200
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all "
               "records were valid and the request was using AllOrNone header", "fields": []}


def _error(status: int, code: str, message: str, fields=()) -> Response:
    return Response(status, [{"message": message, "errorCode": code, "fields": list(fields)}])


def _as_error(problem) -> dict:
    return {"statusCode": problem[0], "message": problem[1], "fields": list(problem[2])}


def handle_collection(emu, req: Request, parts: list, by: str) -> Response:
    """parts: what follows composite/sobjects."""
    if req.method == "DELETE" and not parts:
        ids = [i for i in (req.query.get("ids") or "").split(",") if i]
        return _run(emu, ids, req.query.get("allOrNone", "false").lower() == "true", lambda i: _delete(emu, i))
    body = req.json() or {}
    records = body.get("records")
    if not isinstance(records, list):
        return _error(400, "JSON_PARSER_ERROR", "records is required")
    if len(records) > COLLECTION_LIMIT:
        return _error(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {COLLECTION_LIMIT} "
                      "records into this call")
    all_or_none = bool(body.get("allOrNone"))
    if req.method == "POST" and not parts:
        return _run(emu, records, all_or_none, lambda r: _create(emu, r, by))
    if req.method == "PATCH" and not parts:
        return _run(emu, records, all_or_none, lambda r: _update(emu, r, req.headers, by))
    if req.method == "PATCH" and len(parts) == 2:
        obj, field = parts
        problem = external_field_problem(emu, obj, field)
        if problem:
            return problem
        seen: dict = {}
        for record in records:
            key = str(record.get(field)).lower()
            seen[key] = seen.get(key, 0) + 1
        return _run(emu, records, all_or_none, lambda r: _upsert_one(emu, obj, field, r, seen, req.headers, by))
    return _error(404, "NOT_FOUND", "The requested resource does not exist")


def _run(emu, items: list, all_or_none: bool, apply) -> Response:
    """Apply each item in order; with allOrNone, undo everything when one fails."""
    saved = ({obj: {k: dict(v) for k, v in emu.records[obj].items()} for obj in STANDARD}, dict(emu.applied),
             dict(emu.deleted_at)) if all_or_none else None
    results = [apply(item) for item in items]
    if saved and any(not r["success"] for r in results):
        for obj, rows in saved[0].items():
            emu.records[obj] = rows
        emu.applied, emu.deleted_at = saved[1], saved[2]
        results = [_rolled_back(r) if r["success"] else r for r in results]
    for r in results:
        r.pop("new", None)
    return Response(200, results)


def _rolled_back(result: dict) -> dict:
    out = {"success": False, "errors": [ROLLED_BACK]}
    if result.get("id") and not result.get("new") and not result.get("created"):
        out = {"id": result["id"], **out}
    if "created" in result:
        out = {"id": out.get("id"), **out, "created": False}
    return out


def _typed(record: dict):
    obj = (record.get("attributes") or {}).get("type")
    if not obj or obj not in STANDARD:
        return None, ("INVALID_TYPE", "attributes.type is required and must name an sObject", [])
    return obj, None


def _create(emu, record: dict, by: str) -> dict:
    obj, problem = _typed(record)
    if not problem:
        record_id, problem = writes.create(emu, obj, record, by)
        if not problem:
            return {"id": record_id, "success": True, "errors": [], "new": True}
    return {"success": False, "errors": [_as_error(problem)]}


def _update(emu, record: dict, headers: dict, by: str) -> dict:
    obj, problem = _typed(record)
    if not problem and not record.get("id"):
        problem = ("MISSING_ARGUMENT", "id is required for an update", ["Id"])
    if not problem:
        problem = writes.update(emu, obj, record["id"], record, headers, by)
    out = {"id": record.get("id"), "success": problem is None, "errors": [] if problem is None else
           [_as_error(problem)]}
    return out if record.get("id") else {k: v for k, v in out.items() if k != "id"}


def _delete(emu, record_id: str) -> dict:
    from tests.emulators.salesforce_lifecycle import delete
    problem = delete(emu, record_id)
    return {"id": record_id, "success": problem is None, "errors": [] if problem is None else [_as_error(problem)]}


def _upsert_one(emu, obj: str, field: str, record: dict, seen: dict, headers: dict, by: str) -> dict:
    if (record.get("attributes") or {}).get("type") != obj:
        problem = ("INVALID_TYPE", f"every record must have attributes.type {obj}", [])
    elif "Id" in record or "id" in record:
        problem = ("INVALID_FIELD", "Don't set the id field: upserts match on the external ID field", ["Id"])
    elif record.get(field) in (None, ""):
        problem = ("MISSING_ARGUMENT", f"{field} not specified", [field])
    elif seen.get(str(record[field]).lower(), 0) > 1:
        problem = ("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {record[field]}", [field])
    else:
        values = {k: v for k, v in record.items() if k != "attributes"}
        status, body = upsert(emu, obj, field, str(record[field]), values, headers, by)
        if status in (200, 201):
            return {"id": body["id"], "success": True, "errors": [], "created": status == 201}
        problem = ("DUPLICATE_EXTERNAL_ID", f"{field}: more than one record found for external id field: "
                   f"{body}", [field]) if status == 300 else body
    return {"id": None, "success": False, "errors": [_as_error(problem)], "created": False}


def external_field_problem(emu, obj: str, field: str) -> Response | None:
    if obj not in STANDARD:
        return _error(404, "NOT_FOUND", "The requested resource does not exist")
    if not emu.visible(obj, field):
        return _error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field}")
    if not emu.custom.get((obj, field), {}).get("meta", {}).get("externalId"):
        return _error(400, "INVALID_FIELD", f"Field {field} is not an external ID field on {obj}", [field])
    return None


def upsert(emu, obj: str, field: str, value: str, values: dict, headers: dict, by: str):
    """(201, {id}) created, (200, {id}) updated, (300, [urls]) several matches, else (400, error tuple)."""
    meta = emu.custom[(obj, field)]["meta"]
    found = [r for r in emu.live(obj) if writes.same_value(meta, r.get(field), value)]
    if len(found) > 1:
        return 300, [f"/services/data/v{emu.version}/sobjects/{obj}/{r['Id']}" for r in found]
    if found:
        changes = {k: v for k, v in values.items() if k != field}
        problem = writes.update(emu, obj, found[0]["Id"], changes, headers, by)
        return (400, problem) if problem else (200, {"id": found[0]["Id"]})
    typed = float(value) if meta.get("type") == "Number" else value
    record_id, problem = writes.create(emu, obj, {**values, field: typed}, by)
    return (400, problem) if problem else (201, {"id": record_id})


def handle_upsert(emu, req: Request, obj: str, field: str, raw_value: str, by: str) -> Response:
    problem = external_field_problem(emu, obj, field)
    if problem:
        return problem
    body = req.json() or {}
    if "Id" in body or "id" in body:
        return _error(400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Id is not allowed in an upsert body", ["Id"])
    value = unquote(raw_value)
    if req.query.get("updateOnly", "").lower() == "true":
        meta = emu.custom[(obj, field)]["meta"]
        if not any(writes.same_value(meta, r.get(field), value) for r in emu.live(obj)):
            return _error(404, "NOT_FOUND", f"No {obj} matches {field} = {value}")
    status, result = upsert(emu, obj, field, value, body, req.headers, by)
    if status == 300:
        return Response(300, result)
    if status == 400:
        return _error(400, result[0], result[1], result[2])
    if status == 200 and emu.version_number < 46:
        return Response(204)
    out = {"id": result["id"], "success": True, "errors": []}
    if emu.version_number >= 46:
        out["created"] = status == 201
    return Response(status, out, {"Location": f"/services/data/v{emu.version}/sobjects/{obj}/{result['id']}"}
                    if status == 201 else {})


__all__ = ["handle_collection", "handle_upsert", "id18"]
