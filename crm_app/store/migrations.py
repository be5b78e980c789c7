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


def _identity(conn: Connection) -> None:
    from crm_app.store import identity
    identity.create_tables(conn)


def _segments(conn: Connection) -> None:
    from crm_app.store import segments
    segments.create_tables(conn)


def _segment_column(conn: Connection) -> None:
    from crm_app.store import segments
    segments.add_segment_column(conn)


MIGRATIONS: list[Migration] = [
    (1, "people, accounts, events, metrics, results, history, ingest ledger", _initial),
    (40, "identity: CRM people, identity links, account matches", _identity),
    (41, "customer-health segment membership", _segments),
    (42, "results.segment: the primary segment written to the CRM", _segment_column),
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
