"""The creation loop end to end: a new product user who becomes a PQL gets a CRM record, its score fields, an
owner, a task and a Slack alert within one pass of the worker's jobs, on the sandbox and the Salesforce and
HubSpot emulators, whether the playbook fired before or after the record existed, and also under injected
faults (429, 5xx, lost answers) with HubSpot search lagging writes by seconds. Duplicates are counted from the
emulators' own state. Also: new HubSpot contacts are associated with their company, and tasks are keyed so a
retried create never makes a second one.
"""
from __future__ import annotations

from collections import Counter

import pytest

from crm_app.config import Config
from crm_app.crm.base import CrmError, TaskRequest
from crm_app.crm.sandbox import SandboxCrm
from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.services.crm.create import create_missing
from crm_app.services.crm.provision import provision, provision_task_key
from crm_app.services.ops.jobs import JOBS_BY_NAME, JobContext, run_job
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.store import Store
from crm_app.store import crm as crm_store
from crm_app.store import people as people_store
from crm_app.store.playbooks import ledger as pb_store
from tests import crm_world as w
from tests.conftest import ROOT
from tests.crm_world import hs_server, sf_server, store, tls  # noqa: F401 - fixtures
from tests.emulators import hubspot_associations as assoc
from tests.emulators.server import Faults
from tests.playbook_support import NEW_PQL, NOW, playbook_set, routing_yaml, runtime
from tests.test_crm_create import POLICY, adapter_for, people_records, scores_of, signups

REPS = ("ada@example.com", "grace@example.com", "alan@example.com")  # the shipped routing's reps


def add_owners(kind: str, crm, server) -> set:
    """The shipped routing's reps as CRM owners; returns their owner ids."""
    if kind == "sandbox":
        with crm.db.conn:
            crm.db["owners"].insert_all([{"id": f"005{i:05d}", "email": e, "name": e, "active": 1}
                                         for i, e in enumerate(REPS)], pk="id", ignore=True)
        return {f"005{i:05d}" for i in range(len(REPS))}
    if kind == "salesforce":
        return {server.app.insert("User", {"Username": e, "Email": e, "Name": e, "IsActive": True}) for e in REPS}
    return {server.app.add_owner(e, e.split("@")[0], "Rep") for e in REPS}


def worker(store, crm, kind: str) -> JobContext:
    """The worker's job context with this CRM adapter; rules, field specs and playbooks are the shipped ones."""
    config = Config.from_env({}, database_url=store.url, specs_root=str(ROOT))
    # A generous dispatch budget: on a loaded machine the default 2 s would leave actions for the next pass.
    env = {"SCORE_WORKERS": "1", "CRM": kind, "PLAYBOOK_DISPATCH_BUDGET_SECONDS": "300"}
    ctx = JobContext(store, config, RuleHolder(store, config.spec_dirs), env=env)
    ctx.adapter = crm
    assert run_job(ctx, JOBS_BY_NAME["reload_rules"])["outcome"] in ("ok", "idle")
    return ctx


def tasks_by_record(kind: str, crm, server) -> Counter:
    """CRM record id -> how many tasks it has, from the CRM's own state."""
    if kind == "sandbox":
        return Counter(t["who_id"] for t in crm.db["tasks"].rows)
    if kind == "salesforce":
        return Counter(t["WhoId"] for t in server.app.live("Task"))
    return Counter(a[3] for t in server.app.live("tasks") for a in assoc.linked(server.app, "tasks", t["id"], "contacts"))


def owner_of(kind: str, record: dict):
    return record.get({"sandbox": "owner_id", "salesforce": "OwnerId", "hubspot": "hubspot_owner_id"}[kind])


def alerts_by_subject(store) -> Counter:
    """Person id -> Slack alerts sent to the outbox or held for the owner's digest."""
    with store.read() as conn:
        rows = conn.execute(pb_store.pb_ledger.select().where(pb_store.pb_ledger.c.action == "slack_alert")).all()
    return Counter(r.subject_id for r in rows if r.status in ("sent", "digest"))


def run_cycle(ctx, playbook_first: bool) -> list[dict]:
    order = ("playbooks", "write_back") if playbook_first else ("write_back", "playbooks")
    return [run_job(ctx, JOBS_BY_NAME[name]) for name in order]


def assert_every_signup_reached_sales(kind, crm, server, store, emails, owners):
    records = people_records(kind, crm, server)
    per_email = Counter((r.get("email") or "").lower() for r in records)
    assert sorted(per_email) == sorted(emails), "a PQL signup has no record, or a record appeared for no one"
    assert set(per_email.values()) == {1}, f"duplicate records: {[e for e, n in per_email.items() if n > 1]}"
    assert set(scores_of(kind, records)) == {91.0}
    assert {owner_of(kind, r) for r in records} <= owners and all(owner_of(kind, r) for r in records)
    tasks = tasks_by_record(kind, crm, server)
    ids = {str(r.get("id") or r.get("Id")) for r in records}
    assert set(tasks) == ids and set(tasks.values()) == {1}, f"tasks per record: {sorted(tasks.values())}"
    with store.read() as conn:
        linked = {lk["person_id"] for lk in crm_store.person_links(conn, crm.name)}
    alerts = alerts_by_subject(store)
    assert set(alerts) == linked and set(alerts.values()) == {1}


