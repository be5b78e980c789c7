"""Bulk loading for large backfills and benchmarks: driver-level executemany, no per-row ORM work."""
from __future__ import annotations

import json

from sqlalchemy import JSON, Connection

from crm_app.store import schema
from crm_app.store.dialect import chunks


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


def lookup(conn: Connection, table_name: str, key: str, value: str, keys) -> dict:
    """key -> value for the given keys through the driver: the per-request reads of ingest, without the
    statement compilation an expanding IN costs on every call (measured: the largest share of ingest time)."""
    table = schema.metadata.tables[table_name]
    if key not in table.c or value not in table.c:
        raise ValueError(f"{table_name} has no column {key!r} or {value!r}")
    keys = sorted(set(k for k in keys if k is not None))
    if not keys:
        return {}
    cursor = conn.connection.driver_connection.cursor()
    found: dict = {}
    if conn.dialect.name == "postgresql":
        # prepare=False: psycopg prepares a statement after 5 runs, and PostgreSQL's generic plan for
        # "= ANY(array)" is a slow scan (measured 8 ms against 1 ms for a 100-key lookup in 5,000 people).
        cursor.execute(f"SELECT {key}, {value} FROM {table_name} WHERE {key} = ANY(%b)", (keys,), prepare=False)
        found.update(cursor.fetchall())
        return found
    for part in chunks(keys, 900):
        cursor.execute(f"SELECT {key}, {value} FROM {table_name} WHERE {key} IN ({', '.join('?' * len(part))})",
                       part)
        found.update(cursor.fetchall())
    return found


def bump_versions(conn: Connection, table_name: str, key: str, ids: list) -> None:
    """Insert (id, version 1) or add one to the stored version, in id order (no deadlock between writers)."""
    table = schema.metadata.tables[table_name]
    if key not in table.c:
        raise ValueError(f"{table_name} has no column {key!r}")
    ordered = sorted(set(ids))
    on_conflict = f"ON CONFLICT ({key}) DO UPDATE SET version = {table_name}.version + 1"
    cursor = conn.connection.driver_connection.cursor()
    if conn.dialect.name == "postgresql":
        # One statement over an array: psycopg's executemany runs one INSERT per id on the server (measured
        # 5 ms for the 95 people of a 100-event ingest batch). ORDER BY keeps the rows, and so the locks, in id order.
        for part in chunks(ordered, 50_000):
            cursor.execute(f"INSERT INTO {table_name} ({key}, version) SELECT k, 1 FROM unnest(%b::bigint[]) "
                           f"WITH ORDINALITY AS r(k, n) ORDER BY n {on_conflict}", (part,))
        return
    cursor.executemany(f"INSERT INTO {table_name} ({key}, version) VALUES (?, 1) {on_conflict}",
                       [(i,) for i in ordered])


