"""A full run's plan over partitions of the people: how many parts a memory limit asks for, and the same stored
results, history and tallies whether the plan ran in one part or in many."""
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

    def spy(con, fields, properties, scope_ids=None, part=None):
        define(con, fields, properties, scope_ids, part)
        if part is not None:
            people = {r[0] for r in con.execute("SELECT person_id FROM subj").fetchall()}
            events = {r[0] for r in con.execute("SELECT DISTINCT person_id FROM ev").fetchall()}
            seen.append((part, people, events))
    monkeypatch.setattr(partitions, "define_views", spy)
    monkeypatch.setattr(duck_engine, "plan_parts", lambda con, aggregates: 3)
    score(sqlite_store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert [part for part, _, _ in seen] == [(0, 3), (1, 3), (2, 3)]
    everyone = set().union(*(people for _, people, _ in seen))
    assert len(everyone) == 40 and sum(len(people) for _, people, _ in seen) == 40
    for (k, parts), people, events in seen:
        assert people and all(p % parts == k for p in people) and events <= people
