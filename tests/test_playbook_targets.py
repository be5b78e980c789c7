"""Where playbook actions land: the CRM record the subject is linked to when the action is sent.

Against the Salesforce and HubSpot emulators, which enforce the vendors' rules (an Account never in a Task's
WhoId, association type ids checked per object pair).
"""
from __future__ import annotations

import pytest

from crm_app.errors import ErrorCollector
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.services.playbooks.dispatch import dispatch_due
from crm_app.services.playbooks.plan import plan
from crm_app.specs.loader import SpecDirs, load_spec_set
from crm_app.specs.playbooks import parse_playbook_set
from crm_app.specs.yamlsource import parse_yaml
from crm_app.store import people as people_store
from crm_app.store.crm import crm_links, save_links
from crm_app.store.playbooks import ledger as pb_store
from crm_app.store.scoring import results as results_store
from tests import crm_world as w
from tests.conftest import ROOT
from tests.crm_world import hs_server, sf_server, store, tls  # noqa: F401 - fixtures
from tests.emulators.hubspot_associations import linked
from tests.playbook_support import NOW, playbook_set, routing_yaml, runtime, set_scores

TASK_ONLY = """
playbook: new_pql
trigger: {type: became_pql}
actions:
  - {type: create_task, subject: "Follow up with {{ name }}", due_in: 2d}
"""


def add_person(store, external_id: str = "trial-1") -> int:
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": external_id, "email": f"{external_id}@corp.com",
                                                 "attributes": {"name": "Ada Trial"}}])
    return ids[external_id]


def link(store, crm: str, object_type: str, record_id: str, person_id=None, account_id=None) -> None:
    with store.begin() as conn:
        save_links(conn, [{"crm": crm, "object_type": object_type, "record_id": record_id, "person_id": person_id,
                           "account_id": account_id, "input_hash": None, "synced_at": NOW}])


def unlink(store, record_id: str) -> None:
    with store.begin() as conn:
        conn.execute(crm_links.delete().where(crm_links.c.record_id == record_id))


def salesforce(server, tls_paths):
    crm = w.salesforce_adapter(server, tls_paths[0])
    return crm, server.app


def test_a_task_planned_before_the_link_exists_waits_then_lands_on_the_linked_record(store, sf_server, tls):
    crm, emu = salesforce(sf_server, tls)
    person = add_person(store)
    rt = runtime(store, playbook_set(TASK_ONLY, routing=routing_yaml()), crm)
    set_scores(store, [person], 90)
    run_playbooks(rt, NOW)  # planned and tried while the product user has no CRM record
    assert not emu.live("Task")
    with store.read() as conn:
        waiting = pb_store.problem_entries(conn)
    assert [(e["status"], e["attempts"]) for e in waiting] == [("waiting", 0)]
    assert "no CRM record yet" in waiting[0]["error"]

    lead = emu.insert("Lead", {"LastName": "Trial", "Company": "Corp", "Email": "trial-1@corp.com"})
    link(store, crm.name, "Lead", lead, person_id=person)
    dispatch_due(rt, NOW + 3600)
    assert [(t["WhoId"], t.get("WhatId")) for t in emu.live("Task")] == [(lead, None)]


def test_a_converted_lead_s_task_goes_to_the_contact_it_became(store, sf_server, tls):
    crm, emu = salesforce(sf_server, tls)
    person = add_person(store)
    lead = emu.insert("Lead", {"LastName": "Trial", "Company": "Corp", "Email": "trial-1@corp.com"})
    link(store, crm.name, "Lead", lead, person_id=person)
    rt = runtime(store, playbook_set(TASK_ONLY, routing=routing_yaml()), crm)
    set_scores(store, [person], 90)
    plan(rt, NOW)  # planned while the person is a Lead; the lead is converted before the task is sent
    converted = emu.convert_lead(lead)
    unlink(store, lead)  # what sync does when it reads the conversion
    link(store, crm.name, "Contact", converted["contactId"], person_id=person)
    dispatch_due(rt, NOW)
    assert [t["WhoId"] for t in emu.live("Task")] == [converted["contactId"]]


ACCOUNT_TASK = """
playbook: account_review
trigger: {type: became_pql}
actions:
  - {type: create_task, subject: "Review account {{ name }}", due_in: 2d}
"""


