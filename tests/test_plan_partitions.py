"""A full run's plan over partitions of the people: how many parts a memory limit asks for, which ranges of ids
they are, and the same stored results, history and tallies whether the plan ran in one part or in many."""
from __future__ import annotations

import pytest

from crm_app.services.scoring import duck_engine
from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar import partitions
from crm_app.store.columnar.mirror import forget_results
from crm_app.store.columnar.partitions import parts_for, size_bytes
from tests.helpers import AS_OF, DAY
from tests.test_duckdb_engine import seed, stored, stored_history


@pytest.mark.parametrize("text, expected", [
    ("384MB", 384 * 10 ** 6), ("384.0 MiB", 384 * 2 ** 20), ("1GB", 10 ** 9), ("2 GiB", 2 * 2 ** 30),
    (" 512kb ", 512_000), ("100B", 100), ("", None), ("lots", None), ("12 parsecs", None), ("-1MB", None),
])
def test_memory_sizes_as_duckdb_prints_them(text, expected):
    assert size_bytes(text) == expected


@pytest.mark.parametrize("people, aggregates, memory, expected", [
    (1_000_000, 29, "384MB", 4),  # the benchmark store: 4 parts measured best under 384MB
    (1_000_000, 29, "640MB", 3),
    (1_000_000, 29, "64GB", 1),
    (100_000, 29, "384MB", 1),
    (0, 29, "384MB", 1),
    (1_000_000, 29, None, 1),  # no limit known: one part
    (100_000_000, 60, "64MB", partitions.MAX_PARTS),
])
def test_parts_follow_people_aggregates_and_memory(people, aggregates, memory, expected):
    assert parts_for(people, aggregates, size_bytes(memory) if memory else None) == expected


def test_a_plan_run_in_parts_stores_what_one_part_stores(store, default_rules, monkeypatch):
    seed(store, people=90)
    runs = []
    for parts in (1, 7):
        monkeypatch.setattr(duck_engine, "plan_parts", lambda con, aggregates, parts=parts: parts)
        with store.begin() as conn:
            conn.execute(schema.results.delete())
            conn.execute(schema.score_history.delete())
            forget_results(conn)
        first = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
        later = score(store, default_rules, AS_OF + 9 * DAY, engine="duckdb", workers=1)
        runs.append((stored(store), stored_history(store), first.models["conversion"].bands,
                     first.models["conversion"].changed, later.models["conversion"].changed,
                     later.models["conversion"].movers))
    assert runs[0] == runs[1]
    assert runs[0][3] > 0 and runs[0][4] > 0  # both runs wrote results: every part's rows reached the store


def test_each_part_reads_only_its_people(sqlite_store, default_rules, monkeypatch):
    seed(sqlite_store, people=40)
    seen = []
    define = partitions.define_views

    def spy(con, fields, properties, scope_ids=None, part=None, subjects=None):
        define(con, fields, properties, scope_ids, part, subjects)
        if part is not None:
            people = {r[0] for r in con.execute("SELECT person_id FROM subj").fetchall()}
            events = {r[0] for r in con.execute("SELECT DISTINCT person_id FROM ev").fetchall()}
            seen.append((part, people, events))
    monkeypatch.setattr(partitions, "define_views", spy)
    monkeypatch.setattr(duck_engine, "plan_parts", lambda con, aggregates: 3)
    score(sqlite_store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert len(seen) == 3 and seen[0][0][0] is None and seen[-1][0][1] is None
    assert all(seen[k][0][1] == seen[k + 1][0][0] for k in range(2))  # ranges meet: no id falls between them
    everyone = set().union(*(people for _, people, _ in seen))
    assert len(everyone) == 40 and sum(len(people) for _, people, _ in seen) == 40
    for (low, high), people, events in seen:
        assert people and all((low is None or p >= low) and (high is None or p < high) for p in people)
        assert events <= people
        assert len(people) in (13, 14)  # cut at the ids' quantiles: parts of about the same size


@pytest.mark.parametrize("ids, parts, expected", [
    (range(1, 101), 4, [(None, 25), (25, 50), (50, 75), (75, None)]),
    (range(1, 101), 1, [(None, None)]),
    ([], 4, [(None, None)]),  # no people: one part of everything
    ([5, 5, 5], 3, [(None, 5), (5, None)]),  # repeated cuts merge: no empty range
    ([1, 2, 1_000_000], 2, [(None, 2), (2, None)]),  # sparse ids: cut by people, not by the id span
])
def test_person_ranges_cover_every_id_once(ids, parts, expected):
    import duckdb
    con = duckdb.connect()
    con.execute("CREATE TABLE people (id BIGINT)")
    for i in ids:
        con.execute("INSERT INTO people VALUES (?)", [i])
    assert partitions.person_ranges(con, parts) == expected
