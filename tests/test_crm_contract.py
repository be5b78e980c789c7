"""One scenario, three CRMs: provision, sync, score, write back, rescore with nothing changed.

The same world is seeded into the sandbox, the Salesforce emulator and the HubSpot emulator; every CRM must end
up holding the same score values, and an unchanged world must cost zero write calls.
"""
from __future__ import annotations

import pytest

from crm_app.crm.sandbox import SandboxCrm
from crm_app.services.crm.provision import provision
from crm_app.services.crm.sync import sync_crm
from crm_app.services.crm.writeback import push_scores
from crm_app.services.scoring.run import score
from crm_app.store import Store, schema
from tests import crm_world as w
from tests.crm_world import hs_server, sf_server, tls  # noqa: F401 - fixtures
from tests.emulators import hubspot as hs_emu
from tests.emulators import salesforce as sf_emu
from tests.emulators.server import EmulatorServer

CRMS = ("sandbox", "salesforce", "hubspot")
PERSON_OBJECTS = {"sandbox": ("contacts", "leads"), "salesforce": ("Contact", "Lead"), "hubspot": ("contacts",)}


def _adapter(crm: str, tmp_path, tls, servers: list):
    if crm == "sandbox":
        adapter = SandboxCrm(str(tmp_path / f"sandbox-{crm}.db"))
        w.seed_sandbox(adapter)
        return adapter
    emu = sf_emu.SalesforceEmulator() if crm == "salesforce" else hs_emu.HubSpotEmulator()
    server = EmulatorServer(emu, tls[1], tls[2]).start()
    servers.append(server)
    if crm == "salesforce":
        w.seed_salesforce(emu)
        return w.salesforce_adapter(server, tls[0])
    w.seed_hubspot(emu)
    return w.hubspot_adapter(server, tls[0])


def _read_back(adapter, crm: str, fields) -> dict:
    """email -> {field spec key: canonical value}, read through the adapter (the CRM's view)."""
    out = {}
    for object_type in PERSON_OBJECTS[crm]:
        names = {name: spec.key for spec in fields for o, name in adapter.field_targets(spec) if o == object_type}
        email_field = {"sandbox": "email", "salesforce": "Email", "hubspot": "email"}[crm]
        for record in adapter.read_changed(object_type, None, [email_field, *names]):
            out[record.values[email_field]] = {key: record.values.get(name) for name, key in names.items()}
    return out


def _scenario(crm: str, tmp_path, tls) -> dict:
    servers: list = []
    store = Store(f"sqlite:///{tmp_path / f'pql-{crm}.db'}")
    try:
        adapter = _adapter(crm, tmp_path, tls, servers)
        fields, ruleset, mapping = w.spec_fields(), w.rules(), w.mapping(crm)
        w.seed_store(store)
        first_plan = provision(store, adapter, fields)
        second_plan = provision(store, adapter, fields)
        synced = sync_crm(store, adapter, mapping)
        score(store, ruleset, w.AS_OF)
        first = push_scores(store, adapter, fields)
        resync = sync_crm(store, adapter, mapping)
        with store.read() as conn:
            dirty_after_resync = conn.execute(schema.dirty.select()).fetchall()
        score(store, ruleset, w.AS_OF, mode="changed")
        second = push_scores(store, adapter, fields)
        values = _read_back(adapter, crm, fields)
        return {"first_plan": first_plan, "second_plan": second_plan, "synced": synced, "first": first,
                "resync": resync, "dirty_after_resync": dirty_after_resync, "second": second, "values": values,
                "people": _people(store)}
    finally:
        for server in servers:
            server.stop()
        store.dispose()


def _people(store: Store) -> dict:
    with store.read() as conn:
        rows = conn.execute(schema.people.select()).fetchall()
    return {r.email: r for r in rows}


@pytest.fixture(scope="module")
def outcomes(tls, tmp_path_factory) -> dict:
    return {crm: _scenario(crm, tmp_path_factory.mktemp(crm), tls) for crm in CRMS}


@pytest.mark.parametrize("crm", CRMS)
def test_provision_creates_then_changes_nothing(outcomes, crm):
    first, second = outcomes[crm]["first_plan"], outcomes[crm]["second_plan"]
    assert {i.action for i in first} == {"create"} and len(first) == (20 if crm != "hubspot" else 10)
    assert {i.action for i in second} == {"ok"}


@pytest.mark.parametrize("crm", CRMS)
def test_sync_links_every_crm_person_to_the_product_user(outcomes, crm):
    people = outcomes[crm]["people"]
    assert len(people) == 5  # matched by email: no duplicate people were made
    assert people["ann@acme.com"].external_id == "user-0"
    assert people["ann@acme.com"].account_id is not None
    assert people["ann@acme.com"].attributes["title"] == "VP Sales"


@pytest.mark.parametrize("crm", CRMS)
def test_first_writeback_writes_every_scored_record(outcomes, crm):
    first = outcomes[crm]["first"]
    assert first.written == 5 and not first.failed


@pytest.mark.parametrize("crm", CRMS)
def test_our_own_writes_are_not_changes(outcomes, crm):
    assert sum(outcomes[crm]["resync"].changed.values()) == 0
    assert outcomes[crm]["dirty_after_resync"] == []


@pytest.mark.parametrize("crm", CRMS)
def test_rescore_with_nothing_changed_costs_zero_write_calls(outcomes, crm):
    second = outcomes[crm]["second"]
    assert second.changed == 0 and second.written == 0
    assert second.calls == {}


def test_every_crm_holds_the_same_values(outcomes):
    sandbox = outcomes["sandbox"]["values"]
    assert set(sandbox) == {c[0] for c in w.CONTACTS} | {lead[0] for lead in w.LEADS}
    assert outcomes["salesforce"]["values"] == sandbox
    assert outcomes["hubspot"]["values"] == sandbox


def test_written_values_are_the_scores(outcomes):
    ann, dan = outcomes["sandbox"]["values"]["ann@acme.com"], outcomes["sandbox"]["values"]["dan@gmail.com"]
    assert ann["pql_fit_score"] == 30  # ICP industry 20 + size 15 + senior title 15 - outside regions 20
    assert ann["pql_score"] >= 75 and ann["pql_status"] is True and ann["score_band"] == "High"
    assert ann["activation_status"] == "Activated"  # 3 milestones: activated at 2, power user at 4
    assert ann["last_product_activity"] == "2026-09-20T14:13:20Z"
    assert "Invited 2 teammate(s): +25" in ann["score_reasons"]
    assert dan["pql_status"] is False and dan["pql_fit_score"] == 0 and dan["last_product_activity"] is None
