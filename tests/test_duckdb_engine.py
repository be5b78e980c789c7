"""`score --engine duckdb` against the per-person engine on SQLite and PostgreSQL: the same stored results,
unchanged results written by neither, incremental runs, and a copy that never loses or doubles an event."""
from __future__ import annotations

import random

import duckdb
import pytest

from crm_app.services.scoring.duck_engine import copy_path
from crm_app.services.scoring.run import score
from crm_app.store import reindex, schema
from crm_app.store.columnar import outcome
from crm_app.store.events import event_type_ids, insert_events, link_aliases
from crm_app.store.people import ensure_people, mark_dirty, upsert_accounts, upsert_people
from crm_app.store.reindex import secondary_indexes
from crm_app.store.scoring import outcome_writes
from tests.helpers import AS_OF, DAY

NAMES = ["Logged In", "Feature Used", "Invite Sent", "Onboarding Completed", "Page Viewed", "Session Ended",
         "Upgrade Started", "Support Contacted", "Email Unsubscribed"]


def seed(store, people: int = 60, seed_: int = 5, ahead: int = 0) -> None:
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
                         "ts": AS_OF + ahead - rng.randrange(0, (ahead or 60 * DAY)),
                         "properties": {"feature": f"f{n % 4}", "duration_seconds": n % 700,
                                        "path": rng.choice(["/pricing", "/docs"]), "topic": "billing"},
                         "received_at": AS_OF})
        insert_events(conn, rows)


def stored(store) -> dict:
    r = schema.results
    with store.read() as conn:
        return {(row.model, row.subject_id): (row.combined, row.band, row.pql, row.reasons, row.digest)
                for row in conn.execute(r.select())}


