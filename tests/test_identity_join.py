"""One person, whichever side came first: CRM records synced before or after their product user signs up,
namesakes that a name guess must not join, and 0 false links, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_app.crm.base import CrmRecord
from crm_app.crm.sandbox import SandboxCrm, now_iso
from crm_app.services.crm.sync import sync_crm
from crm_app.services.identity.resolve import record_crm_people, resolve_identities
from crm_app.services.ingest.writer import ingest_messages
from crm_app.store import crm as crm_store
from crm_app.store import identity as identity_store
from crm_app.store import schema
from tests import crm_world as w

T0 = "2026-11-01T00:00:00Z"
N = 41


def identify(user, email, **traits):
    return {"type": "identify", "userId": user, "timestamp": T0, "traits": dict(traits, email=email)}


def track(user, n):
    return {"type": "track", "userId": user, "event": "Report Created", "timestamp": T0, "messageId": f"{user}-{n}"}


def leads(crm: SandboxCrm, emails: list[str]) -> None:
    stamp = now_iso()
    with crm.db.conn:
        crm.db["leads"].insert_all([{"id": f"LEAD-{n}", "email": e, "title": "Engineer", "company": "Acme",
                                     "industry": "Software", "employees": 10, "country": "US",
                                     "modified_at": stamp} for n, e in enumerate(emails)])


def state(store) -> dict:
    with store.read() as conn:
        people = {r.external_id: r.id for r in conn.execute(select(schema.people.c.external_id, schema.people.c.id))}
        links = {r["record_id"]: r["person_id"] for r in crm_store.person_links(conn, "sandbox")}
        events = dict(conn.execute(select(schema.events.c.person_id, func.count())
                                   .group_by(schema.events.c.person_id)).all())
    return {"people": people, "links": links, "events": events}


EMAILS = [f"user{n}@acme{n % 7}.com" for n in range(N)]
# How each sign-up spells the address the CRM holds: the canonical email joins them.
SPELLING = [(lambda e: e), (lambda e: e.upper()), (lambda e: e.replace("@", "+trial@")), (lambda e: f" {e} ")]


@pytest.mark.parametrize("order", ["crm_first", "product_first", "anonymous_user_then_email"])
def test_one_person_whichever_side_came_first(store, tmp_path, order):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    leads(crm, EMAILS)
    signups = [identify(f"u{n}", SPELLING[n % 4](e)) for n, e in enumerate(EMAILS)]
    events = [track(f"u{n}", k) for n in range(N) for k in range(2)]
    if order == "crm_first":
        sync_crm(store, crm, w.mapping("sandbox"))
        ingest_messages(store, signups + events, "test")
    elif order == "product_first":
        ingest_messages(store, [identify(f"u{n}", e) for n, e in enumerate(EMAILS)] + events, "test")
        sync_crm(store, crm, w.mapping("sandbox"))
    else:  # the users are known without an email when the CRM is synced, then identify
        ingest_messages(store, events, "test")
        sync_crm(store, crm, w.mapping("sandbox"))
        ingest_messages(store, signups, "test")
    got = state(store)
    assert sorted(got["people"]) == sorted(f"u{n}" for n in range(N))  # nothing duplicated
    assert got["links"] == {f"LEAD-{n}": got["people"][f"u{n}"] for n in range(N)}  # 41 of 41 linked
    assert got["events"] == {got["people"][f"u{n}"]: 2 for n in range(N)}  # product history kept
    resolve_identities(store)
    with store.read() as conn:
        assert identity_store.link_counts(conn) == {"email": N}


def test_a_new_user_takes_over_the_crm_person_with_its_scores(store, tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    leads(crm, ["ann@acme.io"])
    sync_crm(store, crm, w.mapping("sandbox"))
    w.put_scores(store, ["ann@acme.io"], 77)
    before = state(store)["people"]["ann@acme.io"]
    ingest_messages(store, [identify("u-ann", "Ann@Acme.io"), track("u-ann", 1)], "test")
    got = state(store)
    assert got["people"] == {"u-ann": before} and got["links"] == {"LEAD-0": before}
    with store.read() as conn:
        assert conn.execute(select(schema.results.c.combined).where(schema.results.c.subject_id == before)).scalar() == 77


def test_an_email_two_new_users_share_joins_neither(store, tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    leads(crm, ["team@acme.io"])
    sync_crm(store, crm, w.mapping("sandbox"))
    ingest_messages(store, [identify("u1", "team@acme.io"), identify("u2", "team+b@acme.io")], "test")
    got = state(store)
    assert sorted(got["people"]) == ["team@acme.io", "u1", "u2"]
    assert got["links"] == {"LEAD-0": got["people"]["team@acme.io"]}


def crm_record(rid, email, first, last):
    return CrmRecord("Lead", rid, {"email": email, "first_name": first, "last_name": last}, "")


# (CRM people, product users, the only links allowed): namesakes must never be joined by a guess.
NAMESAKES = [
    pytest.param([("L1", "jdoe@yahoo.com", "Jane", "Doe")],
                 [("u1", "jane.doe@gmail.com", "Jane", "Doe"), ("u2", "janedoe@outlook.com", "Jane", "Doe")],
                 {}, id="two-product-users-one-name"),
    pytest.param([("L1", "sam.lee@alpha.com", "Sam", "Lee"), ("L2", "samlee@hotmail.com", "Sam", "Lee")],
                 [("u1", "slee@gmail.com", "Sam", "Lee")], {}, id="two-crm-addresses-one-name"),
    pytest.param([("L1", "sam.lee@alpha.com", "Sam", "Lee"), ("L2", "samlee@hotmail.com", "Sam", "Lee")],
                 [("u1", "slee@gmail.com", "Sam", "Lee"), ("u2", "sam.lee@gmail.com", "Sam", "Lee")],
                 {}, id="namesakes-on-both-sides"),
    pytest.param([("L1", "jdoe@yahoo.com", "Jane", "Doe")], [("u1", "jane.doe@gmail.com", "Jane", "Doe")],
                 {"sandbox:Lead:L1": "u1"}, id="one-candidate-each-side"),
    pytest.param([("L1", "jdoe@yahoo.com", "Jane", "Doe"), ("L2", "ann@acme.io", "Ann", "Smith")],
                 [("u1", "jane.doe@gmail.com", "Jane", "Doe"), ("u2", "jane.doe@acme.io", "Jane", "Doe"),
                  ("u3", "ann@acme.io", "Ann", "Smith")],
                 {"sandbox:Lead:L1": "u1", "sandbox:Lead:L2": "u3"}, id="business-address-is-no-candidate"),
]


@pytest.mark.parametrize("crm_people,users,expected", NAMESAKES)
def test_namesakes_make_no_false_links(store, crm_people, users, expected):
    record_crm_people(store, [crm_record(*c) for c in crm_people], "sandbox")
    ingest_messages(store, [identify(u, e, first_name=first, last_name=last) for u, e, first, last in users], "test")
    report = resolve_identities(store)
    with store.read() as conn:
        ext = dict(conn.execute(select(schema.people.c.id, schema.people.c.external_id)).all())
        links = {r.crm_key: ext[r.person_id] for r in conn.execute(select(identity_store.identity_links))}
    assert links == expected  # 0 false links
    assert not report.conflicts
