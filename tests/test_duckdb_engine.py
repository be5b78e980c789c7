"""`score --engine duckdb` against the per-person engine on SQLite and PostgreSQL: the same stored results,
unchanged results written by neither, incremental runs, and a copy that never loses or doubles an event."""
from __future__ import annotations

import random

import pytest

from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar import copy, mirror
from crm_app.store.events import event_type_ids, insert_events
from crm_app.store.people import ensure_people, upsert_accounts, upsert_people
from tests.helpers import AS_OF, DAY

NAMES = ["Logged In", "Feature Used", "Invite Sent", "Onboarding Completed", "Page Viewed", "Session Ended",
         "Upgrade Started", "Support Contacted", "Email Unsubscribed"]


def seed(store, people: int = 60, seed_: int = 5) -> None:
    rng = random.Random(seed_)
    with store.begin() as conn:
        accounts = upsert_accounts(conn, [{"external_id": f"w{i}", "name": f"Co{i}", "domain": f"co{i}.io",
                                           "attributes": {"industry": rng.choice(["Software", "Retail"]),
                                                          "employees": rng.choice([5, 120, 900]),
                                                          "tools": rng.choice([["Slack"], []])}}
                                          for i in range(6)])
        upsert_people(conn, [{"external_id": f"u{i}", "email": f"p{i}@{rng.choice(['gmail.com', 'co1.io'])}",
                              "account_id": accounts[f"w{i % 6}"], "created_at": AS_OF - 100 * DAY,
                              "attributes": {"title": rng.choice(["VP Sales", "Student", "Engineer"]),
                                             "region": rng.choice(["Europe", "LATAM"]),
                                             "plan": rng.choice(["trial", "paid"])}} for i in range(people)])
        ids = ensure_people(conn, [f"u{i}" for i in range(people)])
        types = event_type_ids(conn, NAMES)
        rows = []
        for n in range(people * 12):
            name = rng.choice(NAMES)
            rows.append({"message_id": f"m{seed_}-{n}", "person_id": ids[f"u{rng.randrange(people)}"],
                         "anonymous_id": None, "type_id": types[name.lower()],
                         "ts": AS_OF - rng.randrange(0, 60 * DAY),
                         "properties": {"feature": f"f{n % 4}", "duration_seconds": n % 700,
                                        "path": rng.choice(["/pricing", "/docs"]), "topic": "billing"},
                         "received_at": AS_OF})
        insert_events(conn, rows)


def stored(store) -> dict:
    r = schema.results
    with store.read() as conn:
        return {(row.model, row.subject_id): (row.combined, row.band, row.pql, row.reasons, row.digest)
                for row in conn.execute(r.select())}


@pytest.fixture(autouse=True)
def copy_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "copy.duckdb"))


def test_duckdb_engine_stores_what_the_store_engine_stores(store, default_rules):
    seed(store)
    score(store, default_rules, AS_OF, engine="store", workers=1)
    expected = stored(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
    summary = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert stored(store) == expected
    assert summary.models["conversion"].scored == 60
    later = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert later.models["conversion"].changed == 0  # unchanged results cost no write
    assert stored(store) == expected


def test_a_later_day_and_new_events_agree_with_the_store_engine(store, default_rules):
    seed(store)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    seed(store, seed_=6)  # more events for the same people: the copy catches up
    score(store, default_rules, AS_OF + 9 * DAY, engine="duckdb", mode="changed", workers=1)
    duck = stored(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
    score(store, default_rules, AS_OF, engine="store", workers=1)
    score(store, default_rules, AS_OF + 9 * DAY, engine="store", workers=1)
    assert stored(store) == duck


def test_the_copy_never_loses_or_doubles_an_event_committed_late(store, tmp_path):
    seed(store, people=5)
    con = mirror.open_copy(str(tmp_path / "c.duckdb"))
    with store.read() as conn:
        copy.catch_up_events(con, conn, now=1000, lag=60)
    first = con.execute("SELECT count(*), max(id) FROM events").fetchall()
    e = schema.events
    # An event whose id is below the copy's highest, committed after the catch-up (a slow ingest transaction).
    with store.begin() as conn:
        conn.execute(e.insert().values(id=first[1] - 10_000 if first[1] > 10_000 else -5, message_id="late",
                                       person_id=1, type_id=1, ts=AS_OF, properties={}, received_at=AS_OF))
    with store.read() as conn:
        copy.catch_up_events(con, conn, now=1030, lag=60)  # within the lag: re-read from the settled mark
        copy.catch_up_events(con, conn, now=1200, lag=60)
    with store.read() as conn:
        total = conn.execute(e.count()).scalar() if hasattr(e, "count") else None
    ids = [r[0] for r in con.execute("SELECT id FROM events").fetchall()]
    assert len(ids) == len(set(ids)) == first[0] + 1
    assert total is None or total == len(ids)


def test_a_crash_mid_catch_up_leaves_the_copy_as_before(store, tmp_path, monkeypatch):
    seed(store, people=5)
    con = mirror.open_copy(str(tmp_path / "c.duckdb"))

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(copy, "_merge_events", boom)
    with store.read() as conn, pytest.raises(KeyboardInterrupt):
        copy.catch_up_events(con, conn, now=1000, lag=60)
    assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 0
    assert con.execute("SELECT count(*) FROM catch_ups").fetchall()[0][0] == 0
    monkeypatch.undo()
    with store.read() as conn:
        copy.catch_up_events(con, conn, now=1001, lag=60)
        copy.catch_up_events(con, conn, now=1002, lag=60)
    with store.read() as conn:
        n = conn.execute(schema.events.select().with_only_columns(schema.events.c.id)).all()
    assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] == len(n)
