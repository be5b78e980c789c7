"""Salesforce REST / Tooling / sObject Collections / Bulk API 2.0 emulator, built from Salesforce's docs.

Sources (Salesforce Developer documentation):
- REST API Developer Guide: "Query" (GET /query?q=, nextRecordsUrl paging, 2,000 records a page), "sObject Describe",
  "Update a Record" (PATCH /sobjects/{type}/{id} -> 204), "Create a Record" (201 {id, success, errors}),
  "Limits" (GET /limits/), "Status Codes and Error Responses" (errors are [{message, errorCode, fields}]),
  "Sforce-Limit-Info" response header (api-usage=N/M), "Assignment Rule Header" (Sforce-Auto-Assign).
- REST API: "sObject Collections" (create, update, delete, upsert; salesforce_collections.py), "Insert or
  Update (Upsert) a Record Using an External ID", "Delete a Record", "Get Deleted Records", "QueryAll"
  (salesforce_lifecycle.py), and the per-record rules of "Create a Record" (salesforce_writes.py).
- SOAP API "convertLead()" and "merge()", offered as the test controls convert_lead() and merge().
- Bulk API 2.0 and Bulk API Developer Guide: "Create a Job", "Upload Job Data" (PUT .../batches, text/csv, 201),
  "Close or Abort a Job" (PATCH state UploadComplete), "Get Information About a Job", "Get Job Failed Record Results"
  (sf__Id, sf__Error + the original columns); in CSV an empty cell keeps the value and #N/A sets null.
- Tooling API: "CustomField" (POST /tooling/sobjects/CustomField with FullName and Metadata).
- Metadata API: "CustomField" (Number needs precision and scale, Text a length <= 255, LongTextArea a length and
  visibleLines, Checkbox a defaultValue, Picklist a valueSet).
- Object Reference: "FieldPermissions", "PermissionSet", "PermissionSetAssignment", "Task" (Status required;
  WhatId must be empty when WhoId is a lead), "Lead", "Contact", "Account".
- Field-level security: a custom field is invisible to describe and SOQL for a user without read access through
  a profile or an assigned permission set (Security Implementation Guide, "Field-Level Security").
"""
from __future__ import annotations

import itertools
import re
import threading
from datetime import datetime, timedelta, timezone

from tests.emulators import salesforce_lifecycle as lifecycle
from tests.emulators import salesforce_writes as writes
from tests.emulators import soql
from tests.emulators.salesforce_collections import handle_collection, handle_upsert
from tests.emulators.salesforce_schema import METADATA_TYPES, PREFIX, STANDARD, check_metadata, csv_rows  # noqa: F401
from tests.emulators.salesforce_schema import id18
from tests.emulators.server import Request, Response

TOKEN = "00D000000000001!emulator-session"
USER_ID = "005000000000001AAA"
QUEUE_ID = "00G000000000001AAA"  # where the "lead assignment rule" sends leads
PAGE = 2000
COLLECTION_LIMIT = 200
_PATH = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)/(?P<rest>.*)$")


