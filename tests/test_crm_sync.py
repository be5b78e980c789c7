"""Incremental sync in: watermarks, HubSpot's 10,000-result search cap, mapping into people and accounts,
and a mapping file that is checked with file:line errors."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crm_app.crm.registry import make_adapter
from crm_app.crm.base import CrmError
from crm_app.crm.sandbox import SandboxCrm, now_iso
from crm_app.errors import SpecSetInvalid
from crm_app.services.crm.sync import sync_crm
from crm_app.specs.crm.mapping import load_mapping
from crm_app.store import crm as crm_store
from crm_app.store import schema
from tests import crm_world as w
from tests.crm_world import hs_server, sf_server, store, tls  # noqa: F401 - fixtures


def test_hubspot_reads_past_the_10000_search_cap(hs_server, tls):
    for i in range(10_450):
        hs_server.app.insert("contacts", {"email": f"c{i}@example.com"})
    adapter = w.hubspot_adapter(hs_server, tls[0])
    ids = [r.id for r in adapter.read_changed("contacts", None, ["email"])]
    assert len(ids) == len(set(ids)) == 10_450
    assert hs_server.count("/search") >= 53  # 200 a page, and a fresh query before the cap


def test_hubspot_pages_past_the_cap_within_one_timestamp(hs_server, tls):
    stamp = hs_server.app.tick()
    for i in range(10_050):
        record_id = hs_server.app.insert("contacts", {"email": f"c{i}@example.com"})
        hs_server.app.objects["contacts"][record_id]["properties"]["lastmodifieddate"] = stamp
    adapter = w.hubspot_adapter(hs_server, tls[0])
    ids = [r.id for r in adapter.read_changed("contacts", None, ["email"])]
    assert len(ids) == len(set(ids)) == 10_050  # the (ms, hs_object_id) keyset restarts inside the millisecond


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_second_sync_reads_only_what_changed(crm, request, store, tls):
    server = request.getfixturevalue("sf_server" if crm == "salesforce" else "hs_server")
    adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, tls[0])
    (w.seed_salesforce if crm == "salesforce" else w.seed_hubspot)(server.app)
    first = sync_crm(store, adapter, w.mapping(crm))
    assert sum(first.changed.values()) == sum(first.read.values()) > 0
    emu = server.app
    if crm == "salesforce":
        contact = next(r for r in emu.records["Contact"].values() if r["Email"] == "bob@acme.com")
        # The SOQL watermark has whole seconds (the documented literal formats), so change bob a second later.
        emu.clock += timedelta(seconds=2)
        contact.update(Title="Chief Technology Officer", SystemModstamp=emu.tick())
    else:
        contact = next(r for r in emu.objects["contacts"].values() if r["properties"]["email"] == "bob@acme.com")
        contact["properties"].update(jobtitle="Chief Technology Officer", lastmodifieddate=emu.tick())
    second = sync_crm(store, adapter, w.mapping(crm))
    assert sum(second.changed.values()) == 1
    # The (modified, id) keyset never re-reads the watermark's own second or millisecond: only bob.
    assert sum(second.read.values()) == 1
    with store.read() as conn:
        bob = conn.execute(schema.people.select().where(schema.people.c.email == "bob@acme.com")).one()
        assert bob.attributes["title"] == "Chief Technology Officer"


def test_sync_marks_dirty_only_records_whose_inputs_changed(store, tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    w.seed_sandbox(crm)
    sync_crm(store, crm, w.mapping("sandbox"))
    with store.begin() as conn:
        conn.execute(schema.dirty.delete())
    crm.db.execute("UPDATE contacts SET owner_id = 'someone', modified_at = ? WHERE id = 'CON-0'", [now_iso()])
    crm.db.execute("UPDATE contacts SET title = 'CEO', modified_at = ? WHERE id = 'CON-1'", [now_iso()])
    crm.db.conn.commit()
    summary = sync_crm(store, crm, w.mapping("sandbox"))
    assert summary.read["contacts"] == 2 and summary.changed["contacts"] == 1
    with store.read() as conn:
        dirty = [r.person_id for r in conn.execute(schema.dirty.select())]
        bob = conn.execute(schema.people.select().where(schema.people.c.email == "bob@acme.com")).one()
        assert dirty == [bob.id] and bob.attributes["title"] == "CEO"
        assert crm_store.watermark(conn, "sandbox", "contacts") is not None


def test_contacts_link_to_their_accounts_firmographics(store, tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    w.seed_sandbox(crm)
    sync_crm(store, crm, w.mapping("sandbox"))
    with store.read() as conn:
        ann = conn.execute(schema.people.select().where(schema.people.c.email == "ann@acme.com")).one()
        acme = conn.execute(schema.accounts.select().where(schema.accounts.c.id == ann.account_id)).one()
    assert (acme.domain, acme.attributes["industry"], acme.attributes["employees"]) == ("acme.com", "Software", 200)


@pytest.mark.parametrize("text,expected", [
    ("salesforce:\n  Lead:\n    subject: persn\n    fields: {email: Email}\n", "crm.yaml:3: salesforce.Lead.subject:"),
    ("salesforce:\n  Lead:\n    subject: person\n    feilds: {email: Email}\n", "unknown key 'feilds'"),
    ("hubspot:\n  companies:\n    subject: account\n    account_link: x\n    fields: {name: name}\n",
     "crm.yaml:4: hubspot.companies.account_link: only a person object"),
    ("sandbox:\n  leeds: {subject: person, fields: {email: email}}\n", "did you mean 'leads'"),
])
def test_mapping_errors_name_file_line_and_key(tmp_path, text, expected):
    path = tmp_path / "crm.yaml"
    path.write_text(text)
    with pytest.raises(SpecSetInvalid) as info:
        load_mapping(path, "salesforce")
    assert expected in str(info.value)


def test_unknown_crm_lists_the_valid_ones():
    with pytest.raises(CrmError, match="not one of: sandbox, salesforce, hubspot .did you mean 'salesforce'"):
        make_adapter({"CRM": "salesfroce"})
