"""Identity resolution: matching order, personal domains, shared domains, late CRM records, duplicates, status."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_app.crm.base import CrmRecord
from crm_app.services.identity import matching as rules
from crm_app.services.identity.resolve import (format_identity_status, identity_status, record_crm_people,
                                       resolve_identities)
from crm_app.services.ingest.writer import ingest_messages
from crm_app.store import identity as identity_store
from crm_app.store import schema

T0 = "2026-11-01T12:00:00Z"


@pytest.mark.parametrize("raw,canonical", [
    ("Ann@Acme.io", "ann@acme.io"),
    ("  ANN@ACME.IO ", "ann@acme.io"),
    ("ann+trial@acme.io", "ann@acme.io"),
    ("Ann+Promo+2@Gmail.com", "ann@gmail.com"),
    ("not-an-email", None),
    ("a@b@c.io", None),
    ("+tag@acme.io", None),
    (None, None),
])
def test_canonical_email(raw, canonical):
    assert rules.canonical_email(raw) == canonical


CRM = [
    rules.CrmPerson("sf:Lead:L1", "ann@acme.io", "ann smith", None),
    rules.CrmPerson("sf:Contact:C1", "bob@initech.com", "bob jones", "u-explicit"),
    rules.CrmPerson("sf:Lead:L2", "jane.doe@globex.com", "jane doe", None),
    rules.CrmPerson("sf:Lead:L3", "carl@umbrella.com", "carl stone", None),
    rules.CrmPerson("sf:Contact:C3", "carl@umbrella.com", "carl stone", None),  # a duplicate in the CRM
    rules.CrmPerson("sf:Lead:L5", "sam.lee@alpha.com", "sam lee", None),  # two different Sam Lees
    rules.CrmPerson("sf:Lead:L6", "sam.lee@beta.com", "sam lee", None),
]


@pytest.mark.parametrize("user,email,name,keys,method", [
    ("u-explicit", "someone.else@other.com", None, ["sf:Contact:C1"], rules.METHOD_EXTERNAL_ID),
    ("u1", " ANN@Acme.IO", None, ["sf:Lead:L1"], rules.METHOD_EMAIL),
    ("u2", "ann+beta@acme.io", None, ["sf:Lead:L1"], rules.METHOD_EMAIL),
    ("u3", "jane.doe@gmail.com", "jane doe", ["sf:Lead:L2"], rules.METHOD_HEURISTIC),
    ("u4", "jdoe@gmail.com", "jane doe", ["sf:Lead:L2"], rules.METHOD_HEURISTIC),
    ("u5", "jane.doe@gmail.com", None, [], None),  # no name: no heuristic guess
    ("u6", "partyanimal@gmail.com", "jane doe", [], None),  # the address does not name her
    ("u7", "jane.doe@otherco.com", "jane doe", [], None),  # heuristic is for personal addresses only
    ("u8", "carl@umbrella.com", None, ["sf:Contact:C3", "sf:Lead:L3"], rules.METHOD_EMAIL),
    ("u9", "nobody@nowhere.com", None, [], None),
    ("u10", "sam.lee@gmail.com", "sam lee", [], None),  # two people by that name in the CRM: no guess
])
def test_match_person_order(user, email, name, keys, method):
    assert rules.match_person(user, email, name, rules.build_index(CRM)) == (keys, method)


DOMAINS = {"acme.io": [1], "shared.com": [2, 3]}


@pytest.mark.parametrize("group,email,expected", [
    (7, "ann@acme.io", (7, rules.METHOD_GROUP)),  # explicit group id wins over the domain
    (None, "Ann@ACME.io", (1, rules.METHOD_DOMAIN)),
    (None, "ann@gmail.com", (None, None)),  # personal domains never match
    (None, "x@shared.com", (None, "ambiguous_domain")),  # two accounts share the domain
    (None, "x@unknown.com", (None, None)),
    (None, None, (None, None)),
])
def test_match_account_order(group, email, expected):
    assert rules.match_account(group, email, DOMAINS) == expected


def identify(user, email, ts=T0, anonymous=None, group=None, **traits):
    msg = {"type": "identify", "userId": user, "timestamp": ts, "traits": dict(traits, email=email)}
    if anonymous:
        msg["anonymousId"] = anonymous
    if group:
        msg["context"] = {"groupId": group}
    return msg


def track(event, user=None, anonymous=None, ts=T0, n=0):
    msg = {"type": "track", "event": event, "timestamp": ts, "messageId": f"{user or anonymous}-{event}-{n}"}
    if user:
        msg["userId"] = user
    if anonymous:
        msg["anonymousId"] = anonymous
    return msg


def crm_record(obj, rid, **values):
    return CrmRecord(obj, rid, values, "2026-11-01T00:00:00Z")


def people_by_ext(store) -> dict:
    with store.read() as conn:
        return {r.external_id: dict(r._mapping) for r in conn.execute(select(schema.people))}


def links(store) -> dict:
    with store.read() as conn:
        rows = conn.execute(select(identity_store.identity_links.c.crm_key, schema.people.c.external_id,
                                   identity_store.identity_links.c.method)
                            .join(schema.people, schema.people.c.id == identity_store.identity_links.c.person_id))
        return {k: (ext, m) for k, ext, m in rows}


def test_events_before_the_crm_person_are_kept_and_attached_later(store):
    ingest_messages(store, [track("Logged In", anonymous="anon-1", n=i) for i in range(3)], "test")
    ingest_messages(store, [identify("u1", "Ann@Acme.io", anonymous="anon-1"), track("Report Created", "u1")],
                    "test")
    assert resolve_identities(store).linked_people == 0  # no CRM person yet: nothing linked, nothing lost
    record_crm_people(store, [crm_record("Lead", "L1", Email="ann@acme.io", FirstName="Ann", LastName="Smith")],
                      "salesforce")
    report = resolve_identities(store)
    assert report.links == {"email": 1}
    assert links(store) == {"salesforce:Lead:L1": ("u1", "email")}
    with store.read() as conn:
        pid = people_by_ext(store)["u1"]["id"]
        assert conn.execute(select(func.count()).select_from(schema.events)
                            .where(schema.events.c.person_id == pid)).scalar() == 4


def test_gmail_sign_up_then_work_address(store):
    with store.begin() as conn:
        from crm_app.store.people import upsert_accounts
        upsert_accounts(conn, [{"external_id": "acct-globex", "domain": "globex.com"}])
    ingest_messages(store, [identify("u1", "jane.doe@gmail.com", first_name="Jane", last_name="Doe")], "test")
    record_crm_people(store, [crm_record("Lead", "L9", Email="Jane.Doe@globex.com", Name="Jane Doe")], "sf")
    resolve_identities(store)
    assert links(store) == {"sf:Lead:L9": ("u1", rules.METHOD_HEURISTIC)}
    assert people_by_ext(store)["u1"]["account_id"] is None  # gmail never matches an account
    ingest_messages(store, [identify("u1", "jane.doe@globex.com", ts="2026-11-05T00:00:00Z")], "test")
    assert people_by_ext(store)["u1"]["account_id"] is not None  # the work domain's account, at ingest
    resolve_identities(store)
    assert links(store) == {"sf:Lead:L9": ("u1", rules.METHOD_EMAIL)}


def test_shared_domain_and_explicit_group(store):
    with store.begin() as conn:
        from crm_app.store.people import upsert_accounts
        upsert_accounts(conn, [{"external_id": "a1", "domain": "shared.com"},
                               {"external_id": "a2", "domain": "shared.com"}])
    ingest_messages(store, [identify("u1", "x@shared.com"), identify("u2", "y@shared.com", group="a2")], "test")
    report = resolve_identities(store)
    people = people_by_ext(store)
    assert people["u1"]["account_id"] is None and report.accounts == {"ambiguous_domain": 1}
    with store.read() as conn:
        a2 = conn.execute(select(schema.accounts.c.id).where(schema.accounts.c.external_id == "a2")).scalar()
    assert people["u2"]["account_id"] == a2


def test_duplicates_are_reported_not_merged_and_status_shows_rates(store):
    ingest_messages(store, [identify("u1", "carl@umbrella.com"), identify("u2", "nobody@nowhere.com"),
                            *[track("Logged In", "u2", n=i) for i in range(5)],
                            track("Logged In", anonymous="ghost", n=1)], "test")
    record_crm_people(store, [crm_record("Lead", "L3", Email="carl@umbrella.com"),
                              crm_record("Contact", "C3", Email="CARL@umbrella.com "),
                              crm_record("Lead", "L4", Email="other@x.com")], "sf")
    resolve_identities(store)
    status = identity_status(store)
    assert status["duplicates"] == [(people_by_ext(store)["u1"]["id"], ["sf:Contact:C3", "sf:Lead:L3"])]
    assert (status["people_linked_to_crm"], status["people"], status["crm_linked"], status["crm_people"]) == (1, 2, 2, 3)
    assert status["largest_unmatched"][0] == ("u2", "nobody@nowhere.com", 5)
    assert status["anonymous_unidentified"] == [("ghost", 1)]
    text = "\n".join(format_identity_status(status))
    assert "1/2 (50.0%)" in text and "2/3 (66.7%)" in text and "    u2 <nobody@nowhere.com> 5 events" in text
    assert "CRM duplicates (reported, not merged): 1" in text


def test_one_crm_record_claimed_by_two_users_is_a_conflict_not_a_second_link(store):
    ingest_messages(store, [identify("u1", "ann@acme.io"), identify("u2", "Ann+2@acme.io")], "test")
    record_crm_people(store, [crm_record("Lead", "L1", Email="ann@acme.io")], "sf")
    report = resolve_identities(store)
    assert report.conflicts == [("sf:Lead:L1", ["u1", "u2"])]
    assert links(store) == {"sf:Lead:L1": ("u1", "email")}


@pytest.mark.parametrize("email,group,expected", [
    ("ann@Acme.io", None, "acme"),  # business domain, one account: matched at ingest
    ("ann@gmail.com", None, None),  # personal domain: never
    ("ann@shared.com", None, None),  # two accounts share the domain: neither
    ("ann@acme.io", "other", "other"),  # explicit group id first
    ("ann@nowhere.com", None, None),
])
def test_ingest_attaches_accounts_by_domain(store, email, group, expected):
    with store.begin() as conn:
        from crm_app.store.people import upsert_accounts
        upsert_accounts(conn, [{"external_id": "acme", "domain": "acme.io"},
                               {"external_id": "s1", "domain": "shared.com"},
                               {"external_id": "s2", "domain": "shared.com"},
                               {"external_id": "other", "domain": "other.com"}])
    ingest_messages(store, [identify("u1", email, group=group)], "test")
    with store.read() as conn:
        account = conn.execute(select(schema.accounts.c.external_id).join(
            schema.people, schema.people.c.account_id == schema.accounts.c.id)).scalar()
    assert account == expected


def test_an_account_that_appears_later_is_matched_by_the_next_resolve(store):
    ingest_messages(store, [identify("u1", "ann@late.io")], "test")
    assert people_by_ext(store)["u1"]["account_id"] is None
    with store.begin() as conn:
        from crm_app.store.people import upsert_accounts
        late = upsert_accounts(conn, [{"external_id": "late", "domain": "late.io"}])["late"]
    assert resolve_identities(store).accounts == {"domain": 1}
    assert people_by_ext(store)["u1"]["account_id"] == late


def test_crm_sync_records_crm_people_for_matching(tmp_path):
    """A real sync from the sandbox CRM feeds identity resolution; the product users then match by email."""
    from crm_app.crm.sandbox import SandboxCrm
    from crm_app.services.crm.sync import sync_crm
    from crm_app.store import Store
    from tests import crm_world as w
    store = Store(f"sqlite:///{tmp_path}/store.db")
    ingest_messages(store, [identify("p-ann", "Ann@Acme.com"), identify("p-dan", "dan+x@gmail.com")], "test")
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    w.seed_sandbox(crm)
    sync_crm(store, crm, w.mapping("sandbox"))
    report = resolve_identities(store)
    assert report.crm_people == len(w.CONTACTS) + len(w.LEADS)
    linked = {ext for ext, method in links(store).values() if method == "email"}
    assert {"p-ann", "p-dan"} <= linked  # mixed case, and plus-addressing on a personal domain
    store.dispose()
