"""CRM lifecycle followed by sync, against the Salesforce and HubSpot emulators, on SQLite and PostgreSQL:
a converted lead's person keeps its scores and history on the Contact, a merge leaves one link, a deletion
unlinks (also when Salesforce purged the record from the Recycle Bin before we looked, and for HubSpot's
archived records), and nothing loops between deletion and the creation policy."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from crm_app.services.crm.accounting import crm_status, format_status
from crm_app.services.crm.create import create_missing
from crm_app.services.crm.provision import provision
from crm_app.services.crm.sync import sync_crm
from crm_app.services.crm.writeback import push_scores
from crm_app.specs.crm.creation import load_creation_policy
from crm_app.store import crm as crm_store
from crm_app.store import schema
from tests import crm_world as w
from tests.conftest import ROOT
from tests.crm_world import hs_server, sf_server, tls  # noqa: F401 - fixtures
from tests.emulators.server import Faults

POLICY = load_creation_policy(ROOT / "mapping" / "create.yaml", ["conversion"])
SCORE = {"salesforce": "PQL_Score__c", "hubspot": "pql_score"}


def world(crm: str, server, store, tls_paths):
    """Seeded CRM and store, fields provisioned, synced, scored and written back once."""
    adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, tls_paths[0])
    (w.seed_salesforce if crm == "salesforce" else w.seed_hubspot)(server.app)
    w.seed_store(store)
    provision(store, adapter, w.spec_fields())
    sync_crm(store, adapter, w.mapping(crm))
    w.put_scores(store, None, 80)
    push_scores(store, adapter, w.spec_fields())
    return adapter


def links_of(store, crm: str) -> dict:
    """(object, record id) -> person external id."""
    with store.read() as conn:
        ext = dict(conn.execute(select(schema.people.c.id, schema.people.c.external_id)).all())
        return {(r["object_type"], r["record_id"]): ext[r["person_id"]] for r in crm_store.person_links(conn, crm)}


def people_count(store) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(schema.people)).scalar()


def sf_record(emu, obj: str, email: str) -> dict:
    return next(r for r in emu.records[obj].values() if r.get("Email") == email and not r.get("IsDeleted"))


def later(emu) -> None:
    """Salesforce stamps whole seconds: a change meant for the next sync happens in a later second."""
    emu.advance(2)


def test_a_converted_lead_keeps_scores_and_history_on_the_contact(sf_server, store, tls):
    emu = sf_server.app
    adapter = world("salesforce", sf_server, store, tls)
    lead = sf_record(emu, "Lead", "eve@bigco.com")
    assert lead[SCORE["salesforce"]] == 80
    with store.read() as conn:
        eve = conn.execute(select(schema.people).where(schema.people.c.email == "eve@bigco.com")).one()
        events = conn.execute(select(func.count()).select_from(schema.events)
                              .where(schema.events.c.person_id == eve.id)).scalar()
    later(emu)
    contact_id = emu.convert_lead(lead["Id"])["contactId"]
    writes_to_lead = emu.applied.get(lead["Id"], 0)
    summary = sync_crm(store, adapter, w.mapping("salesforce"))
    assert summary.lifecycle.get("moved") == 1
    links = links_of(store, "salesforce")
    assert ("Lead", lead["Id"]) not in links and links[("Contact", contact_id)] == eve.external_id
    w.put_scores(store, None, 90)
    pushed = push_scores(store, adapter, w.spec_fields())
    assert not pushed.failed  # a converted lead is read-only: a write to it would fail
    assert emu.records["Contact"][contact_id][SCORE["salesforce"]] == 90
    assert emu.applied.get(lead["Id"], 0) == writes_to_lead and lead[SCORE["salesforce"]] == 80
    with store.read() as conn:
        same = conn.execute(select(schema.people).where(schema.people.c.email == "eve@bigco.com")).one()
        assert same.id == eve.id and same.external_id == eve.external_id
        assert conn.execute(select(func.count()).select_from(schema.events)
                            .where(schema.events.c.person_id == eve.id)).scalar() == events > 0
        assert conn.execute(select(schema.results.c.combined).where(schema.results.c.subject_id == eve.id)).scalar() == 90
    assert people_count(store) == 5


def test_a_lead_converted_onto_an_existing_contact_joins_the_two_people(sf_server, store, tls):
    """The lead's person (the product user) and the contact's: one survives with the product history."""
    emu = sf_server.app
    adapter = world("salesforce", sf_server, store, tls)
    # A second address of dan's was a contact synced on its own: sync made a CRM-only person for it.
    contact_id = emu.insert("Contact", {"Email": "dan@school.edu", "LastName": "dan", "MailingCountry": "US"})
    sync_crm(store, adapter, w.mapping("salesforce"))
    assert links_of(store, "salesforce")[("Contact", contact_id)] == "dan@school.edu"
    later(emu)
    lead = sf_record(emu, "Lead", "dan@gmail.com")
    emu.convert_lead(lead["Id"], contact_id=contact_id)
    summary = sync_crm(store, adapter, w.mapping("salesforce"))
    assert summary.lifecycle == {"moved": 1, "deleted": 0, "people_joined": 1}
    links = links_of(store, "salesforce")
    assert links[("Contact", contact_id)] == "user-3" and ("Lead", lead["Id"]) not in links
    assert people_count(store) == 5  # the CRM-only person was folded into the product user


def test_a_salesforce_merge_leaves_one_link(sf_server, store, tls):
    emu = sf_server.app
    adapter = world("salesforce", sf_server, store, tls)
    ann = sf_record(emu, "Contact", "ann@acme.com")
    duplicate = emu.insert("Contact", {"Email": "ann.smith@acme.com", "LastName": "Smith", "MailingCountry": "US"})
    sync_crm(store, adapter, w.mapping("salesforce"))
    assert people_count(store) == 6
    later(emu)
    emu.merge("Contact", ann["Id"], [duplicate])
    sync_crm(store, adapter, w.mapping("salesforce"))
    links = links_of(store, "salesforce")
    assert [k for k, v in links.items() if v in ("user-0", "ann.smith@acme.com")] == [("Contact", ann["Id"])]
    assert people_count(store) == 5  # the duplicate's CRM-only person is gone with its record


def test_a_salesforce_deletion_unlinks_and_keeps_the_person(sf_server, store, tls):
    emu = sf_server.app
    adapter = world("salesforce", sf_server, store, tls)
    bob = sf_record(emu, "Contact", "bob@acme.com")
    later(emu)
    emu.delete(bob["Id"])
    summary = sync_crm(store, adapter, w.mapping("salesforce"))
    assert summary.lifecycle.get("deleted") == 1
    assert ("Contact", bob["Id"]) not in links_of(store, "salesforce")
    assert people_count(store) == 5
    w.put_scores(store, None, 95)
    assert not push_scores(store, adapter, w.spec_fields()).failed  # nothing is written to the deleted record


@pytest.mark.parametrize("new_id", [True, False], ids=["merge-makes-new-id", "primary-keeps-id"])
def test_a_hubspot_merge_leaves_one_link(hs_server, store, tls, new_id):
    emu = hs_server.app
    emu.merge_new_id = new_id
    adapter = world("hubspot", hs_server, store, tls)
    ann = next(r for r in emu.live("contacts") if r["properties"]["email"] == "ann@acme.com")
    duplicate = emu.insert("contacts", {"email": "ann.smith@acme.com", "country": "US"})
    sync_crm(store, adapter, w.mapping("hubspot"))
    assert people_count(store) == 6
    answer = requests.post(f"{hs_server.url}/crm/v3/objects/contacts/merge", verify=tls[0],
                           headers={"Authorization": f"Bearer {w.hs_emu.TOKEN}"},
                           json={"primaryObjectId": ann["id"], "objectIdToMerge": duplicate}, timeout=5)
    survivor = answer.json()["id"]
    assert (survivor != ann["id"]) is new_id
    sync_crm(store, adapter, w.mapping("hubspot"))
    links = links_of(store, "hubspot")
    assert [k for k, v in links.items() if v in ("user-0", "ann.smith@acme.com")] == [("contacts", survivor)]
    assert people_count(store) == 5
    w.put_scores(store, None, 91)
    assert not push_scores(store, adapter, w.spec_fields()).failed
    assert emu.objects["contacts"][survivor]["properties"][SCORE["hubspot"]] == "91"


def hs_contact(emu, email: str) -> dict:
    return next(r for r in emu.live("contacts") if r["properties"]["email"] == email)


def hs_api(server, tls_paths, method: str, path: str, **body):
    return requests.request(method, f"{server.url}{path}", verify=tls_paths[0], timeout=5, json=body or None,
                            headers={"Authorization": f"Bearer {w.hs_emu.TOKEN}"})


def no_recreation(store, adapter, crm: str, cycles: int = 3) -> list:
    """Sync and create as the worker would, a few times; the people each creation pass would give a record."""
    made = []
    for _ in range(cycles):
        sync_crm(store, adapter, w.mapping(crm), deleted_check_seconds=0)
        made.append(create_missing(store, adapter, POLICY).candidates)
    return made


def test_a_record_purged_from_the_recycle_bin_is_unlinked_and_not_recreated(sf_server, store, tls):
    emu = sf_server.app
    adapter = world("salesforce", sf_server, store, tls)
    bob = sf_record(emu, "Contact", "bob@acme.com")
    emu.advance(120)
    emu.delete(bob["Id"])
    emu.purge(bob["Id"])  # emptied from the Recycle Bin before the next sync: queryAll no longer shows it
    emu.advance(120)
    summary = sync_crm(store, adapter, w.mapping("salesforce"), deleted_check_seconds=0)
    assert summary.lifecycle.get("deleted") == 1
    assert ("Contact", bob["Id"]) not in links_of(store, "salesforce") and people_count(store) == 5
    w.put_scores(store, None, 96)
    assert not push_scores(store, adapter, w.spec_fields()).failed
    live = len(emu.live("Lead")) + len(emu.live("Contact"))
    assert no_recreation(store, adapter, "salesforce") == [0, 0, 0]
    assert len(emu.live("Lead")) + len(emu.live("Contact")) == live
    assert "People whose record was deleted in the CRM (no new one is created): 1" in \
        format_status(crm_status(store, "salesforce"))


def test_a_deletion_check_that_is_not_due_costs_no_call(sf_server, store, tls):
    emu = sf_server.app
    adapter = world("salesforce", sf_server, store, tls)
    emu.advance(300)
    sf_server.reset_calls()
    sync_crm(store, adapter, w.mapping("salesforce"), deleted_check_seconds=3600)
    assert sf_server.count("/deleted/") == 0
    sync_crm(store, adapter, w.mapping("salesforce"), full=True, deleted_check_seconds=3600)
    assert sf_server.count("/deleted/") == 3  # a full sync always looks: Account, Contact, Lead


def test_an_archived_hubspot_contact_is_unlinked_and_not_recreated(hs_server, store, tls):
    emu = hs_server.app
    adapter = world("hubspot", hs_server, store, tls)
    bob = hs_contact(emu, "bob@acme.com")
    assert hs_api(hs_server, tls, "DELETE", f"/crm/v3/objects/contacts/{bob['id']}").status_code == 204
    summary = sync_crm(store, adapter, w.mapping("hubspot"), deleted_check_seconds=0)
    assert summary.lifecycle.get("deleted") == 1
    assert ("contacts", bob["id"]) not in links_of(store, "hubspot") and people_count(store) == 5
    w.put_scores(store, None, 96)
    assert not push_scores(store, adapter, w.spec_fields()).failed
    live = len(emu.live("contacts"))
    assert no_recreation(store, adapter, "hubspot") == [0, 0, 0]
    assert len(emu.live("contacts")) == live


def test_an_archived_hubspot_company_is_unlinked(hs_server, store, tls):
    emu = hs_server.app
    adapter = world("hubspot", hs_server, store, tls)
    tiny = next(r for r in emu.live("companies") if r["properties"].get("domain") == "tiny.io")
    hs_api(hs_server, tls, "DELETE", f"/crm/v3/objects/companies/{tiny['id']}")
    sync_crm(store, adapter, w.mapping("hubspot"), deleted_check_seconds=0)
    with store.read() as conn:
        assert crm_store.account_records(conn, "hubspot", "companies", list(range(1, 100))) and \
            tiny["id"] not in crm_store.account_records(conn, "hubspot", "companies", list(range(1, 100))).values()


def test_a_hubspot_merge_search_does_not_show_yet_is_followed_by_the_deletion_check(hs_server, store, tls):
    """Both merged ids are archived at once; the survivor reaches search seconds later."""
    emu = hs_server.app
    adapter = world("hubspot", hs_server, store, tls)
    ann, bob = hs_contact(emu, "ann@acme.com"), hs_contact(emu, "bob@acme.com")
    emu.search_lag_seconds = 600
    survivor = hs_api(hs_server, tls, "POST", "/crm/v3/objects/contacts/merge", primaryObjectId=ann["id"],
                      objectIdToMerge=bob["id"]).json()["id"]
    summary = sync_crm(store, adapter, w.mapping("hubspot"), deleted_check_seconds=0)
    assert summary.lifecycle.get("moved") == 2  # the survivor itself is not in search yet
    links = links_of(store, "hubspot")
    assert links[("contacts", survivor)] in ("user-0", "user-1")
    assert not {("contacts", ann["id"]), ("contacts", bob["id"])} & set(links)
    assert no_recreation(store, adapter, "hubspot", cycles=1) == [0]  # a merge is no deletion


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_an_unchanged_crm_costs_no_record_reads(crm, request, store, tls):
    """After the first sync, an incremental sync of an unchanged CRM asks one empty query per mapped object."""
    server = request.getfixturevalue("sf_server" if crm == "salesforce" else "hs_server")
    adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, tls[0])
    (w.seed_salesforce if crm == "salesforce" else w.seed_hubspot)(server.app)
    first = sync_crm(store, adapter, w.mapping(crm), deleted_check_seconds=3600)
    assert sum(first.read.values()) == (7 if crm == "salesforce" else 9)
    for _ in range(3):
        server.reset_calls()
        again = sync_crm(store, adapter, w.mapping(crm), deleted_check_seconds=3600)
        assert sum(again.read.values()) == 0 and not again.lifecycle
        query = "/queryAll" if crm == "salesforce" else "/search"
        assert len(server.calls) == server.count(query) == len(w.mapping(crm).objects), server.calls


def test_a_gdpr_deleted_hubspot_contact_is_found_through_its_failed_write(hs_server, store, tls):
    """A GDPR delete leaves no archived copy: the write-back's not-found refusal is what tells sync to ask."""
    emu = hs_server.app
    adapter = world("hubspot", hs_server, store, tls)
    cat = hs_contact(emu, "cat@tiny.io")
    assert hs_api(hs_server, tls, "POST", "/crm/v3/objects/contacts/gdpr-delete", objectId=cat["id"]).status_code == 204
    w.put_scores(store, None, 97)
    assert set(push_scores(store, adapter, w.spec_fields()).failed) == {cat["id"]}
    summary = sync_crm(store, adapter, w.mapping("hubspot"), deleted_check_seconds=0)
    assert summary.lifecycle.get("deleted") == 1 and ("contacts", cat["id"]) not in links_of(store, "hubspot")
    with store.read() as conn:
        assert crm_store.failures(conn, "hubspot") == []  # nothing left to retry
    assert no_recreation(store, adapter, "hubspot") == [0, 0, 0]  # and the person is not given a new record


