"""The database: the only package that writes SQL. SQLite by default, PostgreSQL for several processes."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import Connection, select

from crm_app.store import schema
from crm_app.store.db import open_engine
from crm_app.store.dialect import upsert


class Store:
    """A migrated database behind one SQLAlchemy engine."""

    def __init__(self, url: str):
        self.url = url
        self.engine = open_engine(url)

    @contextmanager
    def begin(self):
        """A connection inside one transaction, committed on success."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self):
        with self.engine.connect() as conn:
            yield conn

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def get_meta(conn: Connection, key: str, default=None):
    value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == key)).scalar()
    return default if value is None else value


def set_meta(conn: Connection, key: str, value) -> None:
    upsert(conn, schema.meta, [{"key": key, "value": str(value)}], ["key"], ["value"])


__all__ = ["Store", "get_meta", "set_meta"]
