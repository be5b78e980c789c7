"""The database: the only package that writes SQL. SQLite by default, PostgreSQL for several processes."""
from __future__ import annotations

from contextlib import contextmanager

from crm_app.store.db import open_engine
from crm_app.store.meta import get_meta, set_meta


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


__all__ = ["Store", "get_meta", "set_meta"]
