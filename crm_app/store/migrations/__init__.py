"""Schema migrations on Alembic, run at start: revisions in versions/, applied on the caller's connection.

A fresh store is built by the revisions from the baseline on. A store from before Alembic (numbered steps in
`schema_migrations`) first runs the steps it misses (legacy.py), is stamped with the baseline, then upgraded.
The caller holds the store's migration lock (store/db.py), so concurrent starts never both migrate.
"""
from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from crm_app.errors import StoreSchemaError
from crm_app.store.migrations import legacy

SCRIPTS = Path(__file__).resolve().parent
BASELINE = "0001"
log = logging.getLogger("crm_app.migrations")


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration, built in code; env.py runs the revisions on `conn`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = conn
    return config


def migrate(conn: Connection) -> list[str]:
    """Bring the store to the newest revision; return the revisions applied now, oldest first."""
    config = alembic_config(conn)
    if legacy.is_legacy(conn):
        steps = legacy.apply_missing(conn)
        command.stamp(config, BASELINE)
        log.info("store from before Alembic adopted: legacy steps run %s, stamped with revision %s",
                 ", ".join(map(str, steps)) or "none", BASELINE)
    current, script = current_version(conn), ScriptDirectory.from_config(config)
    if current is not None and current not in {s.revision for s in script.walk_revisions()}:
        raise StoreSchemaError(f"the store is at schema revision {current}, which this release does not know (a newer "
                           "release migrated it): run that release, or restore a backup taken before it")
    pending = [s.revision for s in script.iterate_revisions("heads", current)]
    if pending:
        command.upgrade(config, "heads")
        log.info("schema revisions applied: %s", ", ".join(reversed(pending)))
    return pending[::-1]


def current_version(conn: Connection) -> str | None:
    """The store's Alembic revision (None before the first migration)."""
    return MigrationContext.configure(conn).get_current_revision()
