"""HubSpot CRM v3 emulator: objects, batch, search, properties, owners, tasks, associations v4.

Sources (developers.hubspot.com, API reference and guides):
- CRM API "Contacts" / "Companies" (v3 objects): SimplePublicObject {id, properties, createdAt, updatedAt,
  archived}; property values are strings; "" clears a value.
- "Batch" endpoints: POST /crm/v3/objects/{type}/batch/update|read take at most 100 inputs; a partial failure is
  HTTP 207 with `errors[]` (status, category, message, context.ids) next to `results`.
- CRM API "Search": POST /crm/v3/objects/{type}/search, filterGroups/filters/sorts/properties/limit/after,
  at most 200 results a page and 10,000 results per query (past that the API answers 400); contacts carry
  lastmodifieddate and companies hs_lastmodifieddate.
- CRM API "Properties": GET/POST /crm/v3/properties/{type}, GET /crm/v3/properties/{type}/{name} (404 when
  missing, 409 on a duplicate create), property groups under /groups; valid type/fieldType pairs are
  number/number, bool/booleancheckbox, enumeration/select, date/date, datetime/date, string/text|textarea.
- CRM API "Owners": GET /crm/v3/owners/ with limit/after paging.
- Engagements "Tasks": POST /crm/v3/objects/tasks, hs_timestamp required; associations inline with
  associationCategory HUBSPOT_DEFINED and associationTypeId (204 task->contact, 192 task->company).
- Associations v4: PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}.
- "API usage guidelines and limits": 429 with Retry-After; X-HubSpot-RateLimit-* headers on every answer.
"""
from __future__ import annotations

import itertools
import re
import threading
from datetime import datetime, timedelta, timezone

from tests.emulators.server import Request, Response

TOKEN = "pat-emulator-token"
BATCH_LIMIT = 100
SEARCH_PAGE = 200
SEARCH_CAP = 10_000
PAIRS = {("number", "number"), ("bool", "booleancheckbox"), ("enumeration", "select"), ("date", "date"),
         ("datetime", "date"), ("string", "text"), ("string", "textarea")}
