"""A hand-written in-memory CRM implementing crm.base.CrmAdapter, for playbook tests that need no real
adapter. Not a mock: it keeps records, owners and tasks, and can be told to fail the next calls."""
from __future__ import annotations

import itertools
import threading

from crm_app.crm.base import CallCounter, Owner, TaskRequest, WriteOutcome


class FakeCrm:
    name = "fake"

    def __init__(self, owners: list[str] = ()):
        self.counter = CallCounter()
        self.owners = [Owner(id=f"005{i:05d}", email=e, name=e.split("@")[0]) for i, e in enumerate(owners)]
        self.records: dict = {}  # (object, id) -> values
        self.tasks: dict = {}  # task id -> TaskRequest
        self.owner_changes: list = []  # (object, id, owner id), every set_owner call
        self.fail_next: dict = {}  # method -> how many coming calls raise
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _maybe_fail(self, method: str) -> None:
        if self.fail_next.get(method, 0) > 0:
            self.fail_next[method] -= 1
            raise ConnectionError(f"{method}: the CRM is unavailable (injected)")

    def describe_fields(self, object_type: str) -> dict:
        return {}

    def create_field(self, object_type: str, spec) -> None:
        raise NotImplementedError

    def read_changed(self, object_type: str, since):
        return iter(())

    def write_values(self, updates: list) -> list:
        self._maybe_fail("write_values")
        self.counter.count("write")
        with self._lock:
            for u in updates:
                self.records.setdefault((u.object_type, u.id), {}).update(u.values)
        return [WriteOutcome(u.id, True) for u in updates]

    def list_owners(self) -> list:
        self.counter.count("owners")
        return list(self.owners)

    def set_owner(self, object_type: str, record_id: str, owner_id: str) -> None:
        self._maybe_fail("set_owner")
        self.counter.count("set_owner")
        with self._lock:
            self.records.setdefault((object_type, record_id), {})["OwnerId"] = owner_id
            self.owner_changes.append((object_type, record_id, owner_id))

    def create_task(self, task: TaskRequest) -> str:
        self._maybe_fail("create_task")
        self.counter.count("create_task")
        with self._lock:
            task_id = f"00T{next(self._ids):06d}"
            self.tasks[task_id] = task
        return task_id

    def find_task(self, ref: str) -> str | None:
        """The task whose body carries this ledger ref (Salesforce: SOQL on Description; HubSpot: search)."""
        self.counter.count("find_task")
        return next((tid for tid, t in self.tasks.items() if ref in t.body), None)

    def owner_email(self, owner_id: str) -> str | None:
        return next((o.email for o in self.owners if o.id == owner_id), None)
