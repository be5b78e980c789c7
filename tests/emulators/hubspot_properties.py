"""Properties and property groups of the HubSpot emulator (CRM API "Properties", see hubspot.py).

`hasUniqueValue: true` makes a unique identifier property (no two records may share a value; usable as a
batch/upsert idProperty); it is fixed at creation and only string and number properties may have it.
"""
from __future__ import annotations

from tests.emulators.hubspot import _NAME, PAIRS, STANDARD, fail, iso
from tests.emulators.server import Request, Response


def handle_properties(emu, req: Request, parts: list) -> Response:
    if not parts or parts[0] not in STANDARD:
        return fail(404, "OBJECT_NOT_FOUND", "unknown object type")
    object_type = parts[0]
    if parts[1:2] == ["groups"]:
        return _groups(emu, req, object_type, parts[2:])
    props = emu.properties[object_type]
    if len(parts) == 1 and req.method == "GET":
        return Response(200, {"results": list(props.values())})
    if len(parts) == 1 and req.method == "POST":
        return _create(emu, object_type, req.json() or {})
    if len(parts) == 2 and req.method == "GET":
        if parts[1] in props:
            return Response(200, props[parts[1]])
        if parts[1] in STANDARD[object_type]:
            prop = _property(parts[1], parts[1], "string", "text", "contactinformation", [], emu)
            prop["hasUniqueValue"] = parts[1] == "email"
            return Response(200, prop)
        return fail(404, "OBJECT_NOT_FOUND", f"Property {parts[1]} does not exist")
    return fail(404, "OBJECT_NOT_FOUND", "no such properties route")


def _property(name, label, kind, field_type, group, options, emu) -> dict:
    return {"name": name, "label": label, "type": kind, "fieldType": field_type, "groupName": group,
            "description": "", "options": options, "createdAt": iso(emu.clock), "updatedAt": iso(emu.clock),
            "hidden": False, "formField": False, "calculated": False, "externalOptions": False,
            "hasUniqueValue": False, "displayOrder": -1}


def _create(emu, object_type: str, body: dict) -> Response:
    name, kind, field_type = body.get("name") or "", body.get("type"), body.get("fieldType")
    if not _NAME.match(name):
        return fail(400, "VALIDATION_ERROR", f"Property name {name!r} must be lowercase letters, digits and _")
    if name in emu.properties[object_type] or name in STANDARD[object_type]:
        return fail(409, "CONFLICT", f"A property named '{name}' already exists.")
    if (kind, field_type) not in PAIRS:
        return fail(400, "VALIDATION_ERROR", f"type {kind} cannot have fieldType {field_type}")
    if body.get("groupName") not in emu.groups[object_type]:
        return fail(400, "VALIDATION_ERROR", f"property group {body.get('groupName')} does not exist")
    if not body.get("label"):
        return fail(400, "VALIDATION_ERROR", "label is required")
    options = [{"label": o["label"], "value": o["value"], "displayOrder": o.get("displayOrder", i),
                "hidden": bool(o.get("hidden", False))} for i, o in enumerate(body.get("options") or [])]
    if kind == "enumeration" and not options:
        return fail(400, "VALIDATION_ERROR", "an enumeration needs options")
    unique = body.get("hasUniqueValue", False)
    if not isinstance(unique, bool) or (unique and kind not in ("string", "number")):
        return fail(400, "VALIDATION_ERROR", "hasUniqueValue is a boolean, allowed on string and number properties")
    if unique and sum(1 for p in emu.properties[object_type].values() if p["hasUniqueValue"]) >= 10:
        return fail(400, "VALIDATION_ERROR", "an object can have at most 10 unique value properties")
    prop = _property(name, body["label"], kind, field_type, body["groupName"], options, emu)
    prop["hasUniqueValue"] = unique
    emu.properties[object_type][name] = prop
    return Response(201, prop)


def _groups(emu, req: Request, object_type: str, rest: list) -> Response:
    groups = emu.groups[object_type]
    if not rest and req.method == "POST":
        body = req.json() or {}
        if body.get("name") in groups:
            return fail(409, "CONFLICT", f"group {body.get('name')} exists")
        if not body.get("name") or not body.get("label"):
            return fail(400, "VALIDATION_ERROR", "name and label are required")
        groups[body["name"]] = {"name": body["name"], "label": body["label"],
                                "displayOrder": body.get("displayOrder", -1), "archived": False}
        return Response(201, groups[body["name"]])
    if len(rest) == 1 and req.method == "GET":
        if rest[0] in groups:
            return Response(200, groups[rest[0]])
        return fail(404, "OBJECT_NOT_FOUND", f"group {rest[0]} does not exist")
    return fail(404, "OBJECT_NOT_FOUND", "no such groups route")
