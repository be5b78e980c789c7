"""Database engine creation: SQLite (embedded default) or PostgreSQL, migrated at start."""
from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import StaticPool

from crm_app.store.migrations import migrate


MIGRATION_LOCK = 7_160_001  # advisory lock key held while migrating a PostgreSQL store
SQLITE_CACHE_KIB = 200_000  # page cache a connection keeps, for set-wise aggregation over the store
SQLITE_STREAMING_CACHE_KIB = 16_000  # while bulk-writing or bulk-reading rows that will not be read again


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    _use_wal(cursor)  # readers never block the one writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


@contextmanager
def streaming_cache(conn):
    """A small SQLite page cache while `conn` bulk-writes, or bulk-reads into the columnar copy: a million rows
    would otherwise stay cached, hundreds of MB of a scoring run's memory, for pages nothing reads again. Other
    backends are unchanged."""
    if conn.dialect.name != "sqlite":
        yield conn
        return
    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_STREAMING_CACHE_KIB}")
    try:
        yield conn
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")


def _use_wal(cursor, wait_seconds: float = 30.0) -> None:
    """Switch a new file to WAL (a lasting setting of the file). The switch needs the file's exclusive lock, and
    SQLite answers "locked" at once, without its busy handler, while another process holds a write lock (two
    processes opening a new store together): retry until that write ends."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite files get their folder, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        options = {"poolclass": StaticPool} if path in ("", ":memory:") else {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def open_engine(url: str) -> Engine:
    """Make the engine and bring its schema up to date."""
    engine = make_engine(url)
    migrate_locked(engine)
    return engine


def migrate_locked(engine: Engine) -> list[str]:
    """Migrate under the store's migration lock; return the revisions applied (none when another process did)."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # The same for SQLite: take the write lock before looking at the schema version (the driver would
            # otherwise begin only at the first INSERT, after another process created the same tables).
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if conn.dialect.name == "postgresql":
            # Several processes start at once (gunicorn workers, workers on other machines): one migrates,
            # the others wait here and then find nothing left to do. Released at commit.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        return migrate(conn)