STANDARD = {
    "contacts": ("email", "firstname", "lastname", "jobtitle", "country", "associatedcompanyid", "hubspot_owner_id",
                 "lastmodifieddate", "createdate", "hs_object_id"),
    "companies": ("name", "domain", "industry", "numberofemployees", "country", "hubspot_owner_id",
                  "hs_lastmodifieddate", "createdate", "hs_object_id"),
    "tasks": ("hs_timestamp", "hs_task_subject", "hs_task_body", "hubspot_owner_id", "hs_task_status",
              "hs_task_priority", "hs_task_type", "hs_lastmodifieddate", "createdate", "hs_object_id"),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_OBJ = re.compile(r"^/crm/v3/objects/(?P<type>\w+)(?P<rest>/.*)?$")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def fail(status: int, category: str, message: str) -> Response:
    return Response(status, {"status": "error", "message": message, "correlationId": "emulator",
                             "category": category})


class HubSpotEmulator:
    """In-memory portal; `fail_ids` makes batch updates of those ids fail per record (a 207)."""

    def __init__(self, daily_limit: int = 1_000_000):
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, dict]] = {t: {} for t in STANDARD}
        self.properties: dict[str, dict[str, dict]] = {t: {} for t in STANDARD}
        self.groups: dict[str, dict[str, dict]] = {t: {} for t in STANDARD}
        self.associations: list[tuple] = []
        self.owners: list[dict] = []
        self.ids = itertools.count(1001)
        self.clock = datetime.now(timezone.utc)
        self.usage, self.daily_limit = 0, daily_limit
        self.fail_ids: set[str] = set()
        self.applied: dict[str, int] = {}  # record id -> updates applied (to prove writes land once)

    # --- seeding
    def tick(self) -> str:
        self.clock += timedelta(milliseconds=1)
        return iso(self.clock)

    def insert(self, object_type: str, properties: dict) -> str:
        with self.lock:
            record_id = str(next(self.ids))
            now = self.tick()
            props = {**{k: str(v) for k, v in properties.items() if v is not None}, "hs_object_id": record_id,
                     "createdate": now, "lastmodifieddate": now, "hs_lastmodifieddate": now}
            self.objects[object_type][record_id] = {"id": record_id, "properties": props, "createdAt": now,
                                                    "updatedAt": now}
            return record_id

    def add_owner(self, email: str, first: str, last: str) -> str:
        owner_id = str(next(self.ids))
        self.owners.append({"id": owner_id, "email": email, "firstName": first, "lastName": last, "userId": 1,
                            "type": "PERSON", "createdAt": iso(self.clock), "updatedAt": iso(self.clock),
                            "archived": False})
        return owner_id

    def known(self, object_type: str, name: str) -> bool:
        return name in STANDARD[object_type] or name in self.properties[object_type]

    # --- server hooks
    def extra_headers(self) -> dict:
        return {"X-HubSpot-RateLimit-Daily": self.daily_limit,
                "X-HubSpot-RateLimit-Daily-Remaining": self.daily_limit - self.usage,
                "X-HubSpot-RateLimit-Interval-Milliseconds": 10000, "X-HubSpot-RateLimit-Max": 190,
                "X-HubSpot-RateLimit-Remaining": 189}

    def rate_limited_body(self):
        return {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
                "correlationId": "emulator", "policyName": "SECONDLY", "category": "RATE_LIMITS"}

    def server_error_body(self):
        return {"status": "error", "message": "internal error", "correlationId": "emulator", "category": "INTERNAL"}

    def handle(self, req: Request) -> Response:
        with self.lock:
            self.usage += 1
            if req.headers.get("authorization") != f"Bearer {TOKEN}":
                return fail(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
            path = req.path.rstrip("/")
            if path.startswith("/crm/v3/properties/"):
                from tests.emulators.hubspot_properties import handle_properties
                return handle_properties(self, req, path.split("/")[4:])
            if path == "/crm/v3/owners":
                return self._owners(req)
            if path.startswith("/crm/v4/objects/"):
                return self._associate(req, path.split("/")[4:])
            match = _OBJ.match(path)
            if match and match.group("type") in STANDARD:
                return self._objects(req, match.group("type"), (match.group("rest") or "").strip("/"))
            return fail(404, "OBJECT_NOT_FOUND", f"no route {req.method} {path}")

    # --- objects
    def _objects(self, req: Request, object_type: str, rest: str) -> Response:
        if rest == "batch/update" and req.method == "POST":
            return self._batch_update(object_type, req.json() or {})
        if rest == "batch/read" and req.method == "POST":
            return self._batch_read(object_type, req.json() or {})
        if rest == "search" and req.method == "POST":
            from tests.emulators.hubspot_search import search
            return search(self, object_type, req.json() or {})
        if rest == "" and req.method == "POST":
            return self._create(object_type, req.json() or {})
        if rest and "/" not in rest and req.method in ("GET", "PATCH"):
            record = self.objects[object_type].get(rest)
            if record is None:
                return fail(404, "OBJECT_NOT_FOUND", f"{object_type} {rest} not found")
            if req.method == "PATCH":
                problem = self._apply(object_type, record, (req.json() or {}).get("properties") or {})
                if problem:
                    return problem
            return Response(200, self.public(record, list(record["properties"])))
        return fail(404, "OBJECT_NOT_FOUND", f"no route {req.method} {rest}")

    def public(self, record: dict, names: list) -> dict:
        props = {n: record["properties"].get(n) for n in names}
        props.update(hs_object_id=record["id"], createdate=record["createdAt"],
                     lastmodifieddate=record["properties"]["lastmodifieddate"])
        return {"id": record["id"], "properties": props, "createdAt": record["createdAt"],
                "updatedAt": record["updatedAt"], "archived": False}

    def _apply(self, object_type: str, record: dict, properties: dict) -> Response | None:
        for name, value in properties.items():
            if not self.known(object_type, name):
                return fail(400, "VALIDATION_ERROR", f'Property "{name}" does not exist (PROPERTY_DOESNT_EXIST)')
            problem = self._check_value(object_type, name, value)
            if problem:
                return fail(400, "VALIDATION_ERROR", problem)
        now = self.tick()
        self.applied[record["id"]] = self.applied.get(record["id"], 0) + 1
        for name, value in properties.items():
            record["properties"][name] = None if value == "" else str(value)
        record["properties"].update(lastmodifieddate=now, hs_lastmodifieddate=now)
        record["updatedAt"] = now
        return None

    def _check_value(self, object_type: str, name: str, value) -> str | None:
        prop = self.properties[object_type].get(name)
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

    def _batch_update(self, object_type: str, body: dict) -> Response:
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_LIMIT:
            return fail(400, "VALIDATION_ERROR", f"Batch input size must be at most {BATCH_LIMIT}, got {len(inputs)}")
        started = iso(self.clock)
        results, errors = [], []
        for item in inputs:
            record = self.objects[object_type].get(str(item.get("id")))
            if record is None or item.get("id") in self.fail_ids:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND" if record is None else
                               "VALIDATION_ERROR", "message": "could not update", "context": {"ids": [item.get("id")]},
                               "errors": [], "links": {}})
                continue
            problem = self._apply(object_type, record, item.get("properties") or {})
            if problem:
                return problem  # a bad value fails the whole batch, as HubSpot validates inputs up front
            results.append(self.public(record, list(item.get("properties") or {})))
        body = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso(self.clock)}
        if errors:
            body.update(errors=errors, numErrors=len(errors))
            return Response(207, body)
        return Response(200, body)

    def _batch_read(self, object_type: str, body: dict) -> Response:
        """Batch read (CRM API "Batch"): at most 100 ids; unknown ids are left out (a 207 lists them)."""
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_LIMIT:
            return fail(400, "VALIDATION_ERROR", f"Batch input size must be at most {BATCH_LIMIT}")
        names = body.get("properties") or []
        found = [self.objects[object_type][str(i["id"])] for i in inputs if str(i.get("id")) in self.objects[object_type]]
        return Response(200, {"status": "COMPLETE", "results": [self.public(r, names) for r in found],
                              "startedAt": iso(self.clock), "completedAt": iso(self.clock)})

    def _create(self, object_type: str, body: dict) -> Response:
        properties = body.get("properties") or {}
        if object_type == "tasks" and not properties.get("hs_timestamp"):
            return fail(400, "VALIDATION_ERROR", "hs_timestamp is required")
        unknown = [n for n in properties if not self.known(object_type, n)]
        if unknown:
            return fail(400, "VALIDATION_ERROR", f'Property "{unknown[0]}" does not exist')
        record_id = self.insert(object_type, properties)
        for assoc in body.get("associations") or []:
            for kind in assoc.get("types") or []:
                self.associations.append((object_type, record_id, str(assoc["to"]["id"]), kind["associationTypeId"]))
        record = self.objects[object_type][record_id]
        return Response(201, self.public(record, list(record["properties"])))

    def _owners(self, req: Request) -> Response:
        owners = [o for o in self.owners if not req.query.get("email") or o["email"] == req.query["email"]]
        start = int(req.query.get("after") or 0)
        limit = min(int(req.query.get("limit") or 100), 500)
        body = {"results": owners[start:start + limit]}
        if start + limit < len(owners):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return Response(200, body)

    def _associate(self, req: Request, parts: list) -> Response:
        if req.method == "PUT" and len(parts) == 6 and parts[2:4] == ["associations", "default"]:
            self.associations.append((parts[0], parts[1], parts[5], "default"))
            return Response(200, {"status": "COMPLETE", "results": [], "startedAt": iso(self.clock),
                                  "completedAt": iso(self.clock)})
        return fail(404, "OBJECT_NOT_FOUND", "no such association route")
