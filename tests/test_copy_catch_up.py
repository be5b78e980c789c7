"""The copy's catch-up from the store: no event lost or doubled when ingest commits out of order, an id never
given twice, a crash before or after a committed step, and a copy of an older schema rebuilt."""
from __future__ import annotations

import duckdb
import pytest

from crm_app.store import schema
from crm_app.store.columnar import copy, event_moves, mirror
from crm_app.store.events import insert_events
from tests.test_duckdb_engine import seed


def test_the_copy_never_loses_or_doubles_an_event_committed_late(store, tmp_path):
    if not store.url.startswith("postgresql"):
        pytest.skip("SQLite lets one writer in at a time: its ids commit in order (no late commit to simulate)")
    seed(store, people=5)
    e = schema.events
    with store.read() as conn:
        late = dict(conn.execute(e.select().where(e.c.id == 40)).one()._mapping)
    with store.begin() as conn:  # id 40 is taken but not committed yet: a slow ingest transaction
        conn.execute(e.delete().where(e.c.id == 40))
    con = mirror.open_copy(str(tmp_path / "c.duckdb"))
    with store.read() as conn:
        copy.catch_up_events(con, conn, now=1000, lag=60)
    with store.begin() as conn:  # ... which commits after the copy read ids far above it
        conn.execute(e.insert().values(**late))
    for now in (1030, 1200, 1300):
        with store.read() as conn:
            copy.catch_up_events(con, conn, now=now, lag=60)
    assert copy.low_watermark(con, 60) > 40  # the watermark has moved past it: later catch-ups skip it
    with store.begin() as conn:
        conn.execute(e.insert().values({k: v for k, v in late.items() if k != "id"} | {"message_id": "newest"}))
    with store.read() as conn:
        copy.catch_up_events(con, conn, now=1400, lag=60)
        in_store = sorted(r[0] for r in conn.execute(e.select().with_only_columns(e.c.id)))
    ids = sorted(r[0] for r in con.execute("SELECT id FROM events").fetchall())
    assert ids == in_store and 40 in ids


def test_the_newest_event_deleted_gives_its_id_to_no_later_event(store, tmp_path):
    """A person's data deleted right after their own request: the request is the newest event. The copy, which
    reads above the highest id it saw, gets the next event whole, not the deleted one's type, time and data."""
    seed(store, people=5)
    e = schema.events
    con = mirror.open_copy(str(tmp_path / "c.duckdb"))
    with store.read() as conn:
        copy.catch_up_events(con, conn, now=1000, lag=60)
        newest = dict(conn.execute(e.select().order_by(e.c.id.desc()).limit(1)).one()._mapping)
    with store.begin() as conn:
        conn.execute(e.delete().where(e.c.id == newest["id"]))
        insert_events(conn, [{k: v for k, v in newest.items() if k != "id"} | {"message_id": "after", "ts": 7}])
    with store.read() as conn:
        after = conn.execute(e.select().where(e.c.message_id == "after")).one()
        for now in (1030, 2000, 3000):
            copy.catch_up_events(con, conn, now=now, lag=60)
        event_moves.follow(con, conn, fresh=False)
    assert after.id > newest["id"]
    assert con.execute("SELECT ts FROM events WHERE id = ?", [after.id]).fetchall() == [(7,)]
    assert con.execute("SELECT person_id FROM events WHERE id = ?", [newest["id"]]).fetchall() == [(None,)]


def test_on_sqlite_a_catch_up_reads_only_above_the_highest_id_it_saw(sqlite_store, tmp_path, monkeypatch):
    seed(sqlite_store, people=5)
    con = mirror.open_copy(str(tmp_path / "c.duckdb"))
    looked_back = []
    late_ids = copy._late_ids
    monkeypatch.setattr(copy, "_late_ids", lambda con, conn, low, high: looked_back.append((low, high)) or
                        late_ids(con, conn, low, high))
    for now in (1000, 1010, 1020):  # within the lag of each other: PostgreSQL would look back over them all
        with sqlite_store.read() as conn:
            copy.catch_up_events(con, conn, now=now, lag=60)
    assert all(low == high for low, high in looked_back[1:])


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


def test_a_crash_after_a_committed_step_of_a_catch_up_resumes_without_loss_or_doubles(store, tmp_path,
                                                                                      monkeypatch):
    seed(store, people=5)
    con = mirror.open_copy(str(tmp_path / "c.duckdb"))
    monkeypatch.setattr(copy, "BATCH", 7)
    monkeypatch.setattr(copy, "COMMIT_ROWS", 7)
    merge, calls = copy._merge_events, []

    def second_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return merge(*args, **kwargs)

    monkeypatch.setattr(copy, "_merge_events", second_fails)
    with store.read() as conn, pytest.raises(KeyboardInterrupt):
        copy.catch_up_events(con, conn, now=1000, lag=60)
    assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 14  # two steps committed
    monkeypatch.setattr(copy, "_merge_events", merge)
    with store.read() as conn:
        copy.catch_up_events(con, conn, now=1001, lag=60)
        ids = sorted(r[0] for r in conn.execute(schema.events.select().with_only_columns(schema.events.c.id)))
    assert sorted(r[0] for r in con.execute("SELECT id FROM events").fetchall()) == ids


def test_a_copy_of_an_older_schema_is_built_again_without_the_event_key(store, tmp_path):
    seed(store, people=5)
    path = str(tmp_path / "c.duckdb")
    old = duckdb.connect(path)  # the first schema: events keyed by id, no version recorded
    old.execute("CREATE TABLE events (id BIGINT PRIMARY KEY, person_id BIGINT, type_id INTEGER, ts BIGINT, "
                "properties VARCHAR)")
    old.execute("INSERT INTO events VALUES (999999, 1, 1, 1, '{}')")
    old.close()
    con = mirror.open_copy(path)
    keys = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'events'").fetchall()[0][0]
    assert keys == 0 and con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 0
    with store.read() as conn:
        for now in (1000, 1001):
            copy.catch_up_events(con, conn, now=now, lag=60)
        ids = sorted(r[0] for r in conn.execute(schema.events.select().with_only_columns(schema.events.c.id)))
    con.close()
    con = mirror.open_copy(path)  # the current version is kept as it is
    assert sorted(r[0] for r in con.execute("SELECT id FROM events").fetchall()) == ids
