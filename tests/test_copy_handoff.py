"""Per-person runs hand their people to the DuckDB copy: the next DuckDB run re-reads those people (their
attributes, their events' person, their mirrored results), not everyone, and stores what a fresh run stores."""
from __future__ import annotations

import pytest

from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar import copy, mirror, scoped
from crm_app.store.meta import get_meta
from crm_app.store.people import mark_dirty, upsert_people
from crm_app.store.scoring import results as results_store
from tests.helpers import AS_OF
from tests.test_duckdb_engine import assert_a_fresh_per_person_run_stores_the_same, seed


@pytest.fixture
def refreshes(monkeypatch) -> list:
    """(kind, people, everyone) of every refresh of the copy's people."""
    calls: list = []
    real_scoped, real_copy = scoped.refresh_people, copy.refresh_people

    def scoped_spy(con, conn, ids):
        calls.append(("scoped", sorted(ids), False))
        return real_scoped(con, conn, ids)

    def copy_spy(con, conn, scope_ids, claimed, everyone=False, **clock):
        calls.append(("copy", sorted(claimed), everyone))
        return real_copy(con, conn, scope_ids, claimed, everyone=everyone, **clock)
    monkeypatch.setattr(scoped, "refresh_people", scoped_spy)
    monkeypatch.setattr(copy, "refresh_people", copy_spy)
    return calls


def _rival_email_for_person_2(store) -> None:
    with store.begin() as conn:
        mark_dirty(conn, [2, 3])
        upsert_people(conn, [{"external_id": "u1", "email": "u1@rivalmetrics.com",  # id 2: a competitor now
                              "attributes": {"plan": "trial"}}])


def _handed(store) -> list:
    with store.read() as conn:
        return results_store.handed_off(conn)[1]


def test_the_next_duckdb_run_re_reads_only_the_people_handed_off(store, default_rules, refreshes):
    seed(store, people=30)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    _rival_email_for_person_2(store)
    score(store, default_rules, AS_OF, engine="store", mode="changed", workers=1)
    assert _handed(store) == [2, 3]
    with store.read() as conn:
        assert get_meta(conn, mirror.EPOCH)  # the copy's mirror stays trusted for everyone else
    with store.begin() as conn:
        mark_dirty(conn, [7])
    refreshes.clear()
    summary = score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1)
    assert refreshes == [("scoped", [2, 3, 7], False)]
    # Person 2's new result was written by the per-person run: the reloaded mirror holds it, so DuckDB finds
    # nothing to write. A mirror left with the old result would count person 2 changed and write it again.
    assert summary.models["conversion"].changed == 0
    assert _handed(store) == []
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_a_full_duckdb_run_re_reads_the_people_handed_off_too(store, default_rules, refreshes):
    seed(store, people=30)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    _rival_email_for_person_2(store)
    score(store, default_rules, AS_OF, engine="store", mode="changed", workers=1)
    refreshes.clear()
    summary = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert refreshes == [("copy", [2, 3], False)]
    assert summary.models["conversion"].changed == 0
    assert _handed(store) == []
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_past_the_cap_the_hand_offs_give_way_to_re_reading_everyone(store, default_rules, refreshes,
                                                                   monkeypatch):
    monkeypatch.setattr(results_store, "HAND_OFF_CAP", 1)
    seed(store, people=30)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    _rival_email_for_person_2(store)
    score(store, default_rules, AS_OF, engine="store", mode="changed", workers=1)
    assert _handed(store) == []
    with store.read() as conn:
        assert not get_meta(conn, mirror.EPOCH)
    with store.begin() as conn:
        mark_dirty(conn, [7])
    refreshes.clear()
    score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1)
    assert refreshes == [("copy", [7], True)]
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_dry_runs_neither_hand_off_nor_acknowledge(store, default_rules):
    seed(store, people=20)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    _rival_email_for_person_2(store)
    score(store, default_rules, AS_OF, engine="store", mode="changed", dry_run=True, workers=1)
    assert _handed(store) == []
    score(store, default_rules, AS_OF, engine="store", mode="changed", workers=1)
    score(store, default_rules, AS_OF, engine="duckdb", mode="changed", dry_run=True, workers=1)
    assert _handed(store) == [2, 3]


def test_a_hand_off_made_while_a_run_was_under_way_stays_for_the_next(store):
    with store.begin() as conn:
        results_store.hand_off_to_copy(conn, [1, 2])
    with store.read() as conn:
        read, people = results_store.handed_off(conn)
    assert people == [1, 2]
    with store.begin() as conn:
        results_store.hand_off_to_copy(conn, [2, 5])  # a per-person run while the DuckDB run scored
        results_store.acknowledge_hand_off(conn, read)
    assert _handed(store) == [2, 5]


def test_a_hand_off_with_a_lower_seq_committed_after_the_read_stays(store):
    h = schema.copy_handoff
    with store.begin() as conn:
        results_store.hand_off_to_copy(conn, [1, 2, 3])
        conn.execute(h.delete().where(h.c.person_id == 2))  # its seq is still to come: a late commit
    with store.read() as conn:
        read, people = results_store.handed_off(conn)
    assert people == [1, 3]
    with store.begin() as conn:
        conn.execute(h.insert().values(seq=read[0] + 1, person_id=7))
        results_store.acknowledge_hand_off(conn, read)
    assert _handed(store) == [7]
