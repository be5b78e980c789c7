"""Product signups reach the CRM: a PQL with no CRM record gets one (or is linked to the one with their email),
with its score fields, an owner and a task; never twice, also under injected faults and HubSpot search lag.

Against the sandbox and the Salesforce and HubSpot emulators, which refuse a Lead without LastName and Company,
a duplicate external id value or a duplicate contact email, as the vendors do.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from crm_app.crm.sandbox import SandboxCrm
from crm_app.errors import ErrorCollector
from crm_app.services.crm.create import create_missing, field_values
from crm_app.services.crm.provision import provision
from crm_app.services.crm.writeback import push_scores
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.specs.crm.creation import load_creation_policy, parse_policy
from crm_app.specs.yamlsource import parse_yaml
from crm_app.store import people as people_store
from tests import crm_world as w
from tests.conftest import ROOT
from tests.crm_world import hs_server, sf_server, store, tls  # noqa: F401 - fixtures
from tests.emulators.server import Faults
from tests.playbook_support import NOW, NEW_PQL, playbook_set, routing_yaml, runtime

POLICY = load_creation_policy(ROOT / "mapping" / "create.yaml", ["conversion"])
SCORE_FIELD = {"salesforce": "PQL_Score__c", "hubspot": "pql_score", "sandbox": "pql_score"}


def signups(store, n: int, start: int = 0, **attributes) -> list[str]:
    """n product users with no CRM record; returns their emails."""
    emails = [f"signup{i:05d}@startup{i % 7}.io" for i in range(start, start + n)]
    with store.begin() as conn:
        people_store.upsert_people(conn, [{"external_id": f"prod-{i:05d}", "email": e,
                                           "attributes": {"name": f"Signup {i}", **attributes}}
                                          for i, e in zip(range(start, start + n), emails)])
    return emails


def adapter_for(kind: str, request, tls_paths, tmp_path, faults: Faults | None = None):
    if kind == "sandbox":
        return SandboxCrm(str(tmp_path / "crm.db")), None
    server = request.getfixturevalue("sf_server" if kind == "salesforce" else "hs_server")
    server.faults = faults or Faults()
    make = w.salesforce_adapter if kind == "salesforce" else w.hubspot_adapter
    return make(server, tls_paths[0]), server


def people_records(kind: str, crm, server) -> list[dict]:
    if kind == "sandbox":
        return [dict(r) for table in ("leads", "contacts") for r in crm.db[table].rows]
    if kind == "salesforce":
        return [{**r, "email": r.get("Email")} for obj in ("Lead", "Contact") for r in server.app.live(obj)]
    return [{**r["properties"], "id": r["id"]} for r in server.app.live("contacts")]


def scores_of(kind: str, records: list[dict]) -> list:
    """The score field of each record, as a number (HubSpot keeps every property as text)."""
    return [None if r.get(SCORE_FIELD[kind]) is None else float(r[SCORE_FIELD[kind]]) for r in records]


@pytest.mark.parametrize("kind", ["sandbox", "salesforce", "hubspot"])
def test_a_new_pql_gets_one_record_with_its_scores_and_a_second_run_adds_nothing(kind, request, store, tls,
                                                                                   tmp_path):
    crm, server = adapter_for(kind, request, tls, tmp_path)
    fields = w.spec_fields()
    provision(store, crm, fields)
    emails = signups(store, 30)
    w.put_scores(store, emails[:20], 90)  # PQLs
    w.put_scores(store, emails[20:], 40)  # not PQLs: no record for them
    summary = create_missing(store, crm, POLICY)
    assert (summary.candidates, summary.created, summary.matched, summary.failed) == (20, 20, 0, {})
    pushed = push_scores(store, crm, fields)
    records = people_records(kind, crm, server)
    assert sorted(r["email"] for r in records) == sorted(emails[:20])
    assert scores_of(kind, records) == [90] * 20 and pushed.failed == {}
    again = create_missing(store, crm, POLICY)
    assert (again.candidates, again.created) == (0, 0)
    assert len(people_records(kind, crm, server)) == 20


def test_a_lead_gets_its_required_fields_from_the_fallbacks(store, sf_server, tls):
    crm = w.salesforce_adapter(sf_server, tls[0])
    with store.begin() as conn:
        people_store.upsert_people(conn, [{"external_id": "bare", "email": "jo@tiny.dev", "attributes": {}}])
    w.put_scores(store, ["jo@tiny.dev"], 95)
    assert create_missing(store, crm, POLICY).created == 1
    (lead,) = sf_server.app.live("Lead")
    assert (lead["LastName"], lead["Company"], lead["LeadSource"]) == ("jo", "tiny.dev", "Product sign-up")
    assert lead["PQL_Product_User_Id__c"] == "bare"


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_a_record_with_the_same_email_is_linked_not_duplicated(kind, request, store, tls, tmp_path):
    crm, server = adapter_for(kind, request, tls, tmp_path)
    emails = signups(store, 3)
    if kind == "salesforce":
        sales_lead = server.app.insert("Lead", {"Email": emails[0], "LastName": "Known", "Company": "Startup"})
        server.app.insert("Contact", {"Email": emails[1], "LastName": "Customer"})
    else:
        sales_lead = server.app.insert("contacts", {"email": emails[0].upper()})
        server.app.insert("contacts", {"email": emails[1]})
    w.put_scores(store, emails, 90)
    summary = create_missing(store, crm, POLICY)
    assert (summary.matched, summary.created) == (2, 1)
    assert sorted(r["email"].lower() for r in people_records(kind, crm, server)) == sorted(emails)
    from crm_app.store.crm import person_links
    with store.read() as conn:
        assert sales_lead in {lk["record_id"] for lk in person_links(conn, crm.name)}


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_no_duplicate_record_or_task_under_faults_and_search_lag(kind, request, store, tls, tmp_path):
    faults = Faults(rate=0.2, kinds=("429", "500", "reset"), seed=3)  # reset: the work done, the answer lost
    crm, server = adapter_for(kind, request, tls, tmp_path, faults)
    if kind == "hubspot":
        server.app.search_lag_seconds = 5.0
    fields = w.spec_fields()
    provision(store, crm, fields)
    emails = signups(store, 250)
    w.put_scores(store, emails, 90)
    for _ in range(3):  # the worker's write_back job, run again after errors
        try:
            create_missing(store, crm, POLICY)
            push_scores(store, crm, fields)
        except Exception:  # noqa: BLE001 - a run may give up after its retries; the next one resumes
            continue
    records = people_records(kind, crm, server)
    counts = Counter(r["email"].lower() for r in records)
    assert sorted(counts) == sorted(emails) and set(counts.values()) == {1}, "a product user got two records"
    assert sum(faults.injected.values()) >= 5  # the faults did hit creation and write-back calls
    assert scores_of(kind, records) == [90.0] * len(emails)  # every new record got its score fields too


def test_the_worker_cycle_takes_a_new_signup_to_a_lead_with_owner_task_and_alert(store, tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    with crm.db.conn:
        crm.db["owners"].insert_all([{"id": f"005{i:05d}", "email": f"rep{i}@example.com", "name": f"rep{i}",
                                      "active": 1} for i in range(7)], pk="id")
    fields = w.spec_fields()
    provision(store, crm, fields)
    rt = runtime(store, playbook_set(NEW_PQL.replace("  - {type: set_field, field: PQL_Routed_To__c, "
                                                     "value: \"Routed to {{ owner.email }}\"}\n", ""),
                                     routing=routing_yaml()), crm)
    (email,) = signups(store, 1)
    w.put_scores(store, [email], 92)
    run_playbooks(rt, NOW)  # the playbook fires before the person has a CRM record: its actions wait
    assert not list(crm.db["leads"].rows)
    create_missing(store, crm, POLICY)
    push_scores(store, crm, fields)
    run_playbooks(rt, NOW + 3600)
    (lead,) = crm.db["leads"].rows
    assert lead["email"] == email and lead["pql_score"] == 92 and lead["owner_id"]
    tasks = list(crm.db["tasks"].rows)
    assert [(t["who_object"], t["who_id"]) for t in tasks] == [("leads", lead["id"])]
    from crm_app.store.playbooks import alerts as alert_store
    with store.read() as conn:
        assert alert_store.outbox_count(conn) == 1


BAD_POLICIES = {
    "lead without company": ("create:\n  when: {became_pql: conversion}\n  salesforce:\n    object: Lead\n"
                             "    external_id_field: X__c\n    fields: {LastName: [name]}\n", "without Company"),
    "unknown model": ("create:\n  when: {became_pql: conversoin}\n", "no model named 'conversoin'"),
    "two triggers": ("create:\n  when: {became_pql: conversion, in_segment: {model: a, segment: b}}\n",
                     "exactly one"),
    "unknown object": ("create:\n  when: {became_pql: conversion}\n  hubspot:\n    object: leads\n"
                       "    external_id_field: x\n    fields: {email: [email]}\n", "created as one of"),
    "bad field rule": ("create:\n  when: {became_pql: conversion}\n  sandbox:\n    object: leads\n"
                       "    external_id_field: x\n    fields: {email: 3}\n", "give our field name"),
    "unknown key": ("create:\n  when: {became_pql: conversion}\n  salesforse: {}\n", "salesforse"),
}


@pytest.mark.parametrize("case", sorted(BAD_POLICIES))
def test_a_wrong_policy_is_an_error_with_file_and_line(case):
    text, expected = BAD_POLICIES[case]
    errors = ErrorCollector()
    parse_policy(parse_yaml(text, "create.yaml", errors), "create.yaml", errors, ["conversion"])
    messages = [str(e) for e in errors.sorted()]
    assert messages and all(m.startswith("create.yaml:") for m in messages)
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize("record,expected", [
    ({"email": "a.b@x.io", "name": "Ann B"}, {"LastName": "Ann B", "Company": "x.io", "Email": "a.b@x.io"}),
    ({"email": "a.b@x.io", "last_name": "B", "account.name": "X Inc"}, {"LastName": "B", "Company": "X Inc"}),
    ({"email": "solo@y.dev"}, {"LastName": "solo", "Company": "y.dev"}),
])
def test_field_values_take_the_first_present_source(record, expected):
    values = field_values(POLICY.target("salesforce").fields, {**record, "email_domain": record["email"].split("@")[1]})
    assert {k: values[k] for k in expected} == expected and values["LeadSource"] == "Product sign-up"


def test_the_shipped_policy_is_valid():
    assert POLICY is not None and {crm for crm, _ in POLICY.targets} == {"salesforce", "hubspot", "sandbox"}
    assert Path(ROOT / "mapping" / "create.yaml").read_text().startswith("#")


@pytest.mark.parametrize("file,edit,expected", [
    ("create.yaml", lambda t: t.replace("      Company: [account.name, company, email_domain]\n", ""),
     "create.yaml:12: create.salesforce.fields: salesforce refuses a Lead without Company"),
    ("crm.yaml", lambda t: t.replace("subject: person", "subject: persn", 1), "crm.yaml:"),
])
def test_check_covers_the_crm_files_in_mapping(file, edit, expected, tmp_path, monkeypatch, capsys):
    import shutil

    from crm_app.cli import main
    for folder in ("rules", "field_specs", "playbooks", "mapping"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    path = tmp_path / "mapping" / file
    path.write_text(edit(path.read_text()))
    monkeypatch.setenv("SPECS_ROOT", str(tmp_path))
    assert main(["check"]) == 1
    assert expected in capsys.readouterr().out


def test_the_demo_shows_product_signups_becoming_leads_with_an_owner_a_task_and_an_alert(runner):
    import re
    code, out, err = runner("demo", "--people", "300", "--seed", "3")
    assert code == 0, err
    found = re.search(r"(\d+) product signups were not in the CRM; (\d+) of them are PQLs", out)
    assert found and int(found.group(1)) > 0 and int(found.group(2)) > 0, out
    shown = re.findall(r"new lead LEAD-P\w+ for product signup \S+: PQL score [\d.]+, owner (\S+), (\d+) task\(s\), "
                       r"Slack alert (to @(\S+) \(outbox\)|held for (\S+)'s daily digest)", out)
    assert shown and all(owner != "none" and int(tasks) >= 1 for owner, tasks, *_ in shown), out
    assert all(owner in (dm, digest) for owner, _, _, dm, digest in shown), out  # the alert went to the new owner
