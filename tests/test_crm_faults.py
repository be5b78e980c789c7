"""Faults: with 20% of emulator calls failing (429, 500, connection reset after the work was done), every
changed score still lands, nothing is left behind, and no task is created twice. Per-record refusals are kept
and retried; a run cut off halfway resumes without resending what landed."""
from __future__ import annotations

import pytest

from crm_app.crm.base import CrmError, TaskRequest
from crm_app.services.crm.provision import provision
from crm_app.services.crm.sync import sync_crm
from crm_app.services.crm.writeback import push_scores
from crm_app.store import crm as crm_store
from tests import crm_world as w
from tests.crm_world import hs_server, sf_server, store, tls  # noqa: F401 - fixtures
from tests.emulators.server import Faults

N = 300
BIG = 1900  # below the Bulk API threshold: 10 Salesforce and 19 HubSpot write calls for 20% faults to hit
SCORE_FIELD = {"salesforce": "PQL_Score__c", "hubspot": "pql_score"}


def _world(crm, request, store, tls, faults: Faults | None = None, n: int = N, **options):
    server = request.getfixturevalue("sf_server" if crm == "salesforce" else "hs_server")
    server.faults = faults or Faults()
    adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, tls[0], **options)
    ids = w.seed_many(store, server.app, crm, n)
    fields = w.spec_fields()
    provision(store, adapter, fields)
    sync_crm(store, adapter, w.mapping(crm))
    return server, adapter, fields, ids


def _scores_in_crm(server, crm: str) -> list:
    if crm == "salesforce":
        return [r.get(SCORE_FIELD[crm]) for r in server.app.records["Lead"].values()]
    return [r["properties"].get(SCORE_FIELD[crm]) for r in server.app.objects["contacts"].values()]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_every_score_lands_despite_20_percent_failures(crm, request, store, tls):
    # Provision, sync and write-back all run against the faulty CRM.
    faults = Faults(rate=0.2, kinds=("429", "500", "reset"), seed=7)
    server, adapter, fields, _ = _world(crm, request, store, tls, faults, n=BIG)
    w.put_scores(store, None, 77)
    summary = push_scores(store, adapter, fields)
    write_path = "/composite/sobjects" if crm == "salesforce" else "/batch/update"
    write_faults = {kind for kind, path in server.faulted if path.endswith(write_path)}
    assert "reset" in write_faults and len(write_faults) >= 2  # lost answers hit the score writes themselves
    assert summary.written == BIG and not summary.failed
    assert len(server.app.applied) == BIG and set(server.app.applied.values()) == {1}  # each applied once
    assert {str(v) if crm == "hubspot" else v for v in _scores_in_crm(server, crm)} == {77 if crm == "salesforce"
                                                                                        else "77"}
    server.reset_calls()
    again = push_scores(store, adapter, fields)  # still faulty, but there is nothing left to send
    assert again.changed == 0 and server.calls == []


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_write_whose_answer_was_lost_is_not_applied_again(crm, request, store, tls):
    server, adapter, fields, _ = _world(crm, request, store, tls)
    w.put_scores(store, None, 88)
    write_path = "/composite/sobjects" if crm == "salesforce" else "/batch/update"
    # Seeded: both kinds of lost answer hit these few write calls (asserted below, so a change shows).
    server.faults = Faults(rate=0.5, kinds=("reset", "500"), seed=1, paths=(write_path,))
    server.app.applied.clear()
    summary = push_scores(store, adapter, fields)
    assert {kind for kind, _ in server.faulted} == {"reset", "500"}
    assert summary.written == N and not summary.failed
    assert len(server.app.applied) == N and set(server.app.applied.values()) == {1}


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_no_duplicate_task_when_answers_are_lost(crm, request, store, tls):
    server, adapter, _fields, ids = _world(crm, request, store, tls)
    server.faults = Faults(rate=0.3, kinds=("429", "500", "reset"), seed=5)
    made = {adapter.create_task(TaskRequest(subject=f"Call PQL {i}", body="Score 80", due="2026-09-22",
                                            owner_id=None, who_object="Lead" if crm == "salesforce" else "contacts",
                                            who_id=ids[i])) for i in range(40)}
    assert server.faults.injected.get("reset", 0) > 0
    tasks = server.app.records["Task"] if crm == "salesforce" else server.app.objects["tasks"]
    assert len(tasks) == 40 == len(made)


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_timeouts_are_retried(crm, request, store, tls):
    server, adapter, fields, _ = _world(crm, request, store, tls, timeout=0.5)
    w.put_scores(store, None, 66)
    server.faults = Faults(rate=0.3, kinds=("timeout",), seed=3, timeout_seconds=1.0)
    summary = push_scores(store, adapter, fields)
    assert server.faults.injected.get("timeout", 0) > 0
    assert summary.written == N and not summary.failed


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_refused_records_are_kept_and_retried(crm, request, store, tls):
    server, adapter, fields, ids = _world(crm, request, store, tls)
    w.put_scores(store, None, 55)
    server.app.fail_ids = set(ids[:3])
    summary = push_scores(store, adapter, fields)
    assert set(summary.failed) == set(ids[:3]) and summary.written == N - 3
    with store.read() as conn:
        failures = crm_store.failures(conn, crm)
    assert {f["record_id"]: f["attempts"] for f in failures} == {i: 2 for i in ids[:3]}  # tried twice this run
    server.app.fail_ids = set()
    server.reset_calls()
    later = push_scores(store, adapter, fields)
    assert later.written == 3 and not later.failed and len(server.calls) == 1
    with store.read() as conn:
        assert crm_store.failures(conn, crm) == []


@pytest.mark.parametrize("crm,size", [("salesforce", 200), ("hubspot", 100)])
def test_interrupted_run_resumes_without_resending(crm, size, request, store, tls):
    server, adapter, fields, _ = _world(crm, request, store, tls)
    w.put_scores(store, None, 44)
    server.faults = Faults(rate=1.0, kinds=("500",), start_after=1)  # the first batch lands, then the CRM is down
    with pytest.raises(CrmError):
        push_scores(store, adapter, fields)
    server.faults = Faults()
    server.reset_calls()
    resumed = push_scores(store, adapter, fields)
    assert resumed.written == N - size  # only what had not landed
    assert len(server.calls) == -(-(N - size) // size)
    assert {str(v) for v in _scores_in_crm(server, crm)} == {"44"}
