"""Associations of the HubSpot emulator.

HubSpot docs, Associations v4 guide, "Association type ID values" (HUBSPOT_DEFINED, one id per direction):
contact->company 279 (unlabeled) and 1 (primary), company->contact 280 and 2, task->contact 204, contact->task
203, task->company 192, company->task 191, task->deal 216, deal->task 215, contact->deal 4, deal->contact 3,
deal->company 341 (unlabeled) and 5 (primary), company->deal 342 and 6. A type id that does not fit the
pair of objects is a 400. Every association is stored with its reverse.
- "Associate records during creation": `associations: [{to: {id}, types: [{associationCategory, associationTypeId}]}]`.
- v4 "Associate records without a label": PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId};
  with labels: PUT /crm/v4/objects/{from}/{id}/associations/{to}/{toId} with a list of types; list:
  GET /crm/v4/objects/{from}/{id}/associations/{to} -> results [{toObjectId, associationTypes}].
- v4 "Associate records (labelled)", batch: POST /crm/v4/associations/{from}/{to}/batch/create with inputs
  [{from: {id}, to: {id}, types: [...]}]; each type is checked against the pair, a missing record is a
  per-input error (HTTP 207). HubSpot's reference states no input limit for this endpoint; the emulator holds
  it to the 100 of the other batch endpoints, so a client that stays within it works on the real API too.
  A primary contact->company association (type 1) sets the contact's `associatedcompanyid`, as HubSpot does.
- v3 "Retrieve a record" with ?associations=contacts,companies: `associations: {contacts: {results: [{id, type}]}}`.
"""
from __future__ import annotations

from tests.emulators.server import Request, Response

TYPES = {  # typeId -> (from, to, v3 type name)
    279: ("contacts", "companies", "contact_to_company_unlabeled"), 1: ("contacts", "companies", "contact_to_company"),
    280: ("companies", "contacts", "company_to_contact_unlabeled"), 2: ("companies", "contacts", "company_to_contact"),
    204: ("tasks", "contacts", "task_to_contact"), 203: ("contacts", "tasks", "contact_to_task"),
    192: ("tasks", "companies", "task_to_company"), 191: ("companies", "tasks", "company_to_task"),
    216: ("tasks", "deals", "task_to_deal"), 215: ("deals", "tasks", "deal_to_task"),
    4: ("contacts", "deals", "contact_to_deal"), 3: ("deals", "contacts", "deal_to_contact"),
    341: ("deals", "companies", "deal_to_company_unlabeled"), 5: ("deals", "companies", "deal_to_company"),
    342: ("companies", "deals", "company_to_deal_unlabeled"), 6: ("companies", "deals", "company_to_deal"),
}
PRIMARY = (1, 2, 5, 6)
REVERSE = {279: 280, 1: 2, 204: 203, 192: 191, 216: 215, 4: 3, 341: 342, 5: 6}
REVERSE.update({v: k for k, v in list(REVERSE.items())})
DEFAULT = {(f, t): i for i, (f, t, name) in TYPES.items() if name.endswith("_unlabeled") or
           (f, t) not in {("contacts", "companies"), ("companies", "contacts"), ("deals", "companies"),
                          ("companies", "deals")}}


def _fail(message: str, status: int = 400, category: str = "VALIDATION_ERROR") -> Response:
    return Response(status, {"status": "error", "message": message, "correlationId": "emulator",
                             "category": category})


def check(emu, from_type: str, specs: list) -> Response | None:
    """Validate inline associations of a create before anything is written."""
    for spec in specs or []:
        to_id = str((spec.get("to") or {}).get("id") or "")
        types = spec.get("types") or []
        if not to_id or not types:
            return _fail("each association needs to.id and types")
        for kind in types:
            problem = _check_type(emu, from_type, kind, to_id)
            if problem:
                return problem
    return None


def _check_type(emu, from_type: str, kind: dict, to_id: str, to_type: str | None = None) -> Response | None:
    type_id = kind.get("associationTypeId")
    if kind.get("associationCategory") != "HUBSPOT_DEFINED" or type_id not in TYPES:
        return _fail(f"association type {kind.get('associationCategory')}/{type_id} does not exist")
    want_from, want_to, _ = TYPES[type_id]
    if want_from != from_type or (to_type and want_to != to_type):
        return _fail(f"association type {type_id} is {want_from} to {want_to}, not {from_type} to "
                     f"{to_type or 'that record'}")
    if emu.live_record(want_to, to_id) is None:
        return _fail(f"association type {type_id} needs a {want_to} record, and {want_to} {to_id} does not exist")
    return None


def add(emu, from_type: str, from_id: str, to_id: str, type_id: int) -> None:
    to_type = TYPES[type_id][1]
    for row in ((from_type, from_id, to_type, to_id, type_id), (to_type, to_id, from_type, from_id, REVERSE[type_id])):
        if row not in emu.associations:
            emu.associations.append(row)


def create_inline(emu, from_type: str, from_id: str, specs: list) -> None:
    for spec in specs or []:
        for kind in spec["types"]:
            add(emu, from_type, from_id, str(spec["to"]["id"]), kind["associationTypeId"])


def linked(emu, from_type: str, from_id: str, to_type: str) -> list[tuple]:
    return [a for a in emu.associations if a[0] == from_type and a[1] == from_id and a[2] == to_type]


