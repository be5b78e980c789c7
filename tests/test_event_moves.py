"""The store logs every event whose person changed or that was deleted (triggers, both backends), and the
DuckDB copy follows the log: its events end with the store's person, and the log keeps only what no run read."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_app.services.scoring import duck_engine
from crm_app.services.scoring.duck_engine import copy_path
from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar import event_moves, mirror
from crm_app.store.events import link_aliases
from crm_app.store.person_merge import absorb_people
from tests.helpers import AS_OF
from tests.test_duckdb_engine import seed

e, m = schema.events, schema.event_moves


def logged(store) -> list:
    with store.read() as conn:
        return conn.execute(select(m.c.event_id).order_by(m.c.seq)).scalars().all()


def first_event_of(store, person: int) -> int:
    with store.read() as conn:
        return conn.execute(select(func.min(e.c.id)).where(e.c.person_id == person)).scalar()


@pytest.mark.parametrize("change, logs", [
    ("another person", True), ("the same person", False), ("no person", True), ("deleted", True),
    ("another type", False)])
def test_the_triggers_log_a_changed_person_and_a_deletion_only(store, change, logs):
    seed(store, people=4)
    event = first_event_of(store, 2)
    statement = {"another person": e.update().values(person_id=3), "the same person": e.update().values(person_id=2),
                 "no person": e.update().values(person_id=None), "deleted": e.delete(),
                 "another type": e.update().values(type_id=e.c.type_id)}[change]
    with store.begin() as conn:
        conn.execute(statement.where(e.c.id == event))
    assert logged(store) == ([event] if logs else [])


def copy_persons(store) -> dict:
    with duck_engine.open_bound(store) as con:
        return dict(con.execute("SELECT id, person_id FROM events").fetchall())


def store_persons(store) -> dict:
    with store.read() as conn:
        return dict(conn.execute(select(e.c.id, e.c.person_id)).all())


def test_a_merge_and_an_identified_history_reach_the_copy_and_leave_the_log(store, default_rules):
    seed(store, people=8)
    with store.begin() as conn:
        conn.execute(e.insert(), [{"message_id": f"anon-{i}", "person_id": None, "anonymous_id": "anon-1",
                                   "type_id": 1, "ts": AS_OF - 100 - i, "properties": {}, "received_at": AS_OF}
                                  for i in range(3)])
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert logged(store) == []  # a new copy read every event with its person of now
    with store.begin() as conn:
        absorb_people(conn, {4: 5})
        link_aliases(conn, {"anon-1": 6})
    assert len(logged(store)) > 3
    score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1)
    assert copy_persons(store) == store_persons(store)
    assert logged(store) == []


def test_a_move_logged_while_a_run_follows_stays_for_the_next_run(store, default_rules, monkeypatch):
    seed(store, people=6)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    early, late = first_event_of(store, 1), first_event_of(store, 2)
    with store.begin() as conn:
        conn.execute(e.update().where(e.c.id == early).values(person_id=3))
    follow = event_moves.follow

    def a_move_commits_meanwhile(con, conn, fresh):
        seqs = follow(con, conn, fresh)
        with store.begin() as other:
            other.execute(e.update().where(e.c.id == late).values(person_id=3))
        return seqs
    monkeypatch.setattr(event_moves, "follow", a_move_commits_meanwhile)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert logged(store) == [late]
    monkeypatch.undo()
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert copy_persons(store) == store_persons(store) and logged(store) == []


def test_a_copy_built_before_the_log_follows_every_event_once(store, default_rules):
    seed(store, people=6)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    with mirror.open_copy(copy_path(store.url)) as con:
        con.execute("DELETE FROM copy_state WHERE key = ?", [event_moves.FOLLOWS_LOG])
    with store.begin() as conn:  # a move made before the store kept the log
        conn.execute(e.update().where(e.c.id == first_event_of(store, 1)).values(person_id=2))
        conn.execute(m.delete())
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert copy_persons(store) == store_persons(store)


@pytest.mark.parametrize("with_copy", [False, True], ids=["no copy: emptied", "a copy: kept for it"])
def test_a_per_person_run_empties_the_log_only_when_no_copy_follows_it(store, default_rules, with_copy):
    seed(store, people=6)
    if with_copy:
        score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    event = first_event_of(store, 1)
    with store.begin() as conn:
        conn.execute(e.update().where(e.c.id == event).values(person_id=2))
    score(store, default_rules, AS_OF, engine="store", workers=1)
    assert logged(store) == ([event] if with_copy else [])
