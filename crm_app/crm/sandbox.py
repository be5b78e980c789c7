"""The embedded sandbox CRM: a SQLite file managed with sqlite-utils, standing in for Salesforce or HubSpot.

It holds leads, contacts, accounts, owners and tasks. Provisioning a field adds a real column. Every record
carries modified_at (a watermark like SystemModstamp) and modified_by, so the sandbox behaves like the vendors
where it matters to the services: incremental reads, batched writes and counted calls.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlite_utils

from crm_app.crm.base import CallCounter, CrmError, CrmRecord, FieldInfo, Owner, RecordUpdate, TaskRequest, WriteOutcome
from crm_app.crm.values import canonical

OBJECTS = {
    "accounts": {"id": str, "name": str, "domain": str, "industry": str, "employees": int, "country": str,
                 "owner_id": str, "modified_at": str, "modified_by": str},
    "contacts": {"id": str, "email": str, "first_name": str, "last_name": str, "title": str, "country": str,
                 "account_id": str, "owner_id": str, "modified_at": str, "modified_by": str},
    "leads": {"id": str, "email": str, "first_name": str, "last_name": str, "title": str, "company": str,
              "industry": str, "employees": int, "country": str, "owner_id": str, "modified_at": str,
              "modified_by": str},
}
SF_TO_SANDBOX = {"Lead": "leads", "Contact": "contacts", "Account": "accounts"}
HS_TO_SANDBOX = {"contacts": "contacts", "companies": "accounts"}
_COLUMN_TYPES = {"number": float, "boolean": int}
_STANDARD_TYPES = {str: "text", int: "number", float: "number"}
BATCH = 200  # the sandbox mimics Salesforce's collection size so call counts compare


def now_iso() -> str:
    """A sortable watermark with microseconds, like SystemModstamp but finer."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SandboxCrm:
    """CRM adapter over a local SQLite file."""

    name = "sandbox"
    tasks_keyed = True  # create_task with a key never makes a second task
    user = "integration"

    def __init__(self, path: str):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no var/ yet
        self.counter = CallCounter()
        self._local = threading.local()
        self.ensure_schema()

    @property
    def db(self) -> sqlite_utils.Database:
        """One connection per thread (sqlite3 binds a connection to its thread)."""
        if getattr(self._local, "db", None) is None:
            self._local.db = sqlite_utils.Database(self.path)
            self._local.db.execute("PRAGMA busy_timeout=30000")
            # sqlite-utils commits each statement unless a transaction is open: writes use db.atomic().
            self._local.db.execute("PRAGMA journal_mode=WAL")
            self._local.db.execute("PRAGMA synchronous=NORMAL")
        return self._local.db

    def ensure_schema(self) -> None:
        """Create the sandbox tables that do not exist yet."""
        db = self.db
        for table, columns in OBJECTS.items():
            if not db[table].exists():
                db[table].create(columns, pk="id")
                db[table].create_index(["modified_at"])
        if not db["owners"].exists():
            db["owners"].create({"id": str, "email": str, "name": str, "active": int}, pk="id")
        if not db["tasks"].exists():
            db["tasks"].create({"id": str, "subject": str, "body": str, "due": str, "owner_id": str,
                                "who_object": str, "who_id": str, "what_id": str, "priority": str,
                                "status": str, "created_at": str}, pk="id")
        if not db["_fields"].exists():
            db["_fields"].create({"object_type": str, "name": str, "type": str, "label": str, "options": str},
                                 pk=("object_type", "name"))

    # --- provisioning
    def field_targets(self, spec) -> list[tuple[str, str]]:
        """(object, column) pairs a field spec lands on in the sandbox."""
        if spec.salesforce_objects:
            objects = [SF_TO_SANDBOX[o] for o in spec.salesforce_objects]
        elif spec.hubspot_object:
            objects = [HS_TO_SANDBOX[spec.hubspot_object]]
        else:
            objects = ["contacts", "leads"]
        return [(o, spec.sandbox_column) for o in objects]

    def describe_fields(self, object_type: str) -> dict[str, FieldInfo]:
        self.counter.count("describe")
        self._check_object(object_type)
        custom = {r["name"]: r for r in self.db["_fields"].rows_where("object_type = ?", [object_type])}
        out = {}
        for column in self.db[object_type].columns:
            if column.name in custom:
                r = custom[column.name]
                out[column.name] = FieldInfo(column.name, r["type"], r["label"], tuple(json.loads(r["options"])))
            else:
                out[column.name] = FieldInfo(column.name, _STANDARD_TYPES.get(OBJECTS[object_type].get(column.name),
                                                                              "text"))
        return out

    def create_field(self, object_type: str, spec) -> None:
        self.counter.count("create-field")
        self._check_object(object_type)
        name = spec.sandbox_column
        with self.db.atomic():
            if name not in self.db[object_type].columns_dict:
                self.db[object_type].add_column(name, _COLUMN_TYPES.get(spec.type, str))
            self.db["_fields"].upsert({"object_type": object_type, "name": name, "type": spec.type,
                                       "label": spec.label, "options": json.dumps(list(spec.options))},
                                      pk=("object_type", "name"))

    # --- reads
    def read_changed(self, object_type: str, since: str | None,
                     fields: list[str] | None = None) -> Iterator[CrmRecord]:
        self._check_object(object_type)
        types = {n: f.type for n, f in self.describe_fields(object_type).items()}
        stamp, _, last_id = (since or "").partition("|")
        # A keyset on (modified_at, id): the watermark's own instant is never read again.
        where, args = ("modified_at > ? OR (modified_at = ? AND id > ?)", [stamp, stamp, last_id]) if since \
            else (None, [])
        self.counter.count("query")
        for row in self.db[object_type].rows_where(where, args, order_by="modified_at, id"):
            keep = fields or list(row)
            values = {k: canonical(types.get(k, "text"), row.get(k)) for k in keep if k in row}
            yield CrmRecord(object_type, row["id"], values, f"{row['modified_at']}|{row['id']}")

    # --- writes
    def write_values(self, updates: list[RecordUpdate]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(updates), BATCH):
            self.counter.count("write")
            outcomes.extend(self._write_batch(updates[start:start + BATCH]))
        return outcomes

    def _write_batch(self, batch: list[RecordUpdate]) -> list[WriteOutcome]:
        outcomes = []
        stamp = now_iso()
        columns: dict = {}  # one PRAGMA table_info per table and batch, not per record
        with self.db.atomic():
            for update in batch:
                if update.object_type not in columns:
                    columns[update.object_type] = self.db[update.object_type].columns_dict
                missing = [k for k in update.values if k not in columns[update.object_type]]
                if missing:
                    outcomes.append(WriteOutcome(update.id, False, f"no such field: {', '.join(missing)}"))
                    continue
                values = {k: (int(v) if isinstance(v, bool) else v) for k, v in update.values.items()}
                cursor = self.db.execute(
                    f"UPDATE [{update.object_type}] SET "
                    + ", ".join(f"[{k}] = ?" for k in values) + ", modified_at = ?, modified_by = ? WHERE id = ?",
                    [*values.values(), stamp, self.user, update.id])
                ok = cursor.rowcount == 1
                outcomes.append(WriteOutcome(update.id, ok, None if ok else "record not found"))
        return outcomes

    # --- records for product users (creation is keyed by the product user id, so a retry finds its record)
    def find_people_by_email(self, emails: list[str]) -> dict:
        """lower-cased email -> (object, id): contacts first, then leads."""
        self.counter.count("query")
        wanted = sorted({e.lower() for e in emails if e})
        found: dict = {}
        for table in ("leads", "contacts"):
            for start in range(0, len(wanted), 900):
                part = wanted[start:start + 900]
                rows = self.db.execute(f"SELECT id, lower(email) FROM [{table}] WHERE lower(email) IN "
                                       f"({', '.join('?' * len(part))})", part).fetchall()
                found.update({email: (table, record_id) for record_id, email in rows})
        return found

    def ensure_external_id(self, object_type: str, field: str) -> bool:
        self._check_object(object_type)
        if field in self.db[object_type].columns_dict:
            return False
        self.counter.count("create-field")
        with self.db.atomic():
            self.db[object_type].add_column(field, str)
            self.db[object_type].create_index([field], unique=True, if_not_exists=True)
        return True

    def upsert_people(self, object_type: str, field: str, rows: list[tuple[str, dict]]) -> list[WriteOutcome]:
        self._check_object(object_type)
        prefix = {"leads": "LEAD-P", "contacts": "CON-P"}.get(object_type, "REC-P")
        outcomes = []
        stamp = now_iso()
        columns = self.db[object_type].columns_dict
        for start in range(0, len(rows), BATCH):
            self.counter.count("write")
            part = rows[start:start + BATCH]
            with self.db.atomic():
                existing = dict(self.db.execute(
                    f"SELECT [{field}], id FROM [{object_type}] WHERE [{field}] IN ({', '.join('?' * len(part))})",
                    [external for external, _ in part]).fetchall())
                for external, values in part:  # one upsert each: a record sets only the fields it has values for
                    record_id = existing.get(external) or f"{prefix}{uuid.uuid4().hex[:10]}"
                    known = {k: v for k, v in values.items() if k in columns}
                    self.db[object_type].upsert({"id": record_id, field: external, **known, "modified_at": stamp,
                                                 "modified_by": self.user}, pk="id")
                    outcomes.append(WriteOutcome(record_id, True))
        return outcomes

    def list_owners(self) -> list[Owner]:
        self.counter.count("owners")
        return [Owner(r["id"], r["email"], r["name"] or "", bool(r["active"]))
                for r in self.db["owners"].rows_where(order_by="id")]

    def set_owner(self, object_type: str, record_id: str, owner_id: str) -> None:
        self.counter.count("write")
        self._check_object(object_type)
        cursor = self.db.execute(f"UPDATE [{object_type}] SET owner_id = ?, modified_at = ?, modified_by = ? "
                                 "WHERE id = ?", [owner_id, now_iso(), self.user, record_id])
        self.db.conn.commit()
        if cursor.rowcount != 1:
            raise CrmError(f"{object_type} {record_id} not found")

    def create_task(self, task: TaskRequest) -> str:
        """A task keyed by `task.key` is made once: sending it again returns the first one."""
        self.counter.count("tasks")
        task_id = f"task-{task.key}" if task.key else "task-" + uuid.uuid4().hex[:12]
        with self.db.atomic():
            self.db["tasks"].insert({"id": task_id, "subject": task.subject, "body": task.body, "due": task.due,
                                     "owner_id": task.owner_id, "who_object": task.who_object,
                                     "who_id": task.who_id, "what_id": task.what_id, "priority": task.priority,
                                     "status": "Not Started", "created_at": now_iso()}, ignore=True)
        return task_id

    def find_task(self, ref: str) -> str | None:
        """The task whose body carries this reference (playbooks' in-doubt check after a crash), if any."""
        self.counter.count("query")
        row = self.db.execute("SELECT id FROM tasks WHERE instr(body, ?) > 0 LIMIT 1", [ref]).fetchone()
        return row[0] if row else None

    def _check_object(self, object_type: str) -> None:
        if object_type not in OBJECTS:
            raise CrmError(f"the sandbox has no object {object_type!r}; use one of: {', '.join(OBJECTS)}")