def v3_view(emu, object_type: str, record_id: str, names: str) -> dict:
    """The `associations` member of a v3 GET: only object types that have associations appear."""
    out = {}
    for to_type in [n.strip() for n in names.split(",") if n.strip()]:
        rows = [{"id": a[3], "type": TYPES[a[4]][2]} for a in linked(emu, object_type, record_id, to_type)]
        if rows:
            out[to_type] = {"results": rows}
    return out


def handle_v4(emu, req: Request, parts: list) -> Response:
    """parts: what follows /crm/v4/objects/."""
    if len(parts) < 4 or parts[2] != "associations":
        return _fail("no such association route", 404, "OBJECT_NOT_FOUND")
    from_type, from_id = parts[0], parts[1]
    if emu.live_record(from_type, from_id) is None:
        return _fail(f"{from_type} {from_id} does not exist", 404, "OBJECT_NOT_FOUND")
    if req.method == "GET" and len(parts) == 4:
        grouped: dict = {}
        for a in linked(emu, from_type, from_id, parts[3]):
            grouped.setdefault(a[3], []).append({"category": "HUBSPOT_DEFINED", "typeId": a[4],
                                                 "label": "Primary" if a[4] in PRIMARY else None})
        return Response(200, {"results": [{"toObjectId": int(k), "associationTypes": v} for k, v in grouped.items()]})
    if req.method == "PUT" and len(parts) == 6 and parts[3] == "default":
        to_type, to_id = parts[4], parts[5]
        type_id = DEFAULT.get((from_type, to_type))
        if type_id is None:
            return _fail(f"{from_type} cannot be associated with {to_type}")
        problem = _check_type(emu, from_type, {"associationCategory": "HUBSPOT_DEFINED",
                                               "associationTypeId": type_id}, to_id, to_type)
        if problem:
            return problem
        add(emu, from_type, from_id, to_id, type_id)
        results = [{"from": {"id": f}, "to": {"id": t}, "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                                                             "associationTypeId": i}}
                   for f, t, i in ((from_id, to_id, type_id), (to_id, from_id, REVERSE[type_id]))]
        return Response(200, {"status": "COMPLETE", "results": results, "startedAt": emu.now(),
                              "completedAt": emu.now()})
    if req.method == "PUT" and len(parts) == 5:
        to_type, to_id = parts[3], parts[4]
        kinds = req.json() or []
        for kind in kinds:
            problem = _check_type(emu, from_type, kind, to_id, to_type)
            if problem:
                return problem
        for kind in kinds:
            add(emu, from_type, from_id, to_id, kind["associationTypeId"])
        return Response(201, {"fromObjectTypeId": from_type, "fromObjectId": int(from_id), "toObjectTypeId": to_type,
                              "toObjectId": int(to_id), "labels": []})
    return _fail("no such association route", 404, "OBJECT_NOT_FOUND")


def handle_v4_batch(emu, req: Request, parts: list) -> Response:
    """parts: what follows /crm/v4/associations/ - {from}/{to}/batch/create."""
    if req.method != "POST" or len(parts) != 4 or parts[2:] != ["batch", "create"]:
        return _fail("no such association route", 404, "OBJECT_NOT_FOUND")
    from_type, to_type = parts[0], parts[1]
    inputs = (req.json() or {}).get("inputs") or []
    if len(inputs) > 100:
        return _fail("Batch input size must be at most 100")
    for item in inputs:
        if not (item.get("from") or {}).get("id") or not (item.get("to") or {}).get("id") or not item.get("types"):
            return _fail("each input needs from.id, to.id and types")
        for kind in item["types"]:
            type_id = kind.get("associationTypeId")
            if kind.get("associationCategory") != "HUBSPOT_DEFINED" or TYPES.get(type_id, ())[:2] != (from_type, to_type):
                return _fail(f"association type {kind.get('associationCategory')}/{type_id} is not one of "
                             f"{from_type} to {to_type}")
    results, errors = [], []
    for item in inputs:
        from_id, to_id = str(item["from"]["id"]), str(item["to"]["id"])
        missing = [f"{t} {i}" for t, i in ((from_type, from_id), (to_type, to_id)) if emu.live_record(t, i) is None]
        if missing:
            errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"{missing[0]} not found",
                           "context": {"ids": [from_id]}, "errors": [], "links": {}})
            continue
        for kind in item["types"]:
            add(emu, from_type, from_id, to_id, kind["associationTypeId"])
            if kind["associationTypeId"] == 1:
                emu.live_record(from_type, from_id)["properties"]["associatedcompanyid"] = to_id
        results.append({"fromObjectTypeId": from_type, "fromObjectId": int(from_id), "toObjectTypeId": to_type,
                        "toObjectId": int(to_id), "labels": ["Primary"] if any(
                            k["associationTypeId"] in PRIMARY for k in item["types"]) else []})
    body = {"status": "COMPLETE", "results": results, "startedAt": emu.now(), "completedAt": emu.now()}
    if errors:
        body.update(errors=errors, numErrors=len(errors))
    return Response(207 if errors else 201, body)


def move(emu, old_ids: set, new_id: str) -> None:
    """After a merge, the merged records' associations belong to the surviving record."""
    moved = []
    for a in emu.associations:
        a = (a[0], new_id if a[1] in old_ids else a[1], a[2], new_id if a[3] in old_ids else a[3], a[4])
        if a not in moved:
            moved.append(a)
    emu.associations[:] = moved
