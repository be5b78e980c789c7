"""The copy's people load in committed steps (DuckDB keeps a transaction's new rows in memory): a first load, a
reload of everyone, and a crash between two steps, after which the next full run's refresh reads the missing
people again."""
from __future__ import annotations

import pytest

from crm_app.store import schema
from crm_app.store.columnar import copy, mirror
from crm_app.store.people import ensure_people, upsert_people

PEOPLE = 11


@pytest.fixture
def loaded(store, tmp_path, monkeypatch):
    with store.begin() as conn:
        upsert_people(conn, [{"external_id": f"u{i}", "email": f"p{i}@co{i % 3}.io", "attributes": {"plan": "trial"}}
                             for i in range(PEOPLE)])
        ensure_people(conn, [f"u{i}" for i in range(PEOPLE)])
    monkeypatch.setattr(copy, "BATCH", 2)
    monkeypatch.setattr(copy, "PEOPLE_PER_COMMIT", 3)
    return store, mirror.open_copy(str(tmp_path / "c.duckdb"))


def copy_people(con) -> list:
    return con.execute("SELECT id, external_id, email, email_domain FROM people ORDER BY id").fetchall()


def store_people(store) -> list:
    p = schema.people
    with store.read() as conn:
        rows = conn.execute(p.select().with_only_columns(p.c.id, p.c.external_id, p.c.email).order_by(p.c.id))
        return [(r.id, r.external_id, r.email, r.email.split("@")[1]) for r in rows]


def crash_on_insert(monkeypatch, at: int) -> None:
    columns, calls = copy._columns, []

    def counted(rows, n):
        if n == 6:  # a batch of people rows
            calls.append(1)
            if len(calls) == at:
                raise KeyboardInterrupt
        return columns(rows, n)
    monkeypatch.setattr(copy, "_columns", counted)


@pytest.mark.parametrize("everyone", [False, True], ids=["first load", "everyone again"])
def test_a_load_in_steps_holds_every_person_once(loaded, everyone):
    store, con = loaded
    with store.read() as conn:
        copy.refresh_people(con, conn)
        assert copy.refresh_people(con, conn, everyone=everyone) == (PEOPLE if everyone else 0)
    assert copy_people(con) == store_people(store)


@pytest.mark.parametrize("everyone", [False, True], ids=["first load", "everyone again"])
def test_a_crash_between_steps_is_read_again_by_the_next_full_refresh(loaded, monkeypatch, everyone):
    store, con = loaded
    if everyone:
        with store.read() as conn:
            copy.refresh_people(con, conn)
    crash_on_insert(monkeypatch, at=3)  # after the first committed step (two batches of two)
    with store.read() as conn, pytest.raises(KeyboardInterrupt):
        copy.refresh_people(con, conn, everyone=everyone)
    held = len(copy_people(con))
    assert 0 < held < PEOPLE  # a step committed, the rest did not
    monkeypatch.undo()
    monkeypatch.setattr(copy, "BATCH", 2)
    with store.read() as conn:
        copy.refresh_people(con, conn)
    assert copy_people(con) == store_people(store)
