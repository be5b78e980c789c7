"""Where an action lands, decided when it is sent: the CRM record the subject is linked to at that moment.

A person's action goes to their current link (a Lead, or the Contact it was converted to), else to the CRM
id their record carries. An account's action goes to the account's Account or company record; an account is
never looked up among people. A subject with no CRM record yet waits: the entry is retried later.
"""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.services.playbooks.runtime import Runtime
from crm_app.store import people as people_store
from crm_app.store.playbooks import ledger as pb_store

ACCOUNT, PERSON = "account", "person"


class NotLinkedYet(LookupError):
    """The subject has no CRM record yet; sending is retried with backoff until sync or creation links one."""


@dataclass(frozen=True)
class Target:
    kind: str  # account | person
    object_type: str
    record_id: str


def subject_kind(rt: Runtime, entry: dict) -> str:
    """account or person: as planned, else from the model of the entry's playbook."""
    kind = entry["payload"].get("subject")
    if kind in (ACCOUNT, PERSON):
        return kind
    try:
        model = rt.playbooks.get(entry["playbook"]).model
    except StopIteration:
        return PERSON
    known = rt.rules is not None and model in rt.rules.names
    return ACCOUNT if known and rt.rules.model(model).subject == ACCOUNT else PERSON


def prefetch_targets(rt: Runtime, entries: list) -> dict:
    """(kind, subject id) -> Target, or None when the subject has no CRM record, for every subject of the
    entries: the links in one query per kind and the people without one in one read of their records, so
    a dispatch pass looks nothing up one by one."""
    wanted: dict = {}
    for entry in entries:
        wanted.setdefault(subject_kind(rt, entry), set()).add(entry["subject_id"])
    crm, found = getattr(rt.adapter, "name", ""), {}
    with rt.store.read() as conn:
        for kind, ids in wanted.items():
            for sid, (object_type, record_id) in pb_store.linked_records(conn, crm, ids, kind == ACCOUNT).items():
                found[(kind, sid)] = Target(kind, object_type, str(record_id))
            unlinked = sorted(sid for sid in ids if (kind, sid) not in found)
            records = {}
            for start in range(0, len(unlinked) if kind == PERSON else 0, 900):
                records.update(people_store.flat_records(conn, 0, -1, unlinked[start:start + 900]))
            for sid in unlinked:
                found[(kind, sid)] = _record_target(rt, records.get(sid, {}))
    return found


def _record_target(rt: Runtime, record: dict) -> Target | None:
    """The CRM record a person's own record names (its id field), if any."""
    routing = rt.playbooks.routing
    if not record.get(routing.record_id_field):
        return None
    return Target(PERSON, record.get(routing.record_object_field) or routing.default_object,
                  str(record[routing.record_id_field]))


def resolve_target(rt: Runtime, entry: dict) -> Target:
    """The record the entry's action goes to now; NotLinkedYet when there is none."""
    kind = subject_kind(rt, entry)
    key = (kind, entry["subject_id"])
    if key in rt.known_targets:
        known = rt.known_targets[key]
    else:
        crm = getattr(rt.adapter, "name", "")
        with rt.store.read() as conn:
            linked = pb_store.linked_record(conn, crm, entry["subject_id"], account=kind == ACCOUNT)
            if linked:
                return Target(kind, linked[0], str(linked[1]))
            record = (people_store.flat_records(conn, 0, -1, [entry["subject_id"]]).get(entry["subject_id"], {})
                      if kind == PERSON else {})
        known = _record_target(rt, record)
    if known is not None:
        return known
    planned = entry["payload"].get("record_id")
    if planned and kind == ACCOUNT:
        return Target(kind, entry["payload"].get("object"), str(planned))
    raise NotLinkedYet(f"the {kind} has no CRM record yet; the action waits for sync or record creation")
