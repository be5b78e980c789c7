"""Salesforce REST / Tooling / sObject Collections / Bulk API 2.0 emulator, built from Salesforce's docs.

Sources (Salesforce Developer documentation):
- REST API Developer Guide: "Query" (GET /query?q=, nextRecordsUrl paging, 2,000 records a page), "sObject Describe",
  "Update a Record" (PATCH /sobjects/{type}/{id} -> 204), "Create a Record" (201 {id, success, errors}),
  "Limits" (GET /limits/), "Status Codes and Error Responses" (errors are [{message, errorCode, fields}]),
  "Sforce-Limit-Info" response header (api-usage=N/M), "Assignment Rule Header" (Sforce-Auto-Assign).
- REST API: "sObject Collections - Update Records" (PATCH /composite/sobjects, {allOrNone, records}, at most 200
  records, one result per record in order).
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

from tests.emulators import soql
from tests.emulators.salesforce_schema import METADATA_TYPES, PREFIX, STANDARD, check_metadata, csv_rows  # noqa: F401
from tests.emulators.server import Request, Response

TOKEN = "00D000000000001!emulator-session"
USER_ID = "005000000000001AAA"
QUEUE_ID = "00G000000000001AAA"  # where the "lead assignment rule" sends leads
PAGE = 2000
COLLECTION_LIMIT = 200
_PATH = re.compile(r"^/services/data/v\d+\.\d+/(?P<rest>.*)$")


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
        self.insert("User", {"Id": USER_ID, "Username": "integration@example.com", "Email": "integration@example.com",
                             "Name": "Integration User", "IsActive": True})

    # --- state helpers (tests seed with these)
    def new_id(self, obj: str) -> str:
        return f"{PREFIX[obj]}{next(self.ids):012d}AAA"

    def tick(self) -> str:
        """The clock moves a millisecond per write; SystemModstamp shows the whole second, as in Salesforce."""
        self.clock += timedelta(milliseconds=1)
        return stamp(self.clock)

    def insert(self, obj: str, values: dict, by: str = "005000000000002AAA") -> str:
        with self.lock:
            record = {"Id": values.get("Id") or self.new_id(obj), **values}
            if "SystemModstamp" in STANDARD[obj]:
                record.update(SystemModstamp=self.tick(), LastModifiedById=by) if obj != "Task" else \
                    record.update(SystemModstamp=self.tick())
            if obj == "Lead":
                record.setdefault("IsConverted", False)
            self.records[obj][record["Id"]] = record
            return record["Id"]

    def visible(self, obj: str, name: str) -> bool:
        """Standard fields always; a custom field only with read access through an assigned permission set."""
        if name in STANDARD.get(obj, {}):
            return True
        return (obj, name) in self.custom and f"{obj}.{name}" in self._readable()

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
        if parts[0] == "query":
            return self._query(req.query.get("q"), parts[1] if len(parts) > 1 else None, tooling=False)
        if parts[:2] == ["tooling", "query"]:
            return self._query(req.query.get("q"), None, tooling=True)
        if parts[:3] == ["tooling", "sobjects", "CustomField"] and req.method == "POST":
            return self._create_custom_field(req.json())
        if parts[:2] == ["composite", "sobjects"] and req.method == "PATCH":
            return self._collection_update(req)
        if parts[0] == "sobjects" and len(parts) == 3 and parts[2] == "describe":
            return self._describe(parts[1])
        if parts[0] == "sobjects" and len(parts) == 2 and req.method == "POST":
            return self._create(parts[1], req.json())
        if parts[0] == "sobjects" and len(parts) == 3 and req.method == "PATCH":
            result = self._update(parts[1], parts[2], req.json(), req.headers)
            return Response(204) if result is None else error(400, *result)
        if parts[:2] == ["jobs", "ingest"]:
            from tests.emulators.salesforce_bulk import handle_bulk
            return handle_bulk(self, req, parts[2:])
        return error(404, "NOT_FOUND", f"The requested resource does not exist: {rest}")

    # --- describe and query
    def _describe(self, obj: str) -> Response:
        if obj not in STANDARD:
            return error(404, "NOT_FOUND", f"The requested resource does not exist: {obj}")
        fields = [{"name": n, "type": t, "label": n, "custom": False, "updateable": t != "id",
                   "length": 255 if t == "string" else 0, "picklistValues": []} for n, t in STANDARD[obj].items()]
        for (o, name), info in self.custom.items():
            if o == obj and self.visible(obj, name):
                meta = info["meta"]
                values = meta.get("valueSet", {}).get("valueSetDefinition", {}).get("value", [])
                fields.append({"name": name, "type": info["type"], "label": meta.get("label"), "custom": True,
                               "updateable": True, "length": meta.get("length", 0),
                               "picklistValues": [{"value": v["fullName"], "label": v.get("label"), "active": True}
                                                  for v in values]})
        return Response(200, {"name": obj, "custom": False, "fields": fields})

    def _query(self, text: str | None, cursor: str | None, tooling: bool) -> Response:
        if cursor:
            token, offset = cursor.rsplit("-", 1)
            return self._page(token, int(offset))
        try:
            query = soql.parse(text or "")
        except soql.SoqlError as exc:
            return error(400, "MALFORMED_QUERY", str(exc))
        if tooling:
            rows = self._tooling_rows(query.obj)
        else:
            if query.obj not in STANDARD:
                return error(400, "INVALID_TYPE", f"sObject type '{query.obj}' is not supported.")
            names = query.fields + [c[0] for c in query.conditions] + query.order
            hidden = [n for n in names if not self.visible(query.obj, n)]
            if hidden:
                return error(400, "INVALID_FIELD", f"No such column '{hidden[0]}' on entity '{query.obj}'. If you "
                             "are attempting to use a custom field, be sure to append the '__c' after the custom "
                             "field name.")
            rows = list(self.records[query.obj].values())
        rows = [r for r in rows if soql.matches(r, query.conditions)]
        for name in reversed(query.order):
            rows.sort(key=lambda r: (r.get(name) is None, r.get(name) or ""), reverse=query.descending)
        rows = rows[: query.limit] if query.limit is not None else rows
        out = [{"attributes": {"type": query.obj}, **{f: r.get(f) for f in query.fields}} for r in rows]
        token = f"01g{next(self.ids):015d}"
        self.cursors[token] = out
        return self._page(token, 0)

    def _page(self, token: str, offset: int) -> Response:
        rows = self.cursors.get(token)
        if rows is None:
            return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        done = offset + PAGE >= len(rows)
        body = {"totalSize": len(rows), "done": done, "records": rows[offset:offset + PAGE]}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v59.0/query/{token}-{offset + PAGE}"
        else:
            self.cursors.pop(token, None)
        return Response(200, body)

    def _tooling_rows(self, obj: str) -> list:
        if obj != "CustomField":
            return []
        return [{"Id": info["id"], "DeveloperName": name[:-3], "TableEnumOrId": o, "FullName": f"{o}.{name}"}
                for (o, name), info in self.custom.items()]

    # --- tooling
    def _create_custom_field(self, body: dict) -> Response:
        full, meta = body.get("FullName", ""), body.get("Metadata") or {}
        if "." not in full or not full.endswith("__c"):
            return error(400, "INVALID_FIELD", "FullName must be Object.Name__c")
        obj, name = full.split(".", 1)
        if obj not in STANDARD:
            return error(400, "INVALID_TYPE", f"no object {obj}")
        if (obj, name) in self.custom:
            return error(400, "DUPLICATE_DEVELOPER_NAME", f"duplicate value found: {full}")
        problem = check_metadata(meta)
        if problem:
            return error(400, "FIELD_INTEGRITY_EXCEPTION", problem)
        field_id = self.new_id("CustomField")
        self.custom[(obj, name)] = {"id": field_id, "type": METADATA_TYPES[meta["type"]], "meta": meta}
        return Response(201, {"id": field_id, "success": True, "errors": []})

    # --- writes
    def _create(self, obj: str, body: dict) -> Response:
        if obj not in STANDARD or obj == "User":
            return error(400, "INVALID_TYPE", f"cannot create {obj}")
        unknown = [k for k in body if k != "attributes" and not self.visible(obj, k)]
        if unknown:
            return error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {obj}")
        if obj == "Task":
            if not body.get("Status"):
                return error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Status]", ["Status"])
            if str(body.get("WhoId", "")).startswith("00Q") and body.get("WhatId"):
                return error(400, "FIELD_INTEGRITY_EXCEPTION", "Related To ID: a task on a lead cannot have one")
        record_id = self.insert(obj, {k: v for k, v in body.items() if k != "attributes"}, by=USER_ID)
        return Response(201, {"id": record_id, "success": True, "errors": []})

    def _update(self, obj: str, record_id: str, values: dict, headers: dict):
        """Apply one record's update; None on success, else (errorCode, message)."""
        record = self.records.get(obj, {}).get(record_id)
        if record is None:
            return ("ENTITY_IS_DELETED" if obj in STANDARD else "INVALID_TYPE", f"entity {record_id} not found")
        if record_id in self.fail_ids:
            return ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "rejected by a validation rule")
        for name, value in values.items():
            if name in ("attributes", "Id", "id"):
                continue
            if not self.visible(obj, name):
                return ("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}. Please check "
                        "the security settings of this field and verify that it is read/write for your profile "
                        "or permission set.")
            problem = self._check_value(obj, name, value)
            if problem:
                return problem
        record.update({k: v for k, v in values.items() if k not in ("attributes", "id")})
        record.update(SystemModstamp=self.tick(), LastModifiedById=USER_ID)
        self.applied[record_id] = self.applied.get(record_id, 0) + 1
        if obj == "Lead" and headers.get("sforce-auto-assign", "TRUE").upper() != "FALSE":
            record["OwnerId"] = QUEUE_ID  # the active lead assignment rule fires on update without the header
        return None

    def _check_value(self, obj: str, name: str, value):
        ftype = self.field_type(obj, name)
        meta = self.custom.get((obj, name), {}).get("meta", {})
        if value is None:
            return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: a checkbox cannot be null") if ftype == "boolean" \
                else None
        if ftype in ("double", "int") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value!r}")
        if ftype == "boolean" and not isinstance(value, bool):
            return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value!r}")
        if ftype == "date" and not re.match(r"^\d{4}-\d{2}-\d{2}$", str(value)):
            return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: not a date: {value!r}")
        if ftype == "datetime":
            try:
                soql.parse_datetime(str(value))
            except ValueError:
                return ("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: not a datetime: {value!r}")
        if ftype in ("string", "textarea") and meta and len(str(value)) > int(meta.get("length", 255)):
            return ("STRING_TOO_LONG", f"{name}: data value too large")
        if ftype == "picklist" and meta:
            allowed = [v["fullName"] for v in meta["valueSet"]["valueSetDefinition"]["value"]]
            if meta["valueSet"].get("restricted") and value not in allowed:
                return ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"{name}: bad value for restricted picklist "
                        f"field: {value}")
        return None

    def _collection_update(self, req: Request) -> Response:
        body = req.json() or {}
        records = body.get("records") or []
        if len(records) > COLLECTION_LIMIT:
            return error(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                         f"{COLLECTION_LIMIT} records into this call")
        out = []
        for record in records:
            obj = (record.get("attributes") or {}).get("type")
            if not obj or not record.get("id"):
                out.append({"success": False, "errors": [{"statusCode": "INVALID_FIELD", "message":
                            "attributes.type and id are required", "fields": []}]})
                continue
            problem = self._update(obj, record["id"], record, req.headers)
            out.append({"id": record["id"], "success": problem is None, "errors": [] if problem is None else
                        [{"statusCode": problem[0], "message": problem[1], "fields": []}]})
        return Response(200, out)
