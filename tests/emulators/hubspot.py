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
  associationCategory HUBSPOT_DEFINED and associationTypeId, checked against the pair (hubspot_associations.py).
- Creates, batch create / upsert, unique values, merges and archiving: hubspot_writes.py.
- Search reads an index that trails writes by `search_lag_seconds` (CRM API "Search": newly created or
  updated records can take a few moments to appear in search results); GET and batch/read are current.
- "API usage guidelines and limits": 429 with Retry-After; X-HubSpot-RateLimit-* headers on every answer.
"""
from __future__ import annotations

import itertools
import re
import threading
import time
from datetime import datetime, timedelta, timezone

from tests.emulators import hubspot_associations as assoc
from tests.emulators import hubspot_writes as writes
from tests.emulators.server import Request, Response

TOKEN = "pat-emulator-token"
BATCH_LIMIT = 100
SEARCH_PAGE = 200
SEARCH_CAP = 10_000
PAIRS = {("number", "number"), ("bool", "booleancheckbox"), ("enumeration", "select"), ("date", "date"),
         ("datetime", "date"), ("string", "text"), ("string", "textarea")}
STANDARD = {
    "contacts": ("email", "firstname", "lastname", "jobtitle", "company", "country", "associatedcompanyid",
                 "hubspot_owner_id",
                 "lastmodifieddate", "hs_lastmodifieddate", "createdate", "hs_object_id", "hs_merged_object_ids",
                 "hs_additional_emails"),
    "companies": ("name", "domain", "industry", "numberofemployees", "country", "hubspot_owner_id",
                  "hs_lastmodifieddate", "createdate", "hs_object_id", "hs_merged_object_ids"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate", "hubspot_owner_id", "hs_lastmodifieddate",
              "createdate", "hs_object_id"),
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
    """In-memory portal; `fail_ids` makes batch updates of those ids fail per record (a 207).

    `search_lag_seconds`: how long a write takes to reach search (GET and batch/read see it at once);
    `merge_new_id`: a merge makes a record with a new id (the current behaviour) rather than keeping the primary's.
    """

    def __init__(self, daily_limit: int = 1_000_000, search_lag_seconds: float = 0.0, merge_new_id: bool = True):
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
        self.search_lag_seconds, self.merge_new_id = search_lag_seconds, merge_new_id
        self.aliases: dict[str, dict[str, str]] = {t: {} for t in STANDARD}  # merged-away id -> survivor id

    # --- seeding and test controls
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
                                                    "updatedAt": now, "archived": False}
            self.index(self.objects[object_type][record_id])
            return record_id

    def now(self) -> str:
        return iso(self.clock)

    def index(self, record: dict) -> None:
        """Queue the record's current state for search, visible after the lag."""
        if self.search_lag_seconds > 0:
            record.setdefault("_index", []).append((time.monotonic() + self.search_lag_seconds,
                                                    dict(record["properties"]), record["updatedAt"]))

    def indexed(self, record: dict) -> dict | None:
        """The record as search sees it now: its latest indexed state, or None before the first is."""
        if self.search_lag_seconds <= 0 or "_index" not in record:
            return record
        ready = [entry for entry in record["_index"] if entry[0] <= time.monotonic()]
        if not ready:
            return None
        record["_index"] = record["_index"][record["_index"].index(ready[-1]):]
        return {**record, "properties": ready[-1][1], "updatedAt": ready[-1][2]}

    def reindex(self) -> None:
        """Let search catch up with every write now."""
        with self.lock:
            for records in self.objects.values():
                for record in records.values():
                    if record.get("_index"):
                        record["_index"] = [(0.0, *record["_index"][-1][1:])]

    def live(self, object_type: str) -> list[dict]:
        return [r for r in self.objects[object_type].values() if not r.get("archived")]

    def live_record(self, object_type: str, record_id: str, archived: bool = False) -> dict | None:
        """The record an id leads to (a merged-away id leads to the survivor); archived ones only when asked."""
        if object_type not in self.objects:
            return None
        record_id = self.aliases[object_type].get(str(record_id), str(record_id))
        record = self.objects[object_type].get(record_id)
        return record if record is not None and (archived or not record.get("archived")) else None

    def alias(self, object_type: str, old: str, new: str) -> None:
        for key, target in self.aliases[object_type].items():
            if target == old:
                self.aliases[object_type][key] = new
        self.aliases[object_type][old] = new

    def archive_record(self, object_type: str, record: dict, keep_associations: bool = False) -> None:
        record.update(archived=True, archivedAt=self.tick())
        if not keep_associations:
            self.associations[:] = [a for a in self.associations if record["id"] not in (a[1], a[3])]

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
                return assoc.handle_v4(self, req, path.split("/")[4:])
            if path.startswith("/crm/v4/associations/"):
                return assoc.handle_v4_batch(self, req, path.split("/")[4:])
            match = _OBJ.match(path)
            if match and match.group("type") in STANDARD:
                return self._objects(req, match.group("type"), (match.group("rest") or "").strip("/"))
            return fail(404, "OBJECT_NOT_FOUND", f"no route {req.method} {path}")

    # --- objects
    def _objects(self, req: Request, object_type: str, rest: str) -> Response:
        body = (req.json() or {}) if req.method in ("POST", "PATCH") else {}
        if rest == "batch/update" and req.method == "POST":
            return self._batch_update(object_type, body)
        if rest == "batch/read" and req.method == "POST":
            return self._batch_read(object_type, body, req.query.get("archived") == "true")
        if rest == "batch/create" and req.method == "POST":
            return writes.batch_create(self, object_type, body)
        if rest == "batch/upsert" and req.method == "POST":
            return writes.batch_upsert(self, object_type, body)
        if rest == "merge" and req.method == "POST" and object_type in ("contacts", "companies"):
            return writes.merge(self, object_type, body)
        if rest == "search" and req.method == "POST":
            from tests.emulators.hubspot_search import search
            return search(self, object_type, body)
        if rest == "" and req.method == "POST":
            return writes.create(self, object_type, body)
        if rest == "gdpr-delete" and req.method == "POST" and object_type == "contacts":
            return writes.gdpr_delete(self, object_type, body)
        if rest == "" and req.method == "GET":
            return writes.list_page(self, object_type, req.query)
        if rest and "/" not in rest and req.method in ("GET", "PATCH", "DELETE"):
            record = self.live_record(object_type, rest, archived=req.method == "GET" and
                                      req.query.get("archived") == "true")
            if req.method == "DELETE":
                if record is None and self.live_record(object_type, rest, archived=True) is None:
                    return fail(404, "OBJECT_NOT_FOUND", f"{object_type} {rest} not found")
                if record is not None:
                    self.archive_record(object_type, record)
                return Response(204)
            if record is None:
                return fail(404, "OBJECT_NOT_FOUND", f"{object_type} {rest} not found")
            if req.method == "PATCH":
                problem = self._apply(object_type, record, body.get("properties") or {})
                if problem:
                    return problem
            names = req.query.get("properties")
            out = self.public(record, names.split(",") if names else list(record["properties"]))
            if req.query.get("associations"):
                out["associations"] = assoc.v3_view(self, object_type, record["id"], req.query["associations"])
            return Response(200, out)
        return fail(404, "OBJECT_NOT_FOUND", f"no route {req.method} {rest}")

    def public(self, record: dict, names: list) -> dict:
        props = {n: record["properties"].get(n) for n in names}
        props.update(hs_object_id=record["id"], createdate=record["createdAt"],
                     lastmodifieddate=record["properties"]["lastmodifieddate"])
        out = {"id": record["id"], "properties": props, "createdAt": record["createdAt"],
               "updatedAt": record["updatedAt"], "archived": bool(record.get("archived"))}
        if record.get("archived"):
            out["archivedAt"] = record["archivedAt"]
        return out

    def _apply(self, object_type: str, record: dict, properties: dict) -> Response | None:
        problem = writes.check_properties(self, object_type, properties) or \
            writes.conflict(self, object_type, properties, record["id"])
        if problem:
            return problem
        now = self.tick()
        self.applied[record["id"]] = self.applied.get(record["id"], 0) + 1
        for name, value in properties.items():
            record["properties"][name] = None if value == "" else str(value)
        record["properties"].update(lastmodifieddate=now, hs_lastmodifieddate=now)
        record["updatedAt"] = now
        self.index(record)
        return None

    def _batch_update(self, object_type: str, body: dict) -> Response:
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_LIMIT:
            return fail(400, "VALIDATION_ERROR", f"Batch input size must be at most {BATCH_LIMIT}, got {len(inputs)}")
        started = iso(self.clock)
        results, errors = [], []
        for item in inputs:
            record = self.live_record(object_type, str(item.get("id")))
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

    def _batch_read(self, object_type: str, body: dict, archived: bool = False) -> Response:
        """Batch read (CRM API "Batch"): at most 100 ids; unknown ids are left out (a 207 lists them)."""
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_LIMIT:
            return fail(400, "VALIDATION_ERROR", f"Batch input size must be at most {BATCH_LIMIT}")
        names = body.get("properties") or []
        id_property = body.get("idProperty")
        if id_property:  # read by a unique-value property (email for contacts) instead of the record id
            wanted = {str(i.get("id")).lower() if id_property == "email" else str(i.get("id")) for i in inputs}
            found = [r for r in self.live(object_type) if (lambda v: v is not None and (
                v.lower() if id_property == "email" else v) in wanted)(r["properties"].get(id_property))]
            names = sorted(set(names) | {id_property})
        else:
            found = [r for r in (self.live_record(object_type, str(i.get("id")), archived) for i in inputs) if r]
        return Response(200, {"status": "COMPLETE", "results": [self.public(r, names) for r in found],
                              "startedAt": iso(self.clock), "completedAt": iso(self.clock)})

    def _owners(self, req: Request) -> Response:
        owners = [o for o in self.owners if not req.query.get("email") or o["email"] == req.query["email"]]
        start = int(req.query.get("after") or 0)
        limit = min(int(req.query.get("limit") or 100), 500)
        body = {"results": owners[start:start + limit]}
        if start + limit < len(owners):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return Response(200, body)
