"""One person, whichever side came first: CRM records synced before or after their product user signs up,
namesakes that a name guess must not join, and 0 false links, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, literal, select

from crm_app.crm.base import CrmRecord
from crm_app.crm.sandbox import SandboxCrm, now_iso
from crm_app.services.crm.create import create_missing
from crm_app.services.crm.provision import provision
from crm_app.services.crm.sync import sync_crm
from crm_app.services.crm.writeback import push_scores
from crm_app.services.identity.matching import canonical_email
from crm_app.services.identity.resolve import record_crm_people, resolve_identities
from crm_app.services.ingest.writer import ingest_messages
from crm_app.specs.crm.creation import load_creation_policy
from crm_app.specs.crm.mapping import load_mapping
from crm_app.store import crm as crm_store
from crm_app.store import identity as identity_store
from crm_app.store import schema
from crm_app.store.sync.email_match import canonical_sql
from tests import crm_world as w
from tests.crm_world import hs_server, sf_server, tls  # noqa: F401 - fixtures

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


@pytest.mark.parametrize("order", ["crm_first", "product_first", "product_first_spelled", "crm_spelled",
                                   "anonymous_user_then_email"])
def test_one_person_whichever_side_came_first(store, tmp_path, order):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    # The CRM may hold the spelling that differs: sync matches the canonical email too.
    leads(crm, [SPELLING[n % 4](e) for n, e in enumerate(EMAILS)] if order == "crm_spelled" else EMAILS)
    signups = [identify(f"u{n}", SPELLING[n % 4](e)) for n, e in enumerate(EMAILS)]
    events = [track(f"u{n}", k) for n in range(N) for k in range(2)]
    if order == "crm_first":
        sync_crm(store, crm, w.mapping("sandbox"))
        ingest_messages(store, signups + events, "test")
    elif order in ("product_first", "crm_spelled"):
        ingest_messages(store, [identify(f"u{n}", e) for n, e in enumerate(EMAILS)] + events, "test")
        sync_crm(store, crm, w.mapping("sandbox"))
    elif order == "product_first_spelled":
        ingest_messages(store, signups + events, "test")
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


ADDRESS = st.from_regex(r"[ ]{0,2}[A-Za-z0-9._%-]{1,12}(\+[A-Za-z0-9+._-]{0,8})?@[A-Za-z0-9-]{1,10}(\.[A-Za-z]{2,5}){1,2}[ ]{0,2}",
                        fullmatch=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(email=ADDRESS)
def test_the_database_canonicalises_emails_as_identity_resolution_does(store, email):
    """Sync matches with the database's canonical form: it must be identity resolution's, address for address."""
    with store.read() as conn:
        assert conn.execute(select(canonical_sql(literal(email)))).scalar() == canonical_email(email)


def test_an_address_two_people_share_canonically_matches_neither(store, tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    ingest_messages(store, [identify("u1", "team@acme.io"), identify("u2", "Team+b@acme.io")], "test")
    leads(crm, ["team@acme.io", "TEAM+crm@acme.io"])
    sync_crm(store, crm, w.mapping("sandbox"))
    got = state(store)
    # Neither product user is guessed; each CRM record keeps a person of its own (CRM duplicates are not merged).
    assert sorted(got["people"]) == ["team+crm@acme.io", "team@acme.io", "u1", "u2"]
    assert got["links"] == {"LEAD-0": got["people"]["team@acme.io"], "LEAD-1": got["people"]["team+crm@acme.io"]}


E2E = [f"buyer{n}@firm{n % 3}.com" for n in range(10)]
NAMESAKE_CRM = "jdoe@yahoo.com"  # a CRM lead named Jane Doe; two product users of that name, other addresses
NAMESAKE_USERS = [("jane-1", "jane.doe@gmail.com"), ("jane-2", "janedoe@outlook.com")]


def seed_people(crm: str, emu) -> None:
    for email in [*E2E, NAMESAKE_CRM]:
        first, last = ("Jane", "Doe") if email == NAMESAKE_CRM else ("Buyer", email.split("@")[0])
        if crm == "salesforce":
            emu.insert("Lead", {"Email": email, "FirstName": first, "LastName": last, "Company": "Firm"})
        else:
            emu.insert("contacts", {"email": email, "firstname": first, "lastname": last})


def named_mapping(crm: str, folder):
    """The shipped mapping, plus the person names the name heuristic reads."""
    names = {"salesforce": "first_name: FirstName, last_name: LastName, ",
             "hubspot": "first_name: firstname, last_name: lastname, "}[crm]
    text = (w.ROOT / "mapping" / "crm.yaml").read_text().replace("fields: {email: Email,", "fields: {" + names
                                                                 + "email: Email,")
    text = text.replace("fields: {email: email, title: jobtitle", "fields: {" + names + "email: email, title: jobtitle")
    (folder / "crm.yaml").write_text(text)
    return load_mapping(folder / "crm.yaml", crm)


def crm_emails(crm: str, emu) -> list[str]:
    if crm == "salesforce":
        return [r["Email"].lower() for obj in ("Lead", "Contact") for r in emu.live(obj)]
    return [r["properties"]["email"].lower() for r in emu.live("contacts")]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
@pytest.mark.parametrize("order", ["crm_first", "product_first"])
def test_sync_then_signup_then_write_back_makes_no_second_record(crm, order, store, tls, request, tmp_path):
    """End to end on the vendor emulators: the signups join the records sync brought (spelled differently),
    namesakes are not guessed, and write-back's creation step makes records only for the people no record has."""
    server = request.getfixturevalue("sf_server" if crm == "salesforce" else "hs_server")
    adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, tls[0])
    seed_people(crm, server.app)
    signups = [identify(f"u{n}", SPELLING[n % 4](e), first_name="Buyer", last_name=e.split("@")[0])
               for n, e in enumerate(E2E)]
    signups += [identify(u, e, first_name="Jane", last_name="Doe") for u, e in NAMESAKE_USERS]
    events = [track(f"u{n}", 1) for n in range(len(E2E))]
    provision(store, adapter, w.spec_fields())
    mapping = named_mapping(crm, tmp_path)
    assert "first_name" in dict(mapping.for_subject("person")[0].fields)
    if order == "crm_first":
        sync_crm(store, adapter, mapping)
        ingest_messages(store, signups + events, "test")
    else:
        ingest_messages(store, signups + events, "test")
        sync_crm(store, adapter, mapping)
    report = resolve_identities(store)
    # The CRM's Jane Doe is the CRM-only person sync made for her address: that exact match outranks the two
    # name guesses, whichever was made first. 0 false links, and nothing reported as a conflict.
    assert report.links == {"email": len(E2E) + 1} and not report.conflicts
    with store.read() as conn:
        guessed = {r.crm_key for r in conn.execute(select(identity_store.identity_links).where(
            identity_store.identity_links.c.person_id.in_(select(schema.people.c.id).where(
                schema.people.c.external_id.in_([u for u, _ in NAMESAKE_USERS])))))}
    assert guessed == set()
    w.put_scores(store, None, 90)  # everyone is a PQL: the creation policy wants a record for each
    created = create_missing(store, adapter, load_creation_policy(w.ROOT / "mapping" / "create.yaml",
                                                                  ["conversion"]))
    pushed = push_scores(store, adapter, w.spec_fields())
    assert (created.candidates, created.created, created.failed) == (2, 2, {})  # only the two namesakes
    assert not pushed.failed
    emails = crm_emails(crm, server.app)
    assert sorted(emails) == sorted([*E2E, NAMESAKE_CRM, *(e for _, e in NAMESAKE_USERS)])  # no second record
    with store.read() as conn:
        ext = dict(conn.execute(select(schema.people.c.id, schema.people.c.external_id)).all())
        linked = sorted(ext[r["person_id"]] for r in crm_store.person_links(conn, crm))
    # The ten buyers are their product users; the CRM's Jane Doe stays a CRM-only person of her own.
    assert linked == sorted([*(f"u{n}" for n in range(len(E2E))), "jane-1", "jane-2", NAMESAKE_CRM])
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(schema.people)).scalar() == len(E2E) + 3
