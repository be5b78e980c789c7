"""Bulk loading for large backfills and benchmarks: driver-level executemany, no per-row ORM work."""
from __future__ import annotations

import json

from sqlalchemy import Connection

from crm_app.store import schema


def bulk_insert(conn: Connection, table_name: str, columns: list[str], rows) -> int:
    """Insert tuples straight through the DB driver; rows must be in column order. Returns rows sent."""
    table = schema.metadata.tables[table_name]
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table_name} has no column(s) {unknown}")
    marks = ", ".join(["?" if conn.dialect.name == "sqlite" else "%s"] * len(columns))
    statement = f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})"
    cursor = conn.connection.driver_connection.cursor()
    rows = list(rows)
    cursor.executemany(statement, rows)
    return len(rows)


def as_json(value) -> str:
    """JSON text as the JSON columns store it."""
    return json.dumps(value, separators=(",", ":"))


def bulk_upsert(conn: Connection, table_name: str, columns: list[str], keys: list[str], rows: list[tuple],
                json_columns: tuple = ()) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE through the driver's executemany (SQLite and PostgreSQL)."""
    if not rows:
        return
    table = schema.metadata.tables[table_name]
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table_name} has no column(s) {unknown}")
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    statement = (f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
                 f"ON CONFLICT ({', '.join(keys)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING"))
    if json_columns:
        positions = [columns.index(c) for c in json_columns]
        rows = [tuple(as_json(v) if i in positions and v is not None else v for i, v in enumerate(row))
                for row in rows]
    conn.connection.driver_connection.cursor().executemany(statement, rows)
