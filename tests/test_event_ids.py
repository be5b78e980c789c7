"""SQLite event ids are never given twice (revision 0005): the table is rebuilt with AUTOINCREMENT, keeping its
rows, indexes and triggers, and its sequence starts above events already deleted; the downgrade undoes it."""
from __future__ import annotations

from alembic import command
from sqlalchemy import text

from crm_app.store import schema
from crm_app.store.db import make_engine
from crm_app.store.events import event_type_ids, insert_events
from crm_app.store.migrations import alembic_config

EVENTS = [{"message_id": f"m{i}", "person_id": None, "anonymous_id": f"a{i % 3}", "ts": 1000 + i,
           "properties": {"n": i}, "received_at": 2000} for i in range(1, 9)]


def _definitions(conn) -> dict:
    return {name: sql for name, sql in conn.execute(text(
        "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL"))}


def _rows(conn) -> list:
    return [tuple(r) for r in conn.execute(schema.events.select().order_by(schema.events.c.id))]


def _table_sql(conn) -> str:
    return conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'")).scalar()


def test_the_rebuild_keeps_rows_indexes_triggers_and_never_gives_a_deleted_id_again(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/s.db")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
        assert "AUTOINCREMENT" not in _table_sql(conn).upper()
        kind = event_type_ids(conn, ["Logged In"])["logged in"]
        insert_events(conn, [row | {"type_id": kind} for row in EVENTS])
        conn.execute(schema.events.delete().where(schema.events.c.id >= 7))  # the newest two, logged as moves
        rows, definitions = _rows(conn), _definitions(conn)
        command.upgrade(alembic_config(conn), "0005")
        assert "AUTOINCREMENT" in _table_sql(conn).upper()
        assert _rows(conn) == rows and _definitions(conn) == definitions
        assert {"ix_events_person_cover", "ix_events_anonymous", "events_deleted"} <= set(definitions)
        insert_events(conn, [EVENTS[0] | {"message_id": "later", "type_id": kind}])
        later = conn.execute(schema.events.select().where(schema.events.c.message_id == "later")).one()
        assert later.id == 9  # above the deleted 7 and 8, though 6 is the highest id left
        conn.execute(schema.events.delete().where(schema.events.c.id == 9))
        moves = [r.event_id for r in conn.execute(schema.event_moves.select().order_by(schema.event_moves.c.seq))]
        assert moves[-1] == 9  # the carried trigger still logs a deleted event
        command.downgrade(alembic_config(conn), "0004")
        assert "AUTOINCREMENT" not in _table_sql(conn).upper()
        assert _rows(conn) == rows and _definitions(conn) == definitions
    engine.dispose()


def test_a_store_with_no_event_yet_gets_the_sequence_of_its_deleted_ones(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/s.db")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
        kind = event_type_ids(conn, ["Logged In"])["logged in"]
        insert_events(conn, [row | {"type_id": kind} for row in EVENTS[:3]])
        conn.execute(schema.events.delete())
        command.upgrade(alembic_config(conn), "0005")
        insert_events(conn, [EVENTS[0] | {"message_id": "later", "type_id": kind}])
        assert conn.execute(schema.events.select().with_only_columns(schema.events.c.id)).scalar() == 4
    engine.dispose()