CASES = [(kind, first) for kind in ("sandbox", "salesforce", "hubspot") for first in (True, False)]


@pytest.mark.parametrize("kind,playbook_first", CASES)
def test_a_new_pql_signup_gets_record_scores_owner_task_and_alert_in_one_worker_cycle(
        kind, playbook_first, request, store, tls, tmp_path):
    crm, server = adapter_for(kind, request, tls, tmp_path)
    owners = add_owners(kind, crm, server)
    ctx = worker(store, crm, kind)
    provision(store, crm, ctx.rules.require().fields)
    emails = signups(store, 12)
    w.put_scores(store, emails[:8], 91)  # PQLs: they cross the threshold
    w.put_scores(store, emails[8:], 30)
    runs = run_cycle(ctx, playbook_first)
    assert runs[0]["outcome"] == "ok" and runs[1]["outcome"] in ("ok", "idle"), runs
    assert_every_signup_reached_sales(kind, crm, server, store, emails[:8], owners)
    again = run_cycle(ctx, playbook_first)  # a second cycle changes nothing in the CRM
    assert again[0]["detail"].get("created", 0) == 0 or again[1]["detail"].get("created", 0) == 0
    assert_every_signup_reached_sales(kind, crm, server, store, emails[:8], owners)


@pytest.mark.parametrize("kind,playbook_first", [c for c in CASES if c[0] != "sandbox"])
def test_no_duplicate_record_or_task_under_faults_and_search_lag_in_one_cycle(kind, playbook_first, request, store,
                                                                            tls, tmp_path):
    faults = Faults(rate=0.2, kinds=("429", "500", "reset"), seed=11)  # reset: the work done, the answer lost
    crm, server = adapter_for(kind, request, tls, tmp_path)
    crm.policy.sleep = w.no_sleep
    owners = add_owners(kind, crm, server)
    ctx = worker(store, crm, kind)
    provision(store, crm, ctx.rules.require().fields)
    if kind == "hubspot":
        server.app.search_lag_seconds = 5.0
    emails = signups(store, 40)
    w.put_scores(store, emails, 91)
    server.faults = faults
    runs = run_cycle(ctx, playbook_first)
    server.faults = Faults()
    assert sum(faults.injected.values()) >= 10, faults.injected
    assert {k for k, _ in server.faulted} >= {"reset"}
    task_writes = "/sobjects/Task/" if kind == "salesforce" else "/objects/tasks/batch/upsert"
    assert any(task_writes in path for kind_, path in server.faulted if kind_ == "reset"), server.faulted
    assert not [path for _, path in server.calls if path.endswith("/search")]  # so search lag cannot matter
    assert runs[0]["outcome"] == "ok" and runs[1]["outcome"] in ("ok", "idle"), runs
    assert_every_signup_reached_sales(kind, crm, server, store, emails, owners)


def test_new_hubspot_contacts_are_associated_with_their_company(store, hs_server, tls):
    crm = w.hubspot_adapter(hs_server, tls[0])
    emu = hs_server.app
    company = emu.insert("companies", {"name": "Startup", "domain": "startup.io"})
    with store.begin() as conn:
        account = people_store.upsert_accounts(conn, [{"external_id": "acct-1", "name": "Startup",
                                                        "domain": "startup.io", "attributes": {}}])["acct-1"]
        crm_store.save_links(conn, [{"crm": "hubspot", "object_type": "companies", "record_id": company,
                                     "person_id": None, "account_id": account, "input_hash": None,
                                     "synced_at": NOW}])
    emails = signups(store, 150)
    with store.begin() as conn:  # 30 of them have no known account
        people_store.upsert_people(conn, [{"external_id": f"prod-{i:05d}", "account_id": account} for i in range(120)])
    w.put_scores(store, emails, 90)
    crm.counter.take()
    summary = create_missing(store, crm, POLICY)
    assert (summary.candidates, summary.failed, summary.created, summary.associated) == (150, {}, 150, 120)
    under = {a[1] for a in emu.associations if a[0] == "contacts" and a[2] == "companies" and a[3] == company}
    contacts = {r["properties"]["email"]: r for r in emu.live("contacts")}
    assert under == {contacts[e]["id"] for e in emails[:120]}
    assert {a[4] for a in emu.associations if a[0] == "contacts" and a[3] == company} == {279, 1}
    assert {contacts[e]["properties"].get("associatedcompanyid") for e in emails[:120]} == {company}
    assert contacts[emails[-1]]["properties"].get("associatedcompanyid") is None
    assert summary.calls.get("associations") == 2  # 120 pairs, 100 a call


