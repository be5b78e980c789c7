"""Account scores (PQA): hand-computed rollups across people changing over time, segments, field specs."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_app.services.scoring.accounts import records_with_rollups
from crm_app.services.scoring.run import score
from crm_app.specs.rules import RuleSet
from crm_app.store import events as event_store
from crm_app.store import people as people_store
from crm_app.store import schema
from crm_app.store.scoring.results import history_for
from crm_app.store.scoring.segments import segment_members
from tests.helpers import AS_OF, DAY, model_from_yaml

PERSON = """
model: conversion
behaviour:
  - {id: login, label: Logged in, points: 40, when: {event: Login, within: 30d, count: {at_least: 1}}}
  - {id: report, label: Made a report, points: 40, when: {event: Report, within: 30d, count: {at_least: 1}}}
pql: {threshold: 75}
"""
ACCOUNT = """
model: account
subject: account
stage: account
fit:
  - {id: big, label: 100+ employees, points: 10, when: {field: employees, at_least: 100}}
behaviour:
  - {id: several, label: Several ready users, points: 30, exclusive: ready,
     when: {field: people.conversion.pql_users, at_least: 2}}
  - {id: one, label: One ready user, points: 15, exclusive: ready,
     when: {field: people.conversion.pql_users, at_least: 1}}
  - {id: active, label: 2+ active, points: 10, when: {field: people.conversion.active_users_30d, at_least: 2}}
  - {id: top, label: Top user 80+, points: 5, when: {field: people.conversion.max_score, at_least: 80}}
  - {id: avg, label: Average 50+, points: 5, when: {field: people.conversion.avg_score, at_least: 50}}
  - {id: seats, label: Half the seats active, points: 20,
     when: {field: people.conversion.seat_share_active, at_least: 0.5}}
pql: {threshold: 50}
segments:
  - {id: several_ready_users, label: Several ready users, when: {field: people.conversion.pql_users, at_least: 2}}