def stamp(moment: datetime | None = None) -> str:
    """Datetimes keep whole seconds in Salesforce; the API shows them with .000 milliseconds."""
    return (moment or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S") + ".000+0000"


def error(status: int, code: str, message: str, fields=()) -> Response:
    return Response(status, [{"message": message, "errorCode": code, "fields": list(fields)}])


class SalesforceEmulator:
    """In-memory org. `fail_ids` makes per-record writes of those ids fail, as a validation rule would."""

    def __init__(self, daily_limit: int = 1_000_000):
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, dict]] = {name: {} for name in STANDARD}
        self.custom: dict[tuple[str, str], dict] = {}  # (object, field) -> {"type", "meta"}
        self.ids = itertools.count(1)
        self.usage = 0
        self.daily_limit = daily_limit
        self.fail_ids: set[str] = set()
        self.applied: dict[str, int] = {}  # record id -> updates applied (to prove writes land once)
        self.jobs: dict[str, dict] = {}
        self.cursors: dict[str, list] = {}
        self.clock = datetime.now(timezone.utc)
        self.started = self.clock
        self.deleted_at: dict[str, str] = {}  # record id -> when it went to the Recycle Bin
        self.version = "59.0"  # of the request being handled
        self.insert("User", {"Id": USER_ID, "Username": "integration@example.com", "Email": "integration@example.com",
                             "Name": "Integration User", "IsActive": True})

    # --- state helpers (tests seed with these)
    def new_id(self, obj: str) -> str:
        """An 18-character id: key prefix, a counter, and the case-safe suffix of its 15-character form."""
        return id18(f"{PREFIX[obj]}{next(self.ids):012d}")

    def tick(self) -> str:
        """The clock moves a millisecond per write; SystemModstamp shows the whole second, as in Salesforce."""
        self.clock += timedelta(milliseconds=1)
        return stamp(self.clock)

    def insert(self, obj: str, values: dict, by: str = "005000000000002AAA") -> str:
        """Seed a record as is (no create rules); tests use it to build an org."""
        with self.lock:
            record = {"Id": values.get("Id") or self.new_id(obj), **values}
            if "SystemModstamp" in STANDARD[obj]:
                record.update(SystemModstamp=self.tick(), LastModifiedById=by) if obj != "Task" else \
                    record.update(SystemModstamp=self.tick())
            if obj == "Lead":
                record.setdefault("IsConverted", False)
            if "IsDeleted" in STANDARD[obj]:
                record.setdefault("IsDeleted", False)
            self.records[obj][record["Id"]] = record
            return record["Id"]

    def live(self, obj: str) -> list[dict]:
        """Records not in the Recycle Bin."""
        return [r for r in self.records[obj].values() if not r.get("IsDeleted")]

    def advance(self, seconds: float) -> None:
        """Move the org's clock on (SystemModstamp, deletedDate and getDeleted coverage follow it)."""
        with self.lock:
            self.clock += timedelta(seconds=seconds)

    def convert_lead(self, lead_id: str, account_id: str | None = None, contact_id: str | None = None) -> dict:
        """convertLead(): {leadId, accountId, contactId}; ValueError where Salesforce would refuse."""
        with self.lock:
            return lifecycle.convert_lead(self, lead_id, account_id, contact_id)

    def merge(self, obj: str, master_id: str, duplicate_ids: list) -> None:
        """merge(): duplicates deleted with MasterRecordId = master; ValueError where Salesforce would refuse."""
        with self.lock:
            lifecycle.merge(self, obj, master_id, list(duplicate_ids))

    def delete(self, record_id: str) -> None:
        """Recycle a record as DELETE /sobjects would; ValueError when it is missing or deleted already."""
        with self.lock:
            problem = lifecycle.delete(self, record_id)
            if problem:
                raise ValueError(problem[1])

    def purge(self, record_id: str) -> None:
        """emptyRecycleBin(): the recycled record is gone from /queryAll; getDeleted still lists it."""
        with self.lock:
            lifecycle.purge(self, record_id)

    def reassign(self, record: dict) -> None:
        record["OwnerId"] = QUEUE_ID  # the active lead assignment rule fires on update without the header

    @property
    def version_number(self) -> float:
        return float(self.version)

    def visible(self, obj: str, name: str) -> bool:
        """Standard fields always; a custom field only with read access through an assigned permission set."""
        if name in STANDARD.get(obj, {}):
            return True
        if (obj, name) not in self.custom:
            return False
        return f"{obj}.{name}" in self._readable() or (
            self.custom[(obj, name)].get("activity") and f"Activity.{name}" in self._readable())

    def _readable(self) -> set:
        """Fields the integration user may read, recomputed only when permission records change."""
        key = (len(self.records["FieldPermissions"]), len(self.records["PermissionSetAssignment"]))
        if getattr(self, "_readable_key", None) != key:
            assigned = {a["PermissionSetId"] for a in self.records["PermissionSetAssignment"].values()
                        if a["AssigneeId"] == USER_ID}
            self._readable_cache = {p["Field"] for p in self.records["FieldPermissions"].values()
                                    if p["ParentId"] in assigned and p.get("PermissionsRead")}
            self._readable_key = key
        return self._readable_cache

    def field_type(self, obj: str, name: str) -> str | None:
        if name in STANDARD.get(obj, {}):
            return STANDARD[obj][name]
        return self.custom[(obj, name)]["type"] if (obj, name) in self.custom else None

    # --- server hooks
    def extra_headers(self) -> dict:
        return {"Sforce-Limit-Info": f"api-usage={self.usage}/{self.daily_limit}"}

    def rate_limited_body(self):
        return [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]

    def server_error_body(self):
        return [{"message": "An unexpected error occurred.", "errorCode": "UNKNOWN_EXCEPTION"}]

    def handle(self, req: Request) -> Response:
        with self.lock:
            self.usage += 1
            if req.path == "/services/oauth2/userinfo":
                return self._auth(req) or Response(200, {"user_id": USER_ID, "organization_id": "00D000000000001AAA",
                                                         "preferred_username": "integration@example.com"})
            match = _PATH.match(req.path)
            if not match:
                return error(404, "NOT_FOUND", "The requested resource does not exist")
            denied = self._auth(req)
            if denied:
                return denied
            self.version = match.group("version")
            return self._route(req, match.group("rest").rstrip("/"))

    def _auth(self, req: Request) -> Response | None:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return None

    def _route(self, req: Request, rest: str) -> Response:
        parts = rest.split("/")
        if rest == "limits":
            return Response(200, {"DailyApiRequests": {"Max": self.daily_limit,
                                                       "Remaining": self.daily_limit - self.usage}})
        if parts[0] in ("query", "queryAll"):
            return self._query(req.query.get("q"), parts[1] if len(parts) > 1 else None, tooling=False,
                               deleted=parts[0] == "queryAll")
        if parts[:2] == ["tooling", "query"]:
            return self._query(req.query.get("q"), None, tooling=True)
        if parts[:3] == ["tooling", "sobjects", "CustomField"] and req.method == "POST":
            return writes.create_custom_field(self, req.json() or {})
        if parts[:2] == ["composite", "sobjects"]:
            return handle_collection(self, req, parts[2:], USER_ID)
        if parts[0] == "sobjects" and len(parts) == 3 and parts[2] == "describe":
            return self._describe(parts[1])
        if parts[0] == "sobjects" and len(parts) == 3 and parts[2] == "deleted" and req.method == "GET":
            return lifecycle.get_deleted(self, parts[1], req)
        if parts[0] == "sobjects" and len(parts) == 2 and req.method == "POST":
            return self._create(parts[1], req.json() or {})
        if parts[0] == "sobjects" and len(parts) == 3 and req.method == "GET":
            return self._retrieve(parts[1], parts[2])
        if parts[0] == "sobjects" and len(parts) == 3 and req.method == "DELETE":
            return lifecycle.handle_delete(self, parts[1], parts[2])
        if parts[0] == "sobjects" and len(parts) == 3 and req.method == "PATCH":
            result = self._update(parts[1], parts[2], req.json() or {}, req.headers)
            return Response(204) if result is None else error(400, *result)
        if parts[0] == "sobjects" and len(parts) == 4 and req.method == "PATCH":
            return handle_upsert(self, req, parts[1], parts[2], parts[3], USER_ID)
        if parts[:2] == ["jobs", "ingest"]:
            from tests.emulators.salesforce_bulk import handle_bulk
            return handle_bulk(self, req, parts[2:])
        return error(404, "NOT_FOUND", f"The requested resource does not exist: {rest}")

    # --- describe and query
    def _describe(self, obj: str) -> Response:
        if obj not in STANDARD:
            return error(404, "NOT_FOUND", f"The requested resource does not exist: {obj}")
        fields = [{"name": n, "type": t, "label": n, "custom": False, "externalId": False, "unique": False,
                   "updateable": t != "id" and n not in writes.READ_ONLY,
                   "nillable": n not in writes.REQUIRED.get(obj, ()) and t != "boolean",
                   "length": writes.LENGTHS.get((obj, n), 255 if t == "string" else 0), "picklistValues": []}
                  for n, t in STANDARD[obj].items()]
        for (o, name), info in self.custom.items():
            if o == obj and self.visible(obj, name):
                meta = info["meta"]
                values = meta.get("valueSet", {}).get("valueSetDefinition", {}).get("value", [])
                fields.append({"name": name, "type": info["type"], "label": meta.get("label"), "custom": True,
                               "externalId": bool(meta.get("externalId")), "unique": bool(meta.get("unique")),
                               "updateable": True, "length": meta.get("length", 0),
                               "picklistValues": [{"value": v["fullName"], "label": v.get("label"), "active": True}
                                                  for v in values]})
        return Response(200, {"name": obj, "custom": False, "fields": fields})

    def _query(self, text: str | None, cursor: str | None, tooling: bool, deleted: bool = False) -> Response:
        """/query leaves Recycle Bin records out; /queryAll includes them (with IsDeleted = true)."""
        if cursor:
            token, offset = cursor.rsplit("-", 1)
            return self._page(token, int(offset), "queryAll" if deleted else "query")
        try:
            query = soql.parse(text or "")
        except soql.SoqlError as exc:
            return error(400, "MALFORMED_QUERY", str(exc))
        if tooling:
            rows = writes.tooling_rows(self, query.obj)
        else:
            if query.obj not in STANDARD:
                return error(400, "INVALID_TYPE", f"sObject type '{query.obj}' is not supported.")
            names = query.names()
            hidden = [n for n in names if not self.visible(query.obj, n)]
            if hidden:
                return error(400, "INVALID_FIELD", f"No such column '{hidden[0]}' on entity '{query.obj}'. If you "
                             "are attempting to use a custom field, be sure to append the '__c' after the custom "
                             "field name.")
            rows = list(self.records[query.obj].values()) if deleted else self.live(query.obj)
        rows = soql.sort([r for r in rows if soql.matches(r, query.where)], query.order)
        rows = rows[: query.limit] if query.limit is not None else rows
        out = [{"attributes": {"type": query.obj}, **{f: r.get(f) for f in query.fields}} for r in rows]
        token = f"01g{next(self.ids):015d}"
        self.cursors[token] = out
        return self._page(token, 0, "queryAll" if deleted else "query")

    def _page(self, token: str, offset: int, resource: str = "query") -> Response:
        rows = self.cursors.get(token)
        if rows is None:
            return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        done = offset + PAGE >= len(rows)
        body = {"totalSize": len(rows), "done": done, "records": rows[offset:offset + PAGE]}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v{self.version}/{resource}/{token}-{offset + PAGE}"
        else:
            self.cursors.pop(token, None)
        return Response(200, body)

    # --- writes (rules in salesforce_writes.py)
    def _create(self, obj: str, body: dict) -> Response:
        if obj not in STANDARD or obj == "User":
            return error(400, "INVALID_TYPE", f"cannot create {obj}")
        record_id, problem = writes.create(self, obj, body, USER_ID)
        if problem:
            return error(400, *problem)
        return Response(201, {"id": record_id, "success": True, "errors": []})

    def _update(self, obj: str, record_id: str, values: dict, headers: dict):
        """Apply one record's update; None on success, else (errorCode, message, fields)."""
        return writes.update(self, obj, record_id, values, headers, USER_ID)

    def _retrieve(self, obj: str, record_id: str) -> Response:
        record = self.records.get(obj, {}).get(id18(record_id) or "")
        if record is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        if record.get("IsDeleted"):
            return error(404, "ENTITY_IS_DELETED", "entity is deleted")
        names = [n for n in STANDARD[obj]] + [n for (o, n) in self.custom if o == obj and self.visible(obj, n)]
        return Response(200, {"attributes": {"type": obj, "url": f"/services/data/v{self.version}/sobjects/{obj}/"
                                             f"{record['Id']}"}, **{n: record.get(n) for n in names}})