def assert_a_fresh_per_person_run_stores_the_same(store, rules) -> None:
    """The stored results equal what the per-person engine stores from scratch."""
    duck = stored(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
    score(store, rules, AS_OF, engine="store", workers=1)
    assert stored(store) == duck


def conversion_population(store) -> set:
    """The people the shipped conversion model scores: its population is trial and free users (and no plan)."""
    with store.read() as conn:
        rows = conn.execute(schema.people.select()).mappings().all()
    return {r["id"] for r in rows if (r["attributes"] or {}).get("plan") in ("trial", "free", None)}


def test_duckdb_engine_stores_what_the_store_engine_stores(store, default_rules):
    seed(store)
    score(store, default_rules, AS_OF, engine="store", workers=1)
    expected = stored(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
    summary = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert stored(store) == expected
    assert summary.models["conversion"].scored == len(conversion_population(store)) > 0
    later = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert later.models["conversion"].changed == 0  # unchanged results cost no write
    assert stored(store) == expected


def test_a_write_larger_than_the_results_held_rebuilds_their_indexes_and_stores_the_same(store, default_rules,
                                                                                         monkeypatch):
    seed(store)
    score(store, default_rules, AS_OF, engine="store", workers=1)
    expected, history = stored(store), stored_history(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
        conn.execute(schema.score_history.delete())
    with store.read() as conn:
        before = secondary_indexes(conn, "results")
    rebuilt = []
    monkeypatch.setattr(reindex, "secondary_indexes",
                        lambda conn, table: rebuilt.append(table) or secondary_indexes(conn, table))
    monkeypatch.setattr(outcome_writes, "REINDEX_ROWS", 1)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert set(rebuilt) == {"results"} and len(before) >= 6  # the dashboard's keyset indexes among them
    assert stored(store) == expected and stored_history(store) == history
    with store.read() as conn:
        assert secondary_indexes(conn, "results") == before


def stored_history(store) -> set:
    with store.read() as conn:
        return {tuple(row) for row in conn.execute(schema.score_history.select())}


def test_an_incremental_run_on_a_later_day_agrees_with_the_store_engine(store, default_rules):
    seed(store)
    seed(store, seed_=6, ahead=9 * DAY)  # events after the first as_of: the first runs do not see them
    changed = list(range(1, 61, 3))

    def runs(engine):
        score(store, default_rules, AS_OF, engine=engine, workers=1)
        with store.begin() as conn:
            mark_dirty(conn, changed)
        return score(store, default_rules, AS_OF + 9 * DAY, engine=engine, mode="changed", workers=1)

    summary = runs("duckdb")
    assert summary.models["conversion"].scored == len(conversion_population(store) & set(changed)) > 0
    duck = stored(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
    runs("store")
    assert stored(store) == duck


def test_an_anonymous_history_identified_later_is_followed_by_the_copy(store, default_rules):
    seed(store, people=10)
    with store.begin() as conn:
        types = event_type_ids(conn, ["Invite Sent", "Onboarding Completed"])
        insert_events(conn, [{"message_id": f"anon-{n}", "person_id": None, "anonymous_id": "anon-1",
                              "type_id": types[name], "ts": AS_OF - DAY, "properties": {}, "received_at": AS_OF}
                             for n, name in enumerate(["invite sent", "onboarding completed"])])
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)  # the copy holds them, nobody's yet
    with store.begin() as conn:
        link_aliases(conn, {"anon-1": 3})
    score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1)
    duck = stored(store)
    assert any(r[0] == "invited_teammates" for r in duck[("conversion", 3)][3])
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_a_full_run_reads_changed_new_and_merged_away_people(store, default_rules):
    seed(store, people=12)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)

    def agrees_with_the_store_engine(skip=()):
        duck = {key: value for key, value in stored(store).items() if key not in skip}
        with store.begin() as conn:
            conn.execute(schema.results.delete())
        score(store, default_rules, AS_OF, engine="store", workers=1)
        assert stored(store) == duck

    with store.begin() as conn:
        upsert_people(conn, [{"external_id": "u3", "attributes": {"title": "Chief Data Officer", "region": "Mars",
                                                                   "job_function": "Data"}}])
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    agrees_with_the_store_engine()
    with store.begin() as conn:
        upsert_people(conn, [{"external_id": "u99", "email": "new@co1.io", "attributes": {"plan": "trial"}}])
        gone = ensure_people(conn, ["u5"])["u5"]
        conn.execute(schema.people.delete().where(schema.people.c.external_id == "u5"))
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    # u5's stale result stays, as with the store engine (neither engine deletes results of deleted people).
    agrees_with_the_store_engine(skip={(m.name, gone) for m in default_rules.models if m.subject == "person"})


def test_a_copy_held_by_another_process_falls_back_to_the_store_engine(store, default_rules, tmp_path, caplog):
    import subprocess
    import sys
    import time
    seed(store, people=8)
    score(store, default_rules, AS_OF, engine="store", workers=1)
    expected = stored(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(tmp_path / "columnar.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.time()
        score(store, default_rules, AS_OF, engine="duckdb", workers=1)
        assert time.time() - started < 30
    finally:
        holder.kill()
        holder.wait()
    assert stored(store) == expected
    assert "in use by another process" in caplog.text


@pytest.mark.parametrize("engine, mode, changed, env, expected", [
    ("auto", "full", 0, {}, "duckdb"),
    ("auto", "changed", 499, {}, "store"),
    ("auto", "changed", 500, {}, "duckdb"),
    ("auto", "changed", 1, {"SETWISE_MIN_CHANGED": "0"}, "duckdb"),
    ("auto", "changed", 10, {"SETWISE_MIN_CHANGED": "50"}, "store"),
    ("auto", "changed", 50, {"SETWISE_MIN_CHANGED": "50"}, "duckdb"),
    ("auto", "full", 0, {"SCORE_ENGINE": "store"}, "store"),
    ("store", "full", 0, {"SCORE_ENGINE": "duckdb"}, "store"),
])
def test_auto_picks_duckdb_unless_told_otherwise(sqlite_store, monkeypatch, engine, mode, changed,
                                                              env, expected):
    from crm_app.services.scoring.run import chosen_engine
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert chosen_engine(engine, sqlite_store, mode, changed) == expected


def test_a_copy_of_another_store_is_rebuilt_not_reused(tmp_path, default_rules):
    from crm_app.store import Store
    first, second = Store(f"sqlite:///{tmp_path}/a.db"), Store(f"sqlite:///{tmp_path}/b.db")
    try:
        seed(first, people=10, seed_=1)
        seed(second, people=10, seed_=2)  # same ids, other people and events
        score(first, default_rules, AS_OF, engine="duckdb", workers=1)
        score(second, default_rules, AS_OF, engine="duckdb", workers=1)  # same COLUMNAR_PATH
        duck = stored(second)
        with second.begin() as conn:
            conn.execute(schema.results.delete())
        score(second, default_rules, AS_OF, engine="store", workers=1)
        assert stored(second) == duck
    finally:
        first.dispose()
        second.dispose()


def test_a_per_person_run_in_between_costs_the_next_duckdb_run_only_what_it_changed(store, default_rules,
                                                                                     monkeypatch):
    seed(store, people=30)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    with store.begin() as conn:
        mark_dirty(conn, [2, 3])
        upsert_people(conn, [{"external_id": "u1", "email": "u1@rivalmetrics.com",  # id 2: a competitor now
                              "attributes": {"plan": "trial"}}])
    score(store, default_rules, AS_OF, engine="store", mode="changed", workers=1)
    rendered = []
    real = outcome.stage
    monkeypatch.setattr(outcome, "stage", lambda con, *a: rendered.extend(
        r[0] for r in con.execute("SELECT person_id FROM cand").fetchall()) or real(con, *a))
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert sorted(set(rendered)) == [2]  # only the person whose stored result the per-person run changed
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_events_identified_while_the_per_person_engine_ran_are_followed(store, default_rules):
    seed(store, people=10)
    with store.begin() as conn:
        types = event_type_ids(conn, ["Invite Sent"])
        insert_events(conn, [{"message_id": "anon-x", "person_id": None, "anonymous_id": "anon-2",
                              "type_id": types["invite sent"], "ts": AS_OF - DAY, "properties": {},
                              "received_at": AS_OF}])
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    with store.begin() as conn:
        link_aliases(conn, {"anon-2": 4})
    score(store, default_rules, AS_OF, engine="store", mode="changed", workers=1)  # consumes the queue
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    duck = stored(store)
    assert any(r[0] == "invited_teammates" for r in duck[("conversion", 4)][3])
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_only_changed_results_reach_the_store(store, default_rules, monkeypatch):
    from crm_app.store.scoring import results as results_store
    seed(store, people=30)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    written = []
    real = results_store.save_rows
    monkeypatch.setattr(results_store, "save_rows", lambda conn, rows, history: written.append(
        ([r[:2] for r in rows], [r[:2] for r in history])) or real(conn, rows, history))
    before = stored(store)
    summary = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert written == [] and stored(store) == before  # unchanged results: not a row sent to the store
    assert sum(m.changed for m in summary.models.values()) == 0
    con = duckdb.connect(copy_path(store.url))
    con.execute("UPDATE prev SET h = NULL")  # every result a candidate: the digests alone must tell unchanged
    con.close()
    summary = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert written == [] and stored(store) == before
    assert sum(m.changed for m in summary.models.values()) == 0
    pid = min(conversion_population(store))
    with store.begin() as conn:
        external = conn.execute(schema.people.select().where(schema.people.c.id == pid)).mappings().one()
        upsert_people(conn, [{"external_id": external["external_id"], "email": "x@rivalmetrics.com"}])  # a competitor
        mark_dirty(conn, [pid])
    score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1)
    rows = [key for batch, _ in written for key in batch]
    history = [key for _, batch in written for key in batch]
    assert rows and {subject for _, subject in rows} == {pid} and len(rows) == len(set(rows))
    assert {subject for _, subject in history} == {pid}
    now = stored(store)
    assert {k for k in now if now[k] != before.get(k)} == set(rows)
