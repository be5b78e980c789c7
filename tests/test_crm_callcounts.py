"""Write-back of N changed records costs ceil(N/200) Salesforce calls and ceil(N/100) HubSpot calls; an
unchanged world costs none. Counted twice: by the adapter and by the emulator."""
from __future__ import annotations

import math

import pytest

from crm_app.services.crm.provision import provision
from crm_app.services.crm.sync import sync_crm
from crm_app.services.crm.writeback import push_scores
from tests import crm_world as w
from tests.crm_world import hs_server, sf_server, store, tls  # noqa: F401 - fixtures

TOTAL = 450
WRITE_PATH = {"salesforce": "/composite/sobjects", "hubspot": "/batch/update"}
FAMILY = {"salesforce": "sobject-collections", "hubspot": "batch"}
SIZE = {"salesforce": 200, "hubspot": 100}


def _world(crm, request, store, tls):
    server = request.getfixturevalue("sf_server" if crm == "salesforce" else "hs_server")
    adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, tls[0])
    w.seed_many(store, server.app, crm, TOTAL)
    fields = w.spec_fields()
    provision(store, adapter, fields)
    sync_crm(store, adapter, w.mapping(crm))
    w.put_scores(store, None, 10)
    first = push_scores(store, adapter, fields)
    assert first.written == TOTAL
    return server, adapter, fields


@pytest.mark.parametrize("crm,changed", [("salesforce", 1), ("salesforce", 200), ("salesforce", 201),
                                         ("salesforce", 450), ("hubspot", 1), ("hubspot", 100),
                                         ("hubspot", 101), ("hubspot", 450)])
def test_changed_records_cost_one_call_per_full_batch(crm, changed, request, store, tls):
    server, adapter, fields = _world(crm, request, store, tls)
    w.put_scores(store, [f"person{i:06d}@example.com" for i in range(changed)], 90)
    server.reset_calls()
    summary = push_scores(store, adapter, fields)
    expected = math.ceil(changed / SIZE[crm])
    assert summary.written == changed
    assert summary.calls == {FAMILY[crm]: expected}
    assert server.count(WRITE_PATH[crm]) == expected == len(server.calls)


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_unchanged_world_costs_zero_calls(crm, request, store, tls):
    server, adapter, fields = _world(crm, request, store, tls)
    server.reset_calls()
    summary = push_scores(store, adapter, fields)
    assert summary.changed == 0 and summary.calls == {} and server.calls == []


def test_salesforce_writes_never_fire_lead_assignment(request, store, tls):
    server, adapter, fields = _world("salesforce", request, store, tls)
    owners = {r.get("OwnerId") for r in server.app.records["Lead"].values()}
    assert w.sf_emu.QUEUE_ID not in owners  # the emulator reassigns leads written without Sforce-Auto-Assign: FALSE


def test_salesforce_large_writeback_uses_bulk_api(sf_server, store, tls):
    adapter = w.salesforce_adapter(sf_server, tls[0], bulk_threshold=300)
    w.seed_many(store, sf_server.app, "salesforce", TOTAL)
    fields = w.spec_fields()
    provision(store, adapter, fields)
    sync_crm(store, adapter, w.mapping("salesforce"))
    w.put_scores(store, None, 80)
    sf_server.reset_calls()
    summary = push_scores(store, adapter, fields)
    assert summary.written == TOTAL and not summary.failed
    assert sf_server.count("/composite/sobjects") == 0 and sf_server.count("/jobs/ingest", "POST") == 1
    values = {r["PQL_Score__c"] for r in sf_server.app.records["Lead"].values()}
    assert values == {80}
    owners = {r.get("OwnerId") for r in sf_server.app.records["Lead"].values()}
    assert w.sf_emu.QUEUE_ID not in owners