def account_runtime(store, crm):
    """The shipped rules (they hold the account model) and one account playbook that only creates a task."""
    specs = load_spec_set(SpecDirs.under(ROOT))
    errors = ErrorCollector()
    docs = [("routing.yaml", parse_yaml(routing_yaml(), "routing.yaml", errors)),
            ("pb.yaml", parse_yaml(ACCOUNT_TASK.replace("trigger:", "model: account\ntrigger:"), "pb.yaml", errors))]
    playbooks = parse_playbook_set(docs, errors, {}, list(specs.rules.names))
    assert not errors, errors.sorted()
    rt = runtime(store, playbooks, crm)
    rt.rules = specs.rules
    return rt


def add_account(store, external_id: str = "acme") -> int:
    with store.begin() as conn:
        ids = people_store.upsert_accounts(conn, [{"external_id": external_id, "domain": "acme.com",
                                                   "attributes": {"name": "Acme"}}])
    return ids[external_id]


@pytest.mark.parametrize("crm_kind", ["salesforce", "hubspot"])
def test_an_account_task_lands_on_the_account_never_on_a_person(crm_kind, store, sf_server, hs_server, tls):
    if crm_kind == "salesforce":
        crm, emu = salesforce(sf_server, tls)
        account_record = emu.insert("Account", {"Name": "Acme"})
        account_object = "Account"
    else:
        crm, emu = w.hubspot_adapter(hs_server, tls[0]), hs_server.app
        account_record = emu.insert("companies", {"name": "Acme", "domain": "acme.com"})
        account_object = "companies"
    account = add_account(store)
    namesake = add_person(store, "same-id-as-the-account")
    assert namesake == account  # the account's id is also a person's id: it must never be taken for them
    if crm_kind == "salesforce":
        person_record = emu.insert("Lead", {"LastName": "N", "Company": "C", "Email": "n@c.com"})
        link(store, crm.name, "Lead", person_record, person_id=namesake)
    else:
        person_record = emu.insert("contacts", {"email": "n@c.com"})
        link(store, crm.name, "contacts", person_record, person_id=namesake)
    rt = account_runtime(store, crm)
    set_scores_model(store, [account], "account")
    run_playbooks(rt, NOW)
    assert not task_targets(crm_kind, emu), "an account task went out before the account had a CRM record"

    link(store, crm.name, account_object, account_record, account_id=account)
    dispatch_due(rt, NOW + 3600)
    assert task_targets(crm_kind, emu) == [("account", account_record)]


def set_scores_model(store, ids: list[int], model: str) -> None:
    rows = [{"model": model, "subject_id": sid, "as_of": NOW, "fit": 40, "fit_raw": 40, "behaviour": 50,
             "behaviour_before_decay": 50, "decay": 0, "combined": 90, "band": "high", "pql": True,
             "pql_since": NOW, "pql_first_at": NOW, "activation": "activated", "milestones": 2,
             "last_activity": NOW, "days_inactive": 0, "reasons": [], "rules_hash": "test",
             "digest": f"{sid}:90"} for sid in ids]
    with store.begin() as conn:
        results_store.save_results(conn, rows, [])


def task_targets(crm_kind: str, emu) -> list[tuple]:
    if crm_kind == "salesforce":
        out = []
        for task in emu.live("Task"):
            assert not task.get("WhoId"), "an account task named a person"
            out.append(("account", task["WhatId"]))
        return out
    out = []
    for task in emu.live("tasks"):
        assert not linked(emu, "tasks", task["id"], "contacts"), "an account task was associated with a contact"
        out.extend(("account", row[3]) for row in linked(emu, "tasks", task["id"], "companies"))
    return out


def test_planning_and_a_dispatch_pass_read_their_subjects_links_in_one_query_each(store):
    from sqlalchemy import event

    from tests.fake_crm import FakeCrm
    from tests.playbook_support import REPS
    people = [add_person(store, f"trial-{i}") for i in range(5)]
    crm = FakeCrm(REPS)
    for i, person in enumerate(people):
        link(store, crm.name, "Lead", f"00Q{i}", person_id=person)
    rt = runtime(store, playbook_set(TASK_ONLY), crm)
    set_scores(store, people, 80)
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)
    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        plan(rt, NOW)
        planned, statements[:] = list(statements), []
        counts = dispatch_due(rt, NOW)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert counts["sent"] == 5
    assert sorted(t.who_id for t in crm.tasks.values()) == [f"00Q{i}" for i in range(5)]
    assert sum("crm_links" in s for s in planned) == 1, planned  # planning too: one query for the batch
    assert sum("crm_links" in s for s in statements) == 1, statements
