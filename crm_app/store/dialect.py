"""The few statements that differ between SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def insert_for(conn: Connection, table: Table):
    """An INSERT that supports ON CONFLICT on both backends."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def upsert(conn: Connection, table: Table, rows: list[dict], keys: list[str], update: list[str] | None = None):
    """INSERT ... ON CONFLICT (keys) DO UPDATE the given columns (or DO NOTHING), as one executemany."""
    if not rows:
        return
    stmt = insert_for(conn, table)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=keys,
                                          set_={c: getattr(stmt.excluded, c) for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)


def chunks(items: list, size: int):
    """Successive slices of at most size items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def is_deadlock(exc: BaseException) -> bool:
    """True for a PostgreSQL deadlock or serialization failure: the transaction can simply be run again."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


def key_bounds(conn: Connection, key) -> tuple[int, int]:
    """(lowest, highest) of an indexed integer key, (0, -1) when the table is empty. Two queries: SQLite reads a
    min() or max() from the index's end only when the query holds just one of them; both together scan."""
    low = conn.execute(select(func.min(key))).scalar()
    high = conn.execute(select(func.max(key))).scalar()
    return (0, -1) if low is None else (low, high)
