"""HubSpot tasks that a retry cannot duplicate, and contacts associated with their companies.

A task is created by a batch upsert on a unique-value task property holding its key (HubSpot documents
"Create or update a batch of tasks by unique property values"), so a retry after a lost answer updates the
task the first try made. A batch read by that property first finds the tasks that exist, which are not sent
again (the upsert would reset their status); search, whose index trails writes by seconds, is never asked.
The upsert takes no associations, so the task is then associated with its contact or company through the
v4 default association (PUT), which is a no-op when it exists already.

New contacts are associated with their company in one v4 batch call per 100 pairs, with the unlabeled
(279) and the primary (1) contact-to-company types, so the company becomes the contact's primary company.
"""
from __future__ import annotations

import json

import urllib3

from crm_app.crm.base import CrmError, TaskRequest, task_key
from crm_app.crm.values import epoch_ms

TASK_KEY = "pql_task_key"
TASK_KEY_LABEL = "PQL task key"
ASSOCIATION_BATCH = 100
READ_BATCH = 100  # inputs a batch read takes
CONTACT_TO_COMPANY = (279, 1)  # unlabeled and primary (Associations v4, "Association type ID values")
PRIORITY = {"Low": "LOW", "Normal": "MEDIUM", "High": "HIGH"}
RETRIED = (0, 429, 500, 502, 503, 504)


class HubSpotTasks:
    """Mixed into HubSpotCrm: needs its `client`, `batch_api`, `core_api`, `policy`, `_call`, `_exists`,
    `_ensure_group`, `_create_once` and `_upsert_part` (HubSpotPeople)."""

    def _associations_api(self):
        if getattr(self, "_v4_batch", None) is None:
            self._v4_batch = self.client.crm.associations.v4.batch_api
            self._v4_basic = self.client.crm.associations.v4.basic_api
        return self._v4_batch, self._v4_basic

    def ensure_task_key(self) -> bool:
        """Create the unique-value task property that keys our tasks; True when it was created."""
        if getattr(self, "_task_key_ready", False):
            return False
        created = not self._exists(lambda: self.core_api.get_by_name("tasks", TASK_KEY))
        if created:
            self._ensure_group("tasks")
            body = {"name": TASK_KEY, "label": TASK_KEY_LABEL, "type": "string", "fieldType": "text",
                    "groupName": self.property_group, "hasUniqueValue": True,
                    "description": "PQL scoring engine: the playbook action this task was created for"}
            self._create_once(lambda: self.core_api.create("tasks", body),
                              lambda: self._exists(lambda: self.core_api.get_by_name("tasks", TASK_KEY)))
        self._task_key_ready = True
        return created

    def create_task(self, task: TaskRequest) -> str:
        """Upsert the task by its key unless it exists, then associate it with its contact or company; returns
        the task id. An upsert overwrites the properties it sends, hs_task_status included, so a task that
        exists (the rep may have completed it) is not sent again; its associations are, as they may be missing
        when the first try stopped between the upsert and the association."""
        self.ensure_task_key()
        key = task_key(task)
        task_id = self.existing_tasks([key]).get(key)
        if task_id is None:
            props = {"hs_timestamp": str(epoch_ms(f"{task.due}T00:00:00Z")), "hs_task_subject": task.subject,
                     "hs_task_body": task.body, "hs_task_status": "NOT_STARTED",
                     "hs_task_priority": PRIORITY.get(task.priority, "MEDIUM"), "hs_task_type": "TODO"}
            if task.owner_id:
                props["hubspot_owner_id"] = task.owner_id
            (outcome,) = self._upsert_part("tasks", TASK_KEY, [(key, props)])
            if not outcome.ok:
                raise CrmError(f"HubSpot refused the task: {outcome.error}")
            task_id = outcome.id
        _, basic = self._associations_api()
        for to_type, to_id in (("contacts", task.who_id), ("companies", task.what_id)):
            if to_id:
                self._repeat(lambda: basic.create_default("tasks", task_id, to_type, to_id,
                                                          _preload_content=False))
        return task_id

    def existing_tasks(self, keys: list[str]) -> dict:
        """key -> task id of the tasks that exist: a batch read by the key property, 100 keys a call (current,
        unlike search)."""
        found: dict = {}
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), READ_BATCH):
            body = {"idProperty": TASK_KEY, "inputs": [{"id": k} for k in wanted[start:start + READ_BATCH]],
                    "properties": [TASK_KEY]}
            raw = self._call(lambda: self.batch_api.read("tasks", body, _preload_content=False))
            for record in json.loads(raw.data or b"{}").get("results") or []:
                value = (record.get("properties") or {}).get(TASK_KEY)
                if value:
                    found.setdefault(value, str(record["id"]))
        return found

    def associate_companies(self, pairs: list[tuple[str, str]]) -> int:
        """Associate each (contact id, company id) pair, 100 a call; returns how many pairs were sent."""
        batch, _ = self._associations_api()
        types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t} for t in CONTACT_TO_COMPANY]
        for start in range(0, len(pairs), ASSOCIATION_BATCH):
            body = {"inputs": [{"from": {"id": c}, "to": {"id": k}, "types": types}
                               for c, k in pairs[start:start + ASSOCIATION_BATCH]]}
            raw = self._repeat(lambda: batch.create("contacts", "companies", body, _preload_content=False))
            result = json.loads(raw.data or b"{}")
            if result.get("errors"):
                first = result["errors"][0]
                raise CrmError(f"HubSpot refused {len(result['errors'])} contact-company association(s): "
                               f"{first.get('category')}: {first.get('message')}")
        return len(pairs)

    def _repeat(self, call):
        """A call that may be repeated (creating an association that exists changes nothing)."""
        last = None
        for attempt in range(self.policy.attempts):
            try:
                return call()
            except urllib3.exceptions.HTTPError as exc:
                last = exc
            except Exception as exc:  # the SDK raises ApiException with a status
                status = getattr(exc, "status", None)
                if status not in RETRIED:
                    raise CrmError(f"HubSpot refused the association: {status} {getattr(exc, 'body', exc)}") from exc
                last = exc
            self.policy.sleep(self.policy.delay(attempt))
        raise CrmError(f"HubSpot association kept failing: {last}")