"""
RULES = RuleSet(models=(model_from_yaml(PERSON), model_from_yaml(ACCOUNT)), hash="acct-test")
T1, T2, T3 = AS_OF, AS_OF + 10 * DAY, AS_OF + 35 * DAY


def setup_world(store) -> dict:
    with store.begin() as conn:
        accounts = people_store.upsert_accounts(conn, [
            {"external_id": "A", "attributes": {"employees": 200, "seats": 4}},
            {"external_id": "B", "attributes": {"employees": 10}},
            {"external_id": "C", "attributes": {"employees": 500}}])
        people = people_store.upsert_people(conn, [
            {"external_id": "a1", "account_id": accounts["A"], "created_at": T1 - 60 * DAY},
            {"external_id": "a2", "account_id": accounts["A"], "created_at": T1 - 60 * DAY},
            {"external_id": "a3", "account_id": accounts["A"], "created_at": T1 - 60 * DAY},
            {"external_id": "b1", "account_id": accounts["B"], "created_at": T1 - 60 * DAY}])
    add_events(store, people, [("a1", "Login", T1 - DAY), ("a1", "Report", T1 - DAY), ("a2", "Login", T1 - DAY),
                               ("b1", "Login", T1 - DAY), ("b1", "Report", T1 - DAY),
                               # known only later: the T1 run must not see them
                               ("a2", "Report", T2 - 3600), ("a3", "Login", T2 - 3600)])
    return accounts


def add_events(store, people: dict, events: list) -> None:
    with store.begin() as conn:
        types = event_store.event_type_ids(conn, ["Login", "Report"])
        event_store.insert_events(conn, [
            {"message_id": f"{p}-{n}-{ts}", "person_id": people[p], "anonymous_id": None,
             "type_id": types[n.lower()], "ts": ts, "properties": {}, "received_at": ts} for p, n, ts in events])


def account_result(store, account_id: int) -> dict:
    r = schema.results
    with store.read() as conn:
        return dict(conn.execute(select(r).where(r.c.model == "account", r.c.subject_id == account_id)).one()._mapping)


def members(store) -> set:
    with store.read() as conn:
        return set(conn.execute(select(segment_members.c.subject_id, segment_members.c.segment)).all())


def test_rollup_values_at_t1(store):
    accounts = setup_world(store)
    score(store, RULES, T1, workers=1)
    with store.read() as conn:
        records, last = records_with_rollups(conn, ["conversion"], T1, 0, 1000)
    a = records[accounts["A"]]
    assert {k: a[k] for k in a if k.startswith("people.")} == {
        "people.conversion.people": 3, "people.conversion.pql_users": 1, "people.conversion.active_users_7d": 2,
        "people.conversion.active_users_30d": 2, "people.conversion.max_score": 80,
        "people.conversion.avg_score": 40.0, "people.conversion.seat_share_active": 0.5}
    assert records[accounts["C"]]["people.conversion.people"] == 0 and last[accounts["A"]] == T1 - DAY


@pytest.mark.parametrize("when,expected_a,expected_b", [
    # A: fit 10 + one ready 15 + 2 active 10 + top 80 5 + seats 2/4 20 (avg 40: no) = 60, a PQA
    # B: one ready 15 + top 5 + avg 80 5 = 25
    (T1, (60, True), (25, False)),
])
def test_hand_computed_scores_at_t1(store, when, expected_a, expected_b):
    accounts = setup_world(store)
    summary = score(store, RULES, when, workers=1)
    a, b, c = (account_result(store, accounts[k]) for k in "ABC")
    assert (a["combined"], a["pql"]) == expected_a and (b["combined"], b["pql"]) == expected_b
    assert (c["combined"], c["pql"]) == (10, False)  # fit only: no people, zero rollups
    assert summary.accounts.accounts == 3 and summary.accounts.new_pqas == {"account": ["A"]}


def test_account_scores_follow_people_over_time(store):
    accounts = setup_world(store)
    a = accounts["A"]
    score(store, RULES, T1, workers=1)
    assert account_result(store, a)["combined"] == 60
    assert members(store) == set()
    # T2: a2 now also reported (PQL), a3 logged in: 2 ready users 30 + 3 active 10 + top 5 + avg 66.7 5 +
    # seats 3/4 20 + fit 10 = 80; the account enters "several ready users".
    score(store, RULES, T2, workers=1)
    assert account_result(store, a)["combined"] == 80
    assert members(store) == {(a, "several_ready_users")}
    assert account_result(store, a)["segment"] == "Several ready users"
    # T3: a1 and a2's login aged out; a2 (report) and a3 (login) score 40: 0 ready, 2 active 10,
    # seats 2/4 20, fit 10 = 40; the account leaves the segment and is no longer a PQA.
    score(store, RULES, T3, workers=1)
    result = account_result(store, a)
    assert (result["combined"], result["pql"], result["segment"]) == (40, False, None)
    assert members(store) == set()
    with store.read() as conn:
        assert [h["combined"] for h in history_for(conn, "account", a)] == [60, 80, 40]


def test_unchanged_accounts_write_nothing(store):
    setup_world(store)
    score(store, RULES, T1, workers=1)
    again = score(store, RULES, T1, workers=1)
    assert again.accounts.changed == {} and again.accounts.accounts == 3


def test_default_account_field_specs_load():
    from crm_app.specs.loader import SpecDirs, load_spec_set
    from tests.conftest import ROOT
    specs = load_spec_set(SpecDirs.under(ROOT))
    account_fields = [f for f in specs.fields if f.model in ("account", "health")]
    assert {f.salesforce_objects for f in account_fields if f.model == "account"} == {("Account",)}
    assert {f.hubspot_object for f in account_fields if f.model == "account"} == {"companies"}
    assert any(f.value == "segment" for f in account_fields if f.model == "health")


def test_incremental_run_rescores_only_the_changed_peoples_accounts(store):
    accounts = setup_world(store)
    score(store, RULES, T1, workers=1)
    with store.read() as conn:
        b1 = people_store.person_ids(conn, ["b1"])["b1"]
    with store.begin() as conn:
        people_store.mark_dirty(conn, [b1])
    summary = score(store, RULES, T1 + 60, mode="changed", workers=1)
    assert summary.people == 1 and summary.accounts.accounts == 1  # only B, not A or C
    assert account_result(store, accounts["B"])["as_of"] == T1  # unchanged score: not rewritten


def test_account_scores_are_written_to_crm_accounts(store, tmp_path):
    """The sandbox CRM (a real SQLite CRM) gets PQA fields on its accounts, from the account model's results."""
    from crm_app.crm.sandbox import SandboxCrm
    from crm_app.services.ops.demo_crm import seed_sandbox_from_store
    from crm_app.specs.loader import SpecDirs, load_spec_set
    from tests.conftest import ROOT
    with store.begin() as conn:
        ids = people_store.upsert_accounts(conn, [
            {"external_id": "A", "name": "Acme", "domain": "acme.com", "attributes": {"employees": 200, "seats": 4}},
            {"external_id": "B", "name": "Beta", "domain": "beta.com", "attributes": {"employees": 10}}])
        people = people_store.upsert_people(conn, [
            {"external_id": "a1", "email": "a1@acme.com", "account_id": ids["A"], "created_at": T1 - 60 * DAY},
            {"external_id": "a2", "email": "a2@acme.com", "account_id": ids["A"], "created_at": T1 - 60 * DAY},
            {"external_id": "b1", "email": "b1@beta.com", "account_id": ids["B"], "created_at": T1 - 60 * DAY}])
    add_events(store, people, [("a1", "Login", T1 - DAY), ("a1", "Report", T1 - DAY), ("a2", "Login", T1 - DAY),
                               ("a2", "Report", T1 - DAY)])
    score(store, RULES, T1, workers=1)
    specs = [f for f in load_spec_set(SpecDirs.under(ROOT)).fields if f.model == "account"]
    seed_sandbox_from_store(store, tmp_path / "crm.db", specs, ROOT / "mapping" / "crm.yaml")
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    got = {r.values["domain"]: r.values for r in crm.read_changed(
        "accounts", None, ["domain", "pqa_score", "pqa_status", "pqa_segment"])}
    # A: fit 10 + two ready users 30 + 2 active 10 + top 80 5 + average 80 5 + seats 2/4 20 = 80
    assert (got["acme.com"]["pqa_score"], got["acme.com"]["pqa_segment"]) == (80, "Several ready users")
    assert got["acme.com"]["pqa_status"] in (1, True)
    b = account_result(store, ids["B"])["combined"]
    assert got["beta.com"]["pqa_score"] == b and got["beta.com"]["pqa_segment"] is None