def insert_new(conn: Connection, table_name: str, columns: list[str], key: str, rows: list[tuple],
               json_columns: tuple = (), per_statement: int = 500) -> set:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key, in arrival order: the keys stored now. One
    statement over arrays on PostgreSQL, multi-row VALUES statements on SQLite.

    One round trip tells which rows were new, with no pre-read (whose plan PostgreSQL gets wrong on a
    young table without statistics: measured 30 ms a lookup against 1 ms with this)."""
    table = schema.metadata.tables[table_name]
    unknown = [c for c in columns if c not in table.c]
    if unknown or key not in columns:
        raise ValueError(f"{table_name}: unknown column(s) {unknown} or key {key!r} not among the columns")
    positions = {columns.index(c) for c in json_columns}
    cursor = conn.connection.driver_connection.cursor()
    stored: set = set()
    if conn.dialect.name == "postgresql":
        statement = f"{_unnest_insert(conn, table, columns, positions)} ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
        for part in chunks(rows, 50_000):
            cursor.execute(statement, [[as_json(row[i]) if i in positions and row[i] is not None else row[i]
                                        for row in part] for i in range(len(columns))])
            stored.update(r[0] for r in cursor.fetchall())
        return stored
    one = "(" + ", ".join(["?"] * len(columns)) + ")"
    for part in chunks(rows, per_statement):
        values = [as_json(v) if i in positions and v is not None else v for row in part for i, v in enumerate(row)]
        cursor.execute(f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES {', '.join([one] * len(part))} "
                       f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}", values)
        stored.update(r[0] for r in cursor.fetchall())
    return stored


def _unnest_insert(conn: Connection, table, columns: list[str], json_positions: set) -> str:
    """INSERT ... SELECT FROM unnest(one array a column) in the arrays' order, for PostgreSQL.

    Its text does not grow with the rows: psycopg converts a multi-row VALUES afresh on every call (its query
    cache skips statements of more than 50 parameters; 100 events have 700) and the server parses it afresh;
    this one psycopg converts once and prepares. The arrays go in binary (%b): psycopg's text format escapes
    every string with a regular expression (measured 2.3 ms of CPU against 0.5 ms for the 7 arrays of 100
    events). JSON values travel as text and are cast row by row."""
    types = [table.c[c].type.compile(dialect=conn.dialect) for c in columns]
    arrays = ", ".join(f"%b::{'text' if i in json_positions else t}[]" for i, t in enumerate(types))
    names = [f"c{i}" for i in range(len(columns))]
    picked = ", ".join(f"{n}::{types[i]}" if i in json_positions else n for i, n in enumerate(names))
    return (f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {picked} FROM unnest({arrays}) "
            f"WITH ORDINALITY AS r({', '.join(names)}, n) ORDER BY n")


def rows_by_key(conn: Connection, table_name: str, key: str, keys) -> dict:
    """key -> whole row as a dict (JSON columns decoded) through the driver, for the ingest upserts."""
    table = schema.metadata.tables[table_name]
    if key not in table.c:
        raise ValueError(f"{table_name} has no column {key!r}")
    names = [c.name for c in table.c]
    json_names = {c.name for c in table.c if isinstance(c.type, JSON)}
    keys = sorted(set(k for k in keys if k is not None))
    cursor = conn.connection.driver_connection.cursor()
    found: dict = {}
    select_list = ", ".join(names)
    for part in chunks(keys, 900):
        if conn.dialect.name == "postgresql":
            cursor.execute(f"SELECT {select_list} FROM {table_name} WHERE {key} = ANY(%b)", (part,), prepare=False)
        else:
            cursor.execute(f"SELECT {select_list} FROM {table_name} WHERE {key} IN ({', '.join('?' * len(part))})",
                           part)
        for values in cursor.fetchall():
            row = dict(zip(names, values))
            for name in json_names:
                if isinstance(row[name], str):
                    row[name] = json.loads(row[name])
            found[row[key]] = row
    return found


def delete_versions(conn: Connection, table_name: str, key: str, pairs: list[tuple[int, int]]) -> None:
    """Delete rows whose (key, version) is in pairs, through the driver: a queue of a million people is
    released in seconds (measured 72 s with 500-pair IN statements on SQLite)."""
    table = schema.metadata.tables[table_name]
    if key not in table.c or "version" not in table.c:
        raise ValueError(f"{table_name} has no column {key!r} or version")
    cursor = conn.connection.driver_connection.cursor()
    if conn.dialect.name == "postgresql":
        for part in chunks(pairs, 50_000):
            cursor.execute(f"DELETE FROM {table_name} t USING unnest(%s::bigint[], %s::bigint[]) AS c(k, v) "
                           f"WHERE t.{key} = c.k AND t.version = c.v",
                           ([p[0] for p in part], [p[1] for p in part]), prepare=False)
        return
    cursor.executemany(f"DELETE FROM {table_name} WHERE {key} = ? AND version = ?", pairs)


def partitions_of(conn, source, batch: int):
    """Batches of `batch` rows of a query, or of rows already read (a list, one batch)."""
    if isinstance(source, list):
        if source:
            yield source
        return
    yield from conn.execution_options(yield_per=batch).execute(source).partitions(batch)


def by_ids(conn, select_where: str, ids: list) -> list:
    """Rows of `<select_where> IN ids` through the driver: no statement is compiled per id list (compiling an
    expanding IN of thousands of ids cost more than the read itself)."""
    cursor = conn.connection.driver_connection.cursor()
    if conn.dialect.name == "postgresql":
        cursor.execute(f"{select_where} = ANY(%s)", (list(ids),), prepare=False)
        return cursor.fetchall()
    rows: list = []
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        cursor.execute(f"{select_where} IN ({', '.join('?' * len(part))})", part)
        rows += cursor.fetchall()
    return rows
