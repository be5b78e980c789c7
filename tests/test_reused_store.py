"""The reused PostgreSQL test database isolates tests as a new database did: rows, sequences, meta, locks and
schema changes a test leaves behind are gone for the next, and a connection left open fails the test loudly."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from crm_app.store import Store, get_meta, set_meta
from tests.reused_postgres import LeftOpen, ReusedPostgres


@pytest.fixture
def shared(postgres_url):
    db = ReusedPostgres(postgres_url, "isolation", grace_seconds=0.3)
    yield db
    db.drop()


def _fill(url: str) -> None:
    """Rows in a parent and a child table, a used sequence, state in meta."""
    st = Store(url)
    with st.begin() as conn:
        person = conn.execute(text("INSERT INTO people (external_id, attributes) VALUES ('p1', '{}') "
                                   "RETURNING id")).scalar()
        kind = conn.execute(text("INSERT INTO event_types (key, name) VALUES ('signed up', 'Signed Up') "
                                 "RETURNING id")).scalar()
        conn.execute(text("INSERT INTO events (person_id, type_id, ts, received_at) VALUES (:p, :t, 1767225600, 1767225600)"),
                     {"p": person, "t": kind})
        set_meta(conn, "left_behind", "yes")
    st.dispose()


def _state(url: str) -> tuple:
    st = Store(url)
    with st.read() as conn:
        person = conn.execute(text("INSERT INTO people (external_id, attributes) VALUES ('p2', '{}') "
                                   "RETURNING id")).scalar()
        state = (person, conn.execute(text("SELECT count(*) FROM events")).scalar(), get_meta(conn, "left_behind"))
        conn.rollback()
    st.dispose()
    return state


def test_rows_sequences_and_meta_are_gone_for_the_next_test(shared):
    fresh = _state(shared.url)
    _fill(shared.url)
    with pytest.raises(AssertionError, match="not clean"):
        shared.check_clean()
    shared.release()
    shared.check_clean()
    assert _state(shared.url) == fresh == (1, 0, None)
    assert shared.rebuilds == 0


def test_a_connection_left_open_fails_the_test_and_is_closed_for_the_next(shared):
    holder = psycopg.connect(shared.url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(42)")
    holder.execute("LISTEN pql_test")
    _fill(shared.url)
    with pytest.raises(LeftOpen, match="left 1 connection"):
        shared.release()
    assert holder.closed or holder.broken or _dead(holder)
    shared.check_clean()


def _dead(conn) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


@pytest.mark.parametrize("change", [
    "ALTER TABLE people ADD COLUMN extra text",
    "CREATE INDEX people_extra ON people (external_id, id)",
    "DROP TABLE alembic_version",
    "UPDATE alembic_version SET version_num = 'f00d'",
    "CREATE TABLE scratch (id serial primary key)",
])
def test_a_changed_schema_is_rebuilt_from_the_migrations(shared, change):
    fingerprint = shared.fingerprint
    with psycopg.connect(shared.url, autocommit=True) as conn:
        conn.execute(change)
    shared.release()
    assert shared.rebuilds == 1
    assert shared.fingerprint == fingerprint
    shared.check_clean()
    Store(shared.url).dispose()  # migrated: opening applies nothing and raises nothing
