"""The one small interface every CRM adapter implements. Adapters never import the engine, store or Flask."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterator, Protocol


@dataclass(frozen=True)
class FieldInfo:
    """A field as the CRM describes it."""

    name: str
    type: str  # our FIELD_TYPES vocabulary (number, boolean, date, datetime, text, long_text, picklist)
    label: str = ""
    options: tuple = ()


@dataclass(frozen=True)
class CrmRecord:
    """A person or account read from the CRM, with the watermark value it was changed at."""

    object_type: str  # Lead | Contact | Account | contacts | companies | leads (sandbox)
    id: str
    values: dict
    modified_at: str
    # What the CRM did to the record: ("deleted", None), ("merged", survivor id) or ("converted", contact id).
    event: tuple | None = None
    merged_from: tuple = ()  # ids merged into this record that now resolve to it (HubSpot merges)


@dataclass(frozen=True)
class RecordUpdate:
    """Canonical values for one record; `types` (field -> our type) is shared by a batch, inferred if absent."""

    object_type: str
    id: str
    values: dict
    types: dict = field(default_factory=dict, compare=False, repr=False)

    def type_of(self, name: str) -> str:
        """Our type of a field: as given, else inferred from the Python value."""
        if name in self.types:
            return self.types[name]
        value = self.values.get(name)
        return "boolean" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else "text"


@dataclass(frozen=True)
class WriteOutcome:
    id: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Owner:
    id: str
    email: str
    name: str = ""
    active: bool = True


@dataclass(frozen=True)
class TaskRequest:
    subject: str
    body: str
    due: str  # ISO date
    owner_id: str | None
    who_object: str | None  # Lead | Contact | contacts
    who_id: str | None
    what_id: str | None = None  # account / company
    priority: str = "Normal"
    # Why: a create whose answer was lost (reset, timeout, 5xx) may have happened. The adapters upsert the
    # task on this key (an External ID / unique-value field), so a retry updates the task the first try made.
    key: str | None = None


def task_key(task: TaskRequest) -> str:
    """The task's own key, else one derived from what makes it the same task (record, subject, due)."""
    if task.key:
        return task.key
    seed = "|".join(str(x) for x in (task.who_id, task.what_id, task.subject, task.due))
    return "pql-" + hashlib.sha256(seed.encode()).hexdigest()[:32]


@dataclass
class CallCounter:
    """API calls used, per endpoint family (every attempt, retries included), and the last limit headers."""

    calls: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)

    def count(self, family: str, n: int = 1) -> None:
        self.calls[family] = self.calls.get(family, 0) + n

    def total(self) -> int:
        return sum(self.calls.values())

    def take(self) -> dict:
        """The calls counted so far, resetting the counter (one operation's share)."""
        taken, self.calls = self.calls, {}
        return taken


class CrmError(Exception):
    """A CRM call failed for good (after retries), or the CRM refused a request as malformed."""


class CrmAdapter(Protocol):
    """What the services need from a CRM. Batching, retries and limits live inside each adapter."""

    name: str
    counter: CallCounter

    def field_targets(self, spec) -> list[tuple[str, str]]:
        """(object type, field name) pairs a field spec lands on in this CRM."""
        ...

    def describe_fields(self, object_type: str) -> dict[str, FieldInfo]:
        """Fields as the CRM shows them to us; a field hidden from the integration user has type 'hidden'."""
        ...

    def create_field(self, object_type: str, spec) -> None: ...

    def read_changed(self, object_type: str, since: str | None,
                     fields: list[str] | None = None) -> Iterator[CrmRecord]: ...

    def write_values(self, updates: list[RecordUpdate]) -> list[WriteOutcome]:
        """Write canonical values (see crm/values.py); one outcome per update, in order."""
        ...

    def list_owners(self) -> list[Owner]: ...

    def set_owner(self, object_type: str, record_id: str, owner_id: str) -> None: ...

    def create_task(self, task: TaskRequest) -> str: ...
