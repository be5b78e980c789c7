"""Key-value settings kept in the store's meta table."""
from __future__ import annotations

from sqlalchemy import Connection, select

from crm_app.store import schema
from crm_app.store.dialect import upsert


def get_meta(conn: Connection, key: str, default=None):
    value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == key)).scalar()
    return default if value is None else value


def set_meta(conn: Connection, key: str, value) -> None:
    upsert(conn, schema.meta, [{"key": key, "value": str(value)}], ["key"], ["value"])


def first_meta(conn: Connection, key: str, value) -> str:
    """The stored value of key; `value` is stored first when there is none (the first writer wins)."""
    upsert(conn, schema.meta, [{"key": key, "value": str(value)}], ["key"])
    return get_meta(conn, key)
