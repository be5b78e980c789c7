"""Versioned schema migrations, run at start. Append new steps; never edit an applied one."""
from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import Connection, insert, select

from crm_app.store import schema

Migration = tuple[int, str, Callable[[Connection], None]]


def _initial(conn: Connection) -> None:
    tables = [t for t in schema.metadata.sorted_tables if t.name != "schema_migrations"]
    schema.metadata.create_all(conn, tables=tables)


def _dashboard_indexes(conn: Connection) -> None:
    from crm_app.store.dashboard_indexes import create_dashboard_indexes
    create_dashboard_indexes(conn)


MIGRATIONS: list[Migration] = [
    (1, "people, accounts, events, metrics, results, history, ingest ledger", _initial),
    (50, "dashboard: keyset indexes on results for sorted, filtered people pages", _dashboard_indexes),
]


def migrate(conn: Connection) -> list[int]:
    """Apply every migration not yet applied, in order; return the versions applied now."""
    schema.schema_migrations.create(conn, checkfirst=True)
    done = set(conn.execute(select(schema.schema_migrations.c.version)).scalars())
    applied = []
    for version, description, step in MIGRATIONS:
        if version in done:
            continue
        step(conn)
        conn.execute(insert(schema.schema_migrations).values(version=version, description=description,
                                                              applied_at=int(time.time())))
        applied.append(version)
    return applied


def current_version(conn: Connection) -> int:
    versions = list(conn.execute(select(schema.schema_migrations.c.version)).scalars())
    return max(versions, default=0)
