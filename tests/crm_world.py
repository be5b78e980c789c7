"""Shared pieces of the CRM tests: TLS material, emulator servers, adapters on them, and one small world
(accounts, contacts, leads, product people and events) seeded the same way into every CRM."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crm_app.crm.hubspot import HubSpotCrm
from crm_app.crm.retry import RetryPolicy
from crm_app.crm.salesforce import SalesforceCrm
from crm_app.crm.sandbox import SandboxCrm, now_iso
from crm_app.specs.loader import SpecDirs, load_spec_set
from crm_app.specs.crm.mapping import load_mapping
from crm_app.store import Store
from crm_app.store import events as events_store
from crm_app.store import people as people_store
from tests.emulators import hubspot as hs_emu
from tests.emulators import salesforce as sf_emu
from tests.emulators.server import EmulatorServer, Faults
from tests.emulators.tls import make_test_ca

ROOT = Path(__file__).resolve().parent.parent
AS_OF = 1_790_000_000  # a fixed "now" (2026-09-21), so scores are the same in every run
DAY = 86400
ACCOUNTS = [("acme", "Acme", "acme.com", "Software", 200), ("tiny", "Tiny", "tiny.io", "Retail", 5)]
CONTACTS = [("ann@acme.com", "VP Sales", "acme"), ("bob@acme.com", "Engineer", "acme"),
            ("cat@tiny.io", "Founder", "tiny")]
LEADS = [("dan@gmail.com", "Student", "Self", "Education", 1), ("eve@bigco.com", "Director of IT", "BigCo",
                                                                  "Software", 1000)]
EVENTS = {"ann@acme.com": [("Invite Sent", 1), ("Invite Sent", 2), ("Onboarding Completed", 3),
                           ("Integration Connected", 4), ("Upgrade Started", 1)],
          "eve@bigco.com": [("Onboarding Completed", 10), ("Invite Sent", 40)],
          "cat@tiny.io": [("Onboarding Completed", 90)]}


def no_sleep(_seconds: float) -> None:
    """Backoff without waiting, so fault tests stay fast; the waits are still computed and honoured in order."""


def spec_fields() -> tuple:
    """The conversion model's shipped field specs: the fields this world's scores and counts are about
    (account and customer-health fields land on other objects and are tested with their models)."""
    return tuple(f for f in load_spec_set(SpecDirs.under(ROOT)).fields if f.model == "conversion")


def rules():
    return load_spec_set(SpecDirs.under(ROOT)).rules


def mapping(crm: str):
    return load_mapping(ROOT / "mapping" / "crm.yaml", crm)


@pytest.fixture(scope="session")
def tls(tmp_path_factory) -> tuple[str, str, str]:
    ca, cert, key = make_test_ca(tmp_path_factory.mktemp("tls"))
    return str(ca), str(cert), str(key)


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'pql.db'}")
    yield s
    s.dispose()


@pytest.fixture
def sf_server(tls):
    server = EmulatorServer(sf_emu.SalesforceEmulator(), tls[1], tls[2]).start()
    yield server
    server.stop()


@pytest.fixture
def hs_server(tls):
    server = EmulatorServer(hs_emu.HubSpotEmulator(), tls[1], tls[2]).start()
    yield server
    server.stop()


def salesforce_adapter(server: EmulatorServer, ca: str, **options) -> SalesforceCrm:
    adapter = SalesforceCrm(instance_url=server.url, session_id=sf_emu.TOKEN, ca_bundle=ca, bulk_poll=0.01,
                            timeout=options.pop("timeout", 5.0), policy=RetryPolicy(sleep=no_sleep, attempts=8),
                            **options)
    # The org's clock, not ours: every emulator write moves it; the sync runs once its seconds have settled.
    adapter.clock = lambda: server.app.clock + timedelta(seconds=adapter.settle_seconds + 1)
    return adapter


def hubspot_adapter(server: EmulatorServer, ca: str, **options) -> HubSpotCrm:
    return HubSpotCrm(hs_emu.TOKEN, host=server.url, ca_bundle=ca, timeout=options.pop("timeout", 5.0),
                      policy=RetryPolicy(sleep=no_sleep, attempts=8), **options)


def seed_store(store: Store) -> None:
    """Product users (no CRM data yet) and their events."""
    with store.begin() as conn:
        emails = [c[0] for c in CONTACTS] + [lead[0] for lead in LEADS]
        ids = people_store.upsert_people(conn, [{"external_id": f"user-{i}", "email": e, "attributes": {}}
                                                for i, e in enumerate(emails)])
        names = sorted({name for evs in EVENTS.values() for name, _ in evs})
        types = events_store.event_type_ids(conn, names)
        rows = [{"message_id": f"{email}-{n}", "person_id": ids[f"user-{emails.index(email)}"],
                 "type_id": types[name.lower()], "ts": AS_OF - days * DAY, "received_at": AS_OF}
                for email, evs in EVENTS.items() for n, (name, days) in enumerate(evs)]
        events_store.insert_events(conn, rows)


def seed_sandbox(crm: SandboxCrm) -> None:
    stamp = now_iso()
    db = crm.db
    with db.conn:
        db["accounts"].insert_all([{"id": f"ACC-{k}", "name": n, "domain": d, "industry": i, "employees": e,
                                    "country": "US", "modified_at": stamp} for k, n, d, i, e in ACCOUNTS])
        db["contacts"].insert_all([{"id": f"CON-{n}", "email": e, "title": t, "account_id": f"ACC-{a}",
                                    "country": "US", "modified_at": stamp} for n, (e, t, a) in enumerate(CONTACTS)])
        db["leads"].insert_all([{"id": f"LEAD-{n}", "email": e, "title": t, "company": c, "industry": i,
                                 "employees": m, "country": "US", "modified_at": stamp}
                                for n, (e, t, c, i, m) in enumerate(LEADS)])


def seed_salesforce(emu: sf_emu.SalesforceEmulator) -> None:
    ids = {k: emu.insert("Account", {"Name": n, "Website": f"https://www.{d}", "Industry": i,
                                     "NumberOfEmployees": e, "BillingCountry": "US"}) for k, n, d, i, e in ACCOUNTS}
    for email, title, account in CONTACTS:
        emu.insert("Contact", {"Email": email, "LastName": email.split("@")[0], "Title": title,
                               "AccountId": ids[account], "MailingCountry": "US", "OwnerId": "005000000000009AAA"})
    for email, title, company, industry, employees in LEADS:
        emu.insert("Lead", {"Email": email, "LastName": email.split("@")[0], "Title": title, "Company": company,
                            "Industry": industry, "NumberOfEmployees": employees, "Country": "US",
                            "OwnerId": "005000000000009AAA"})


def seed_hubspot(emu: hs_emu.HubSpotEmulator) -> None:
    """HubSpot has no lead object here: a lead is a contact whose firmographics sit on its own company."""
    ids = {k: emu.insert("companies", {"name": n, "domain": d, "industry": i, "numberofemployees": e,
                                       "country": "US"}) for k, n, d, i, e in ACCOUNTS}
    for email, title, account in CONTACTS:
        emu.insert("contacts", {"email": email, "jobtitle": title, "associatedcompanyid": ids[account],
                                "country": "US"})
    for email, title, company, industry, employees in LEADS:
        company_id = emu.insert("companies", {"name": company, "industry": industry, "numberofemployees": employees,
                                              "country": "US"})
        emu.insert("contacts", {"email": email, "jobtitle": title, "country": "US",
                                "associatedcompanyid": company_id})


__all__ = ["tls", "store", "sf_server", "hs_server", "Faults"]


def seed_many(store: Store, emulator, crm: str, n: int) -> list[str]:
    """n people in the store and as Salesforce leads or HubSpot contacts; returns the CRM ids."""
    emails = [f"person{i:06d}@example.com" for i in range(n)]
    with store.begin() as conn:
        people_store.upsert_people(conn, [{"external_id": f"u{i:06d}", "email": e, "attributes": {}}
                                          for i, e in enumerate(emails)])
    if crm == "salesforce":
        return [emulator.insert("Lead", {"Email": e, "LastName": "x", "Company": "c"}) for e in emails]
    return [emulator.insert("contacts", {"email": e}) for e in emails]


def put_scores(store: Store, emails: list[str] | None, combined: int, model: str = "conversion") -> None:
    """Store a result for people (all when emails is None) as scoring would, so write-back has work."""
    from sqlalchemy import select

    from crm_app.store.scoring import results as results_store
    from crm_app.store import schema
    with store.begin() as conn:
        query = select(schema.people.c.id)
        if emails is not None:
            query = query.where(schema.people.c.email.in_(emails))
        ids = list(conn.execute(query).scalars())
        rows = [{"model": model, "subject_id": pid, "as_of": AS_OF, "fit": combined // 2, "fit_raw": combined // 2,
                 "behaviour": combined - combined // 2, "behaviour_before_decay": 0, "decay": 0, "combined": combined,
                 "band": "high" if combined >= 70 else "low", "pql": combined >= 75, "pql_since": None,
                 "pql_first_at": AS_OF if combined >= 75 else None, "activation": "Activated", "milestones": 2,
                 "last_activity": AS_OF - DAY, "days_inactive": 1, "reasons": [["r", f"Scored {combined}", combined]],
                 "digest": f"test-{combined}", "rules_hash": "test"} for pid in ids]
        results_store.save_results(conn, rows, [])
