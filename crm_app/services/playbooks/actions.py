"""The external call of each action type: assign, create a task, set a field, post a Slack alert.

Each sender gets the ledger entry and whether an earlier try may have gone through (in doubt); it returns
the result to record or raises (dispatch decides what the exception means for the entry)."""
from __future__ import annotations

import uuid

from crm_app.crm.base import RecordUpdate, TaskRequest
from crm_app.services.playbooks.alert_batch import alert_channel, alert_row, rep_choices
from crm_app.services.playbooks.runtime import Runtime
from crm_app.services.playbooks.targets import ACCOUNT, resolve_target
from crm_app.slack.blocks import alert_blocks
from crm_app.store.meta import first_meta
from crm_app.store.playbooks import alerts as alert_store


class Permanent(Exception):
    """Retrying cannot help (e.g. no owner was decided); the entry is marked dead with the reason."""


class InDoubt(Permanent):
    """The destination cannot tell whether an earlier attempt went through; a human must look."""


def owner_id(rt: Runtime, email: str) -> str:
    """The CRM owner id of a rep, matched by email."""
    if email not in rt.owners:
        rt.owners.update({o.email.lower(): o.id for o in rt.adapter.list_owners() if o.active})
    if email not in rt.owners:
        raise LookupError(f"no active CRM owner has the email {email}")
    return rt.owners[email]


def _assign(rt: Runtime, entry: dict, in_doubt: bool) -> dict:
    p, target = entry["payload"], resolve_target(rt, entry)
    rt.adapter.set_owner(target.object_type, target.record_id, owner_id(rt, p["owner"]))  # idempotent
    return {"owner": p["owner"], "strategy": p["strategy"], "object": target.object_type, "id": target.record_id}


def _task(rt: Runtime, entry: dict, in_doubt: bool) -> dict:
    p, ref = entry["payload"], f"pql-ledger-{entry['id']}"
    if in_doubt and not getattr(rt.adapter, "tasks_keyed", False):  # a keyed create may simply be sent again
        finder = getattr(rt.adapter, "find_task", None)
        if finder is None:
            raise InDoubt(f"task {ref} may exist; this CRM adapter cannot look tasks up, so check by hand")
        found = finder(ref)
        if found:
            return {"task_id": found, "recovered": True}
    target = resolve_target(rt, entry)
    person = target.kind != ACCOUNT
    task = TaskRequest(subject=p["subject"], body=f"{p['body']}\n\nRef: {ref}", due=p["due"],
                       owner_id=owner_id(rt, p["owner"]) if p.get("owner") else None,
                       who_object=target.object_type if person else None,
                       who_id=target.record_id if person else None,
                       what_id=None if person else target.record_id, priority=p["priority"],
                       key=f"{install_id(rt)}-{ref}")
    return {"task_id": rt.adapter.create_task(task), "object": target.object_type, "id": target.record_id}


def install_id(rt: Runtime) -> str:
    """This store's own id, made once: task keys carry it, so a new store (ledger ids from 1 again) sending
    to the same CRM never matches a task an earlier store made."""
    if not rt.install_id:
        with rt.store.begin() as conn:
            rt.install_id = first_meta(conn, "install_id", uuid.uuid4().hex[:12])
    return rt.install_id


def _set_field(rt: Runtime, entry: dict, in_doubt: bool) -> dict:
    p, target = entry["payload"], resolve_target(rt, entry)
    out = rt.adapter.write_values([RecordUpdate(target.object_type, target.record_id, {p["field"]: p["value"]})])
    if out and not out[0].ok:
        raise RuntimeError(out[0].error or "write refused")
    return {"field": p["field"]}


def _slack(rt: Runtime, entry: dict, in_doubt: bool) -> dict:
    p, ref = entry["payload"], f"pql-ledger-{entry['id']}"
    channel = alert_channel(rt, p, Permanent)
    alert = alert_row(rt, entry)
    # chat.postMessage takes no idempotency key: any earlier try (a crash, a timeout, a dropped answer) may have
    # posted, so a retry first looks for this ref in the message metadata of the channel's recent history.
    if in_doubt or entry["attempts"] > 0:
        found = rt.sender.find(channel, ref)
        if found:
            return _posted(rt, alert["id"], found, recovered=True)
    blocks = alert_blocks(p["context"], alert["id"], rep_choices(rt))
    return _posted(rt, alert["id"], rt.sender.post(channel, p["text"], blocks, ref))


def _posted(rt: Runtime, alert_id: int, where: dict, recovered: bool = False) -> dict:
    with rt.store.begin() as conn:
        alert_store.set_posted(conn, alert_id, where["channel"], where["ts"])
    return {"alert_id": alert_id, **where, **({"recovered": True} if recovered else {})}


SENDERS = {"assign": _assign, "create_task": _task, "set_field": _set_field, "slack_alert": _slack}
