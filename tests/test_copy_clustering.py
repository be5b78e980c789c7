"""The copy's events rewritten in person order: when the tail asks for it, every event kept, and the same results
from a clustered copy, from its tail copied since, and from events moved between people after it."""
from __future__ import annotations

import pytest

from crm_app.services.scoring import duck_engine
from crm_app.services.scoring.run import score
from crm_app.store.columnar import clustering, mirror
from crm_app.store.events import event_type_ids, insert_events, link_aliases
from crm_app.store.people import ensure_people
from tests.helpers import AS_OF, DAY
from tests.test_duckdb_engine import assert_a_fresh_per_person_run_stores_the_same, seed


@pytest.mark.parametrize("events, clustered, expected", [
    (20_000_000, 0, True),  # a new copy: everything is tail
    (20_000_000, 20_000_000, False),
    (24_000_000, 20_000_000, False),  # a fifth more: under the share
    (26_000_000, 20_000_000, True),
    (50_000, 0, False),  # a small copy is not worth a rewrite
    (0, 0, False),
    (10_000_000, 20_000_000, False),  # events deleted since: no tail
])
def test_the_tail_decides_when_to_rewrite(events, clustered, expected):
    assert clustering.needs_clustering(events, clustered) is expected


def _copy_rows(con) -> list:
    return con.execute("SELECT id, person_id, type_id, ts, properties FROM events ORDER BY id").fetchall()


def test_a_rewrite_keeps_every_event_and_orders_them_by_person(sqlite_store, default_rules, monkeypatch):
    seed(sqlite_store, people=30)
    monkeypatch.setattr(clustering, "MIN_TAIL", 10 ** 9)  # the run itself does not rewrite
    score(sqlite_store, default_rules, AS_OF, engine="duckdb", workers=1)
    con = duck_engine.open_bound(sqlite_store)
    try:
        before = _copy_rows(con)
        assert clustering.clustered_rows(con) == 0
        assert clustering.cluster_events(con) == len(before) > 0
        assert _copy_rows(con) == before
        in_storage_order = [r[0] for r in con.execute("SELECT person_id FROM events").fetchall()]
        assert in_storage_order == sorted(in_storage_order, key=lambda p: (p is None, p))
        assert clustering.clustered_rows(con) == len(before)
    finally:
        con.close()


def test_a_failed_rewrite_leaves_the_events_as_they_were(sqlite_store, default_rules, monkeypatch):
    seed(sqlite_store, people=10)
    score(sqlite_store, default_rules, AS_OF, engine="duckdb", workers=1)
    con = duck_engine.open_bound(sqlite_store)
    try:
        before = _copy_rows(con)
        con.execute("CREATE TABLE events_in_order (x INTEGER)")  # the rewrite's table is taken: it fails
        with pytest.raises(Exception):
            clustering.cluster_events(con)
        assert _copy_rows(con) == before
    finally:
        con.close()


def test_results_agree_with_the_store_engine_before_and_after_the_rewrite(store, default_rules, monkeypatch):
    monkeypatch.setattr(clustering, "MIN_TAIL", 1)
    seed(store, people=40)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)  # a new copy: rewritten in person order
    con = duck_engine.open_bound(store)
    try:
        assert clustering.clustered_rows(con) == con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    finally:
        con.close()
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)
    # A tail in arrival order, and events moved to another person after the rewrite, are read all the same.
    with store.begin() as conn:
        types = event_type_ids(conn, ["Invite Sent", "Onboarding Completed"])
        person = ensure_people(conn, ["u7"])["u7"]
        insert_events(conn, [{"message_id": f"late-{n}", "person_id": None if n % 2 else person,
                              "anonymous_id": "anon-9" if n % 2 else None, "type_id": types[name],
                              "ts": AS_OF - DAY, "properties": {}, "received_at": AS_OF}
                             for n, name in enumerate(["invite sent", "onboarding completed"] * 2)])
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    with store.begin() as conn:
        link_aliases(conn, {"anon-9": ensure_people(conn, ["u3"])["u3"]})
    score(store, default_rules, AS_OF + DAY, engine="duckdb", workers=1)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_a_copy_bound_to_another_store_forgets_its_order(tmp_path, sqlite_store, default_rules, monkeypatch):
    monkeypatch.setattr(clustering, "MIN_TAIL", 1)
    seed(sqlite_store, people=10)
    score(sqlite_store, default_rules, AS_OF, engine="duckdb", workers=1)
    con = duck_engine.open_bound(sqlite_store)
    try:
        assert clustering.clustered_rows(con) > 0
        con.execute("UPDATE copy_state SET value = 'another' WHERE key = ?", [mirror.STORE_ID])
        with sqlite_store.begin() as conn:
            assert mirror.bind_to_store(con, conn)
        assert clustering.clustered_rows(con) == 0
    finally:
        con.close()
