"""Salesforce adapter (simple-salesforce): Lead, Contact and Account.

Score writes go through sObject Collections (200 records a call) with Sforce-Auto-Assign: FALSE so a write
never fires lead assignment rules, and through Bulk API 2.0 above a configurable size. Fields are created with
the Tooling API and made visible to the integration user with a permission set (field-level security).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Iterator

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from crm_app.crm.base import (CallCounter, CrmError, CrmRecord, FieldInfo, Owner, RecordUpdate, TaskRequest,
                              WriteOutcome, task_key)
from crm_app.crm.deletions import LIFECYCLE_FIELDS, SalesforceDeletions, salesforce_event
from crm_app.crm.readback import LostAnswer, write_checked
from crm_app.crm.retry import RetryPolicy
from crm_app.crm.salesforce.fields import field_metadata, our_type
from crm_app.crm.salesforce.people import SalesforcePeople, soql_quote
from crm_app.crm.transport import CountingSession
from crm_app.crm.values import canonical, to_salesforce

COLLECTION = 200
NO_ASSIGN = {"Sforce-Auto-Assign": "FALSE"}
PERMISSION_SET = "PQL_Scoring_Integration"
TASK_KEY = "PQL_Task_Key__c"  # External ID on Activity: Task upserts match on it


def soql_datetime(watermark: str) -> str:
    """A SystemModstamp as an unquoted SOQL datetime literal, in whole seconds as Salesforce stores them."""
    return watermark[:19] + "Z"


class SalesforceCrm(SalesforcePeople, SalesforceDeletions):
    name = "salesforce"
    tasks_keyed = True  # create_task upserts on an External ID field
    task_key_field = ("Activity", TASK_KEY)
    settle_seconds = 2  # SALESFORCE_SETTLE_SECONDS

    def __init__(self, instance_url: str | None = None, session_id: str | None = None, username: str | None = None,
                 password: str | None = None, security_token: str | None = None, domain: str | None = None,
                 consumer_key: str | None = None, consumer_secret: str | None = None, ca_bundle: str | None = None,
                 version: str = "59.0", bulk_threshold: int = 2000, bulk_poll: float = 1.0, timeout: float = 30.0,
                 policy: RetryPolicy | None = None):
        self.counter = CallCounter()
        self.policy = policy or RetryPolicy()
        self.bulk_threshold, self.bulk_poll = bulk_threshold, bulk_poll
        self.session = CountingSession(self.counter, self.policy, timeout, ca_bundle or True,
                                       safe_posts=("/jobs/ingest",), checked_writes=("/composite/sobjects",))
        auth = {"session_id": session_id, "instance_url": instance_url} if session_id else \
            {"username": username, "password": password, "security_token": security_token,
             "consumer_key": consumer_key, "consumer_secret": consumer_secret}
        auth = {k: v for k, v in auth.items() if v}
        if not auth:
            raise CrmError("Salesforce needs SALESFORCE_SESSION_ID + SALESFORCE_INSTANCE_URL, or "
                           "SALESFORCE_USERNAME + SALESFORCE_PASSWORD (+ token or consumer key/secret)")
        self.sf = Salesforce(session=self.session, version=version, domain=domain, **auth)
        self._types: dict[str, dict] = {}

    # --- provisioning
    def field_targets(self, spec) -> list[tuple[str, str]]:
        return [(o, spec.salesforce_name) for o in spec.salesforce_objects] if spec.salesforce_name else []

    def describe_fields(self, object_type: str) -> dict[str, FieldInfo]:
        """Visible fields from describe(); custom fields that exist but are hidden by FLS come back as 'hidden'."""
        described = self._call(lambda: self.sf.restful(f"sobjects/{object_type}/describe"))
        out = {f["name"]: FieldInfo(f["name"], our_type(f), f.get("label") or "",
                                    tuple(v["value"] for v in f.get("picklistValues") or ()))
               for f in described["fields"]}
        self._types[object_type] = {n: i.type for n, i in out.items()}
        for name in self._custom_field_names(object_type):
            out.setdefault(name, FieldInfo(name, "hidden", "(no field-level security for the integration user)"))
        return out

    def _custom_field_names(self, object_type: str) -> list[str]:
        q = f"SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId = {soql_quote(object_type)}"
        result = self._call(lambda: self.sf.toolingexecute("query/?q=" + requests.utils.quote(q)))
        return [r["DeveloperName"] + "__c" for r in result.get("records", [])]

    def create_field(self, object_type: str, spec) -> None:
        self.create_custom_field(object_type, spec.salesforce_name, field_metadata(spec))

    def create_custom_field(self, object_type: str, name: str, metadata: dict) -> bool:
        """Create a custom field with the Tooling API; True when this call made it, False when it existed.

        After a lost answer the field is looked up before trying again, so a retry never fails on a field
        the earlier attempt did create."""
        body = {"FullName": f"{object_type}.{name}", "Metadata": metadata}
        for _ in range(self.policy.attempts):
            try:
                self.sf.toolingexecute("sobjects/CustomField", method="POST", data=body)
                return True
            except SalesforceError as exc:
                if "DUPLICATE_DEVELOPER_NAME" in str(exc.content):
                    return False  # an earlier attempt whose answer was lost did create it
                if exc.status not in (500, 502, 503, 504):
                    raise CrmError(f"creating {body['FullName']} failed: {exc.content}") from exc
            except (requests.ConnectionError, requests.Timeout):
                pass
            if name in self._custom_field_names(object_type):
                return True
        raise CrmError(f"creating {body['FullName']} kept failing")

    def grant_access(self, targets: list[tuple[str, str]]) -> None:
        """Read/edit field permissions in our permission set, assigned to the integration user (idempotent)."""
        ps_id = self._create_once("PermissionSet", {"Name": PERMISSION_SET, "Label": "PQL Scoring Integration"},
                                  f"SELECT Id FROM PermissionSet WHERE Name = {soql_quote(PERMISSION_SET)}", check_first=True)
        have = {r["Field"] for r in self._query(f"SELECT Id, Field FROM FieldPermissions WHERE ParentId = "
                                                f"{soql_quote(ps_id)}")}
        for object_type, name in targets:
            full = f"{object_type}.{name}"
            if full not in have:
                self._create_once("FieldPermissions", {"ParentId": ps_id, "SobjectType": object_type, "Field": full,
                                                       "PermissionsRead": True, "PermissionsEdit": True},
                                  f"SELECT Id FROM FieldPermissions WHERE ParentId = {soql_quote(ps_id)} AND "
                                  f"Field = {soql_quote(full)}", check_first=True)
        user_id = self._call(lambda: self.sf.oauth2("userinfo"))["user_id"]
        self._create_once("PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": ps_id},
                          f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {soql_quote(user_id)} AND "
                          f"PermissionSetId = {soql_quote(ps_id)}", check_first=True)

    # --- reads
    def read_changed(self, object_type: str, since: str | None,
                     fields: list[str] | None = None) -> Iterator[CrmRecord]:
        """Records changed after the (SystemModstamp, Id) watermark, deleted ones too (queryAll).

        A keyset on both parts never re-reads the watermark's own second; a deleted record carries
        ("deleted", None), a merged duplicate ("merged", MasterRecordId), a converted lead ("converted",
        ConvertedContactId).
        """
        types = self._types.get(object_type)  # described once per adapter, also when it has no fields
        types = {n: i.type for n, i in self.describe_fields(object_type).items()} if types is None else types
        life = LIFECYCLE_FIELDS.get(object_type, ())
        mapped = [f for f in (fields or []) if f not in ("Id", "SystemModstamp", *life)]
        names = ["Id", "SystemModstamp", *life, *mapped]
        # Stamps have whole seconds: a second still going on may get records with lower ids after we read it,
        # and the keyset would pass them by. Only seconds that have settled are read.
        settled = f"SystemModstamp < {(self.clock() - timedelta(seconds=self.settle_seconds)):%Y-%m-%dT%H:%M:%SZ}"
        where = f" WHERE {settled}"
        if since:
            stamp, _, last_id = since.partition("|")
            at = soql_datetime(stamp)
            where = f" WHERE SystemModstamp >= {at} AND {settled}" if not last_id else \
                f" WHERE (SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > {soql_quote(last_id)})) AND {settled}"
        q = f"SELECT {', '.join(names)} FROM {object_type}{where} ORDER BY SystemModstamp, Id"
        for row in self._query(q, include_deleted=bool(life)):
            values = {n: canonical(types.get(n, "text"), row.get(n)) for n in ["Id", *mapped]}
            yield CrmRecord(object_type, row["Id"], values, f"{row['SystemModstamp']}|{row['Id']}",
                            event=salesforce_event(row))

    def _query(self, q: str, include_deleted: bool = False) -> Iterator[dict]:
        try:
            yield from self.sf.query_all_iter(q, include_deleted=include_deleted)
        except SalesforceError as exc:
            raise CrmError(f"query failed: {exc.content}") from exc

    # --- writes
    def part_size(self, total: int) -> int:
        """Parts the write-back commits after: one collection call, or one bulk job for large runs."""
        return max(total, 1) if total >= self.bulk_threshold else COLLECTION

    def write_values(self, updates: list[RecordUpdate]) -> list[WriteOutcome]:
        if len(updates) >= self.bulk_threshold:
            from crm_app.crm.salesforce.bulk import write_bulk
            return write_bulk(self, updates)
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(updates), COLLECTION):
            outcomes.extend(self._write_collection(updates[start:start + COLLECTION]))
        return outcomes

    def _write_collection(self, batch: list[RecordUpdate]) -> list[WriteOutcome]:
        return write_checked(batch, self._send_collection, self._read_back, self.policy)

    def _send_collection(self, batch: list[RecordUpdate]) -> list[WriteOutcome]:
        records = [{"attributes": {"type": u.object_type}, "id": u.id,
                    **{k: to_salesforce(u.type_of(k), v) for k, v in u.values.items()}} for u in batch]
        try:
            results = self.sf.restful("composite/sobjects", method="PATCH", headers=NO_ASSIGN,
                                      json={"allOrNone": False, "records": records})
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise LostAnswer(str(exc)) from exc
        except SalesforceError as exc:
            if exc.status >= 500:
                raise LostAnswer(str(exc.content)) from exc
            raise CrmError(f"Salesforce refused the batch: {exc.status} {exc.content}") from exc
        return [WriteOutcome(u.id, bool(r.get("success")), None if r.get("success") else
                             "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in r.get("errors") or []))
                for u, r in zip(batch, results)]

    def _read_back(self, batch: list[RecordUpdate]) -> dict:
        """id -> current values of the fields a batch writes (one query per object type)."""
        current: dict = {}
        for object_type in sorted({u.object_type for u in batch}):
            part = [u for u in batch if u.object_type == object_type]
            names = sorted({k for u in part for k in u.values})
            ids = ", ".join(soql_quote(u.id) for u in part)
            for row in self._query(f"SELECT Id, {', '.join(names)} FROM {object_type} WHERE Id IN ({ids})"):
                current[row["Id"]] = dict(row)
        return current

    def list_owners(self) -> list[Owner]:
        return [Owner(r["Id"], r.get("Email") or "", r.get("Name") or "", bool(r.get("IsActive")))
                for r in self._query("SELECT Id, Email, Name, IsActive FROM User WHERE IsActive = true")]

    def set_owner(self, object_type: str, record_id: str, owner_id: str) -> None:
        self._call(lambda: self.sf.restful(f"sobjects/{object_type}/{record_id}", method="PATCH", headers=NO_ASSIGN,
                                           json={"OwnerId": owner_id}))

    def create_task(self, task: TaskRequest) -> str:
        """Upsert the task on its key (an External ID field on Activity): a retry after a lost answer updates
        the task the first try made instead of making a second one.

        An upsert overwrites every field it sends, Status included, so a task the rep has completed would be
        reopened by a resend: each attempt looks the key up first and leaves a task that exists untouched."""
        self.ensure_task_key()
        key = task_key(task)
        body = {"Subject": task.subject, "Description": task.body, "ActivityDate": task.due, "Status": "Not Started",
                "Priority": task.priority, "OwnerId": task.owner_id, "WhoId": task.who_id}
        if task.what_id and task.who_object != "Lead":
            body["WhatId"] = task.what_id  # must stay empty on a lead's task (Object Reference: Task)
        path = f"sobjects/Task/{TASK_KEY}/{requests.utils.quote(key, safe='')}"
        last = None
        for attempt in range(self.policy.attempts):
            try:
                found = self.existing_tasks([key]).get(key)
                if found:
                    return found
                return self.sf.restful(path, method="PATCH", json={k: v for k, v in body.items() if v is not None})["id"]
            except SalesforceError as exc:
                if exc.status not in (500, 502, 503, 504):
                    raise CrmError(f"Salesforce refused the task: {exc.status} {exc.content}") from exc
                last = exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = exc
            self.policy.sleep(self.policy.delay(attempt))
        raise CrmError(f"Salesforce task upsert kept failing: {last}")

    def existing_tasks(self, keys: list[str]) -> dict:
        """key -> Task id of the tasks that exist, by SOQL (current, unlike search), 200 keys a query."""
        found: dict = {}
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), COLLECTION):
            values = ", ".join(soql_quote(k) for k in wanted[start:start + COLLECTION])
            for row in self._query(f"SELECT Id, {TASK_KEY} FROM Task WHERE {TASK_KEY} IN ({values})"):
                found.setdefault(row[TASK_KEY], row["Id"])
        return found

    def ensure_task_key(self) -> bool:
        """Create the External ID field on Activity that keys our tasks, readable and editable by the
        integration user; True when it was created. Checked once per adapter."""
        if getattr(self, "_task_key_ready", False):
            return False
        created = TASK_KEY not in self._custom_field_names("Activity") and self.create_custom_field(
            "Activity", TASK_KEY, {"type": "Text", "length": 80, "label": "PQL task key", "externalId": True})
        self.grant_access([("Activity", TASK_KEY)])
        self._task_key_ready = True
        return created

    def refresh_limits(self) -> dict:
        """GET limits/ (one call): the daily API allocation and what is left of it."""
        daily = self._call(lambda: self.sf.limits())["DailyApiRequests"]
        self.counter.limits["DailyApiRequests"] = f"{daily['Remaining']} of {daily['Max']} remaining"
        return daily

    # --- helpers
    def _create_once(self, object_type: str, body: dict, lookup: str, check_first: bool = False) -> str:
        """Create a record; after a lost answer look it up first, so a retry never makes a second one."""
        for attempt in range(self.policy.attempts):
            if check_first or attempt:
                found = list(self._query(lookup))
                if found:
                    return found[0]["Id"]
            try:
                return self.sf.restful(f"sobjects/{object_type}", method="POST", json=body)["id"]
            except SalesforceError as exc:
                if exc.status not in (500, 502, 503, 504):
                    raise CrmError(f"creating a {object_type} failed: {exc.content}") from exc
            except (requests.ConnectionError, requests.Timeout):
                pass  # the answer was lost: the lookup at the top of the next attempt decides
            self.policy.sleep(self.policy.delay(attempt))
        raise CrmError(f"creating a {object_type} kept failing")

    def _call(self, fn):
        try:
            return fn()
        except SalesforceError as exc:
            raise CrmError(f"Salesforce refused the call: {exc.status} {exc.content}") from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise CrmError(f"Salesforce unreachable after retries: {exc}") from exc
