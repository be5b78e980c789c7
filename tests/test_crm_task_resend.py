"""A playbook task sent again (a retry, or a resend after a crash between the CRM call and the ledger update)
never reopens the task a rep has completed, on the sandbox and the Salesforce and HubSpot emulators.

The emulators do what the vendors' upserts do: every field sent is overwritten, Status included (checked
below), so the adapters must not send a task that exists again.
"""
from __future__ import annotations

import pytest

from crm_app.crm.base import TaskRequest
from tests import crm_world as w
from tests.crm_world import hs_server, sf_server, tls  # noqa: F401 - fixtures
from tests.test_crm_create import adapter_for

# kind: (object the task is on, the status a rep sets, the status a new task gets)
KINDS = {
    "sandbox": ("leads", "Completed", "Not Started"),
    "salesforce": ("Lead", "Completed", "Not Started"),
    "hubspot": ("contacts", "COMPLETED", "NOT_STARTED"),
}


def who(kind: str, crm, server) -> str:
    if kind == "sandbox":
        crm.db["leads"].insert({"id": "LEAD-1", "email": "t@corp.io", "modified_at": "x"})
        return "LEAD-1"
    if kind == "salesforce":
        return server.app.insert("Lead", {"LastName": "Trial", "Company": "Corp", "Email": "t@corp.io"})
    return server.app.insert("contacts", {"email": "t@corp.io"})


def tasks(kind: str, crm, server) -> dict:
    """Task id -> status, read from the CRM's own state."""
    if kind == "sandbox":
        return {r["id"]: r["status"] for r in crm.db["tasks"].rows}
    if kind == "salesforce":
        return {t["Id"]: t["Status"] for t in server.app.live("Task")}
    return {t["id"]: t["properties"].get("hs_task_status") for t in server.app.live("tasks")}


def set_status(kind: str, crm, server, task_id: str, status: str) -> None:
    """What a rep does in the CRM's UI."""
    if kind == "sandbox":
        with crm.db.conn:
            crm.db.execute("UPDATE tasks SET status = ? WHERE id = ?", [status, task_id])
    elif kind == "salesforce":
        crm.sf.restful(f"sobjects/Task/{task_id}", method="PATCH", json={"Status": status})
    else:
        emu = server.app
        assert emu._apply("tasks", emu.live_record("tasks", task_id), {"hs_task_status": status}) is None


def request_for(kind: str, record_id: str, key: str = "inst-pql-ledger-7") -> TaskRequest:
    return TaskRequest(subject="Follow up", body="Ref: pql-ledger-7", due="2026-12-05", owner_id=None,
                       who_object=KINDS[kind][0], who_id=record_id, key=key)


@pytest.mark.parametrize("kind", KINDS)
def test_a_completed_task_stays_completed_when_its_action_is_sent_again(kind, request, tls, tmp_path):
    crm, server = adapter_for(kind, request, tls, tmp_path)
    _, done, new = KINDS[kind]
    task = request_for(kind, who(kind, crm, server))
    first = crm.create_task(task)
    assert tasks(kind, crm, server) == {first: new}
    set_status(kind, crm, server, first, done)
    again = crm.create_task(task)  # the resend
    assert again == first and tasks(kind, crm, server) == {first: done}
    other = crm.create_task(request_for(kind, task.who_id, key="inst-pql-ledger-8"))  # a new action still lands
    assert tasks(kind, crm, server) == {first: done, other: new}


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_the_emulators_upsert_overwrites_the_status_it_is_sent(kind, request, tls, tmp_path):
    """The vendors' rule the adapters work around: an upsert that sends the status reopens the task."""
    crm, server = adapter_for(kind, request, tls, tmp_path)
    _, done, new = KINDS[kind]
    task = request_for(kind, who(kind, crm, server))
    first = crm.create_task(task)
    set_status(kind, crm, server, first, done)
    if kind == "salesforce":
        crm.sf.restful("sobjects/Task/PQL_Task_Key__c/inst-pql-ledger-7", method="PATCH", json={"Status": new})
    else:
        crm._upsert_part("tasks", "pql_task_key", [("inst-pql-ledger-7", {"hs_task_status": new})])
    assert tasks(kind, crm, server) == {first: new}
    if kind == "salesforce":  # a field that is not sent keeps its value
        crm.sf.restful("sobjects/Task/PQL_Task_Key__c/inst-pql-ledger-7", method="PATCH", json={"Subject": "x"})
        assert tasks(kind, crm, server) == {first: new}


@pytest.mark.parametrize("kind,calls", [("salesforce", 2), ("hubspot", 3)])
def test_existing_tasks_are_looked_up_set_wise(kind, calls, request, tls, tmp_path):
    crm, server = adapter_for(kind, request, tls, tmp_path)
    crm.policy.sleep = w.no_sleep
    record_id = who(kind, crm, server)
    made = {crm.create_task(request_for(kind, record_id, key=f"k-{i}")): f"k-{i}" for i in range(0, 250, 2)}
    server.calls.clear()
    found = crm.existing_tasks([f"k-{i}" for i in range(250)])
    assert found == {key: task_id for task_id, key in made.items()}
    assert len(server.calls) == calls  # 200 keys a SOQL query, 100 a HubSpot batch read