def test_the_emulator_refuses_a_contact_company_association_type_of_another_pair(hs_server, tls):
    crm = w.hubspot_adapter(hs_server, tls[0])
    emu = hs_server.app
    contact, company = emu.insert("contacts", {"email": "a@b.io"}), emu.insert("companies", {"name": "B"})
    import hubspot.crm.associations.v4.exceptions as v4
    api = crm.client.crm.associations.v4.batch_api
    body = {"inputs": [{"from": {"id": contact}, "to": {"id": company},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]}
    with pytest.raises(v4.ApiException) as info:
        api.create("contacts", "companies", body)
    assert info.value.status == 400 and "204" in info.value.body
    assert not emu.associations


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_a_task_sent_again_after_a_lost_answer_is_not_made_twice(kind, request, store, tls, tmp_path):
    crm, server = adapter_for(kind, request, tls, tmp_path)
    crm.policy.sleep = w.no_sleep
    if kind == "salesforce":
        who = server.app.insert("Lead", {"LastName": "Trial", "Company": "Corp", "Email": "t@corp.io"})
        writes = ("/sobjects/Task/PQL_Task_Key__c/pql-ledger-7",)
    else:
        who = server.app.insert("contacts", {"email": "t@corp.io"})
        server.app.search_lag_seconds = 30.0
        writes = ("/crm/v3/objects/tasks/batch/upsert",)
    task = TaskRequest(subject="Follow up", body="Ref: pql-ledger-7", due="2026-12-05", owner_id=None,
                       who_object="Lead" if kind == "salesforce" else "contacts", who_id=who, key="pql-ledger-7")
    crm.ensure_task_key()
    server.faults = Faults(rate=1.0, kinds=("reset",), paths=writes)  # every create lands, every answer is lost
    if kind == "salesforce":  # each attempt looks the key up first: the second finds what the first made
        lost = crm.create_task(task)
    else:
        with pytest.raises(CrmError, match="kept failing"):
            crm.create_task(task)
    server.faults = Faults()
    first = crm.create_task(task)  # the playbook's next try
    again = crm.create_task(task)
    live = server.app.live("Task" if kind == "salesforce" else "tasks")
    assert len(live) == 1 and first == again == str(live[0].get("Id") or live[0].get("id"))
    assert kind != "salesforce" or lost == first
    assert "search" not in crm.counter.calls  # no existence check by (lagging) search


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_provision_makes_the_task_key_field_once(kind, request, store, tls, tmp_path):
    crm, server = adapter_for(kind, request, tls, tmp_path)
    (first,) = provision_task_key(store, crm)
    assert (first.action, first.done) == ("create", True)
    again = adapter_for(kind, request, tls, tmp_path)[0]  # a new process: it looks, finds it, creates nothing
    assert [i.action for i in provision_task_key(store, again)] == ["ok"]
    if kind == "salesforce":
        meta = server.app.custom[("Activity", "PQL_Task_Key__c")]["meta"]
        assert meta["externalId"] is True and server.app.visible("Task", "PQL_Task_Key__c")
    else:
        assert server.app.properties["tasks"]["pql_task_key"]["hasUniqueValue"] is True


def test_a_new_store_sending_to_the_same_crm_never_reuses_an_earlier_store_s_task_key(tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    with crm.db.conn:
        crm.db["owners"].insert_all([{"id": "005A", "email": "rep0@example.com", "name": "rep0", "active": 1}])
    playbooks = playbook_set(NEW_PQL.split("  - {type: slack_alert")[0], routing=routing_yaml(["rep0@example.com"]))
    for name in ("first", "second"):  # e.g. a store restored empty, its ledger ids starting from 1 again
        st = Store(f"sqlite:///{tmp_path / name}.db")
        (email,) = signups(st, 1)
        w.put_scores(st, [email], 92)
        create_missing(st, crm, POLICY)
        assert run_playbooks(runtime(st, playbooks, crm), NOW)["sent"] == 2, name
        st.dispose()
    tasks = list(crm.db["tasks"].rows)
    assert len(tasks) == 2 and len({t["id"] for t in tasks}) == 2


def test_a_playbook_failure_after_write_back_leaves_the_write_back_ok(store, tmp_path, monkeypatch):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    ctx = worker(store, crm, "sandbox")
    provision(store, crm, ctx.rules.require().fields)
    w.put_scores(store, signups(store, 2), 91)

    def broken(*_args, **_kwargs):
        raise RuntimeError("plan exploded")
    monkeypatch.setattr("crm_app.services.playbooks.cycle.run_playbooks", broken)
    run = run_job(ctx, JOBS_BY_NAME["write_back"])
    assert run["outcome"] == "ok" and run["detail"]["created"] == 2
    assert run["detail"]["playbooks"] == {"error": "RuntimeError: plan exploded"}