def test_a_record_changed_later_in_the_watermarks_second_is_not_passed_by(sf_server, store, tls):
    """Salesforce stamps whole seconds: a lower id changed after a sync, within the second that sync read last,
    sorts before the (stamp, id) watermark. Reading only settled seconds keeps it."""
    emu = sf_server.app
    adapter = w.salesforce_adapter(sf_server, tls[0])
    early = emu.insert("Lead", {"Email": "early@acme.com", "LastName": "E", "Company": "Acme", "Title": "Intern"})
    emu.advance(10)
    sync_crm(store, adapter, w.mapping("salesforce"))
    emu.advance(10)
    emu.clock = emu.clock.replace(microsecond=100_000)  # the next writes share one second
    emu.insert("Lead", {"Email": "late@acme.com", "LastName": "L", "Company": "Acme"})  # a higher id
    adapter.clock = lambda: emu.clock  # this sync runs inside that second
    sync_crm(store, adapter, w.mapping("salesforce"))
    emu.records["Lead"][early].update(Title="CTO", SystemModstamp=emu.tick())  # same second, lower id
    adapter.clock = lambda: emu.clock + timedelta(seconds=10)
    sync_crm(store, adapter, w.mapping("salesforce"))
    with store.read() as conn:
        titles = dict(conn.execute(select(schema.people.c.email, schema.people.c.attributes)).all())
    assert titles["early@acme.com"]["title"] == "CTO" and "late@acme.com" in titles


def test_a_deletion_check_the_crm_refuses_leaves_the_sync_done_and_is_asked_again(hs_server, store, tls):
    emu = hs_server.app
    adapter = world("hubspot", hs_server, store, tls)
    emu.insert("contacts", {"email": "new@acme.com"})
    hs_server.faults = Faults(rate=1.0, kinds=("500",), paths=("/crm/v3/objects/contacts",))  # the list only
    summary = sync_crm(store, adapter, w.mapping("hubspot"), deleted_check_seconds=0)
    assert summary.lifecycle == {"check_failed": 1} and "new@acme.com" in links_of(store, "hubspot").values()
    assert sync_crm(store, adapter, w.mapping("hubspot"), deleted_check_seconds=0).lifecycle == {"check_failed": 1}
    hs_server.faults = Faults()
    hs_server.reset_calls()
    assert sync_crm(store, adapter, w.mapping("hubspot"), deleted_check_seconds=0).lifecycle == {}
    assert hs_server.count("/crm/v3/objects/contacts", "GET") == 1  # the check went through this time
