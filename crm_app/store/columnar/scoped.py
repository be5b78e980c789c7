"""Bringing the copy's people up to date for an incremental run, at a cost that follows the people it scores,
not the population: their people and account rows are replaced by key. (Their events' moves between people come
from the store's log of them, event_moves.)"""
from __future__ import annotations

import numpy as np

from crm_app.store.bulk import by_ids
from crm_app.store.people import email_domain

PEOPLE = "SELECT id, external_id, email, account_id, CAST(attributes AS TEXT), created_at FROM people WHERE id"
ACCOUNTS = "SELECT id, external_id, name, domain, CAST(attributes AS TEXT) FROM accounts WHERE id"


def _column(rows: list, i: int, kind=object):
    return np.array([r[i] for r in rows], dtype=kind)


def refresh_people(con, conn, people) -> int:
    """Re-read these people, their accounts and the event types from the store; return how many people the
    store holds of them. People or accounts the store no longer holds leave the copy."""
    ids = sorted(set(people))
    rows = by_ids(conn, PEOPLE, ids)
    accounts = sorted({r[3] for r in rows if r[3] is not None})
    account_rows = by_ids(conn, ACCOUNTS, accounts) if accounts else []
    types = [tuple(t) for t in conn.exec_driver_sql("SELECT id, key FROM event_types ORDER BY id").all()]
    con.execute("BEGIN TRANSACTION")
    try:
        _replace(con, "people", {
            "id": _column(rows, 0, np.int64), "external_id": _column(rows, 1), "email": _column(rows, 2),
            "email_domain": np.array([email_domain(r[2]) for r in rows], dtype=object),
            "account_id": _column(rows, 3), "attributes": _column(rows, 4), "created_at": _column(rows, 5)},
            ids, "id, external_id, email, email_domain, account_id, attributes, created_at")
        _replace(con, "accounts", {
            "id": _column(account_rows, 0, np.int64), "external_id": _column(account_rows, 1),
            "name": _column(account_rows, 2), "domain": _column(account_rows, 3),
            "attributes": _column(account_rows, 4)}, accounts, "id, external_id, name, domain, attributes")
        if con.execute("SELECT id, key FROM event_types ORDER BY id").fetchall() != types:
            con.execute("DELETE FROM event_types")
            if types:
                con.executemany("INSERT INTO event_types VALUES (?, ?)", types)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(rows)


def _replace(con, table: str, staged: dict, asked: list, columns: str) -> None:
    """Make the copy's rows of the asked ids the staged ones (ids the store did not return leave the copy), by
    deleting and inserting only the rows that differ: most people a run scores changed by their events alone,
    and rows left as they were cost the copy no write. A delete and an insert cost far less in DuckDB than
    INSERT OR REPLACE over a large table."""
    con.register("asked", {"id": np.array(asked, dtype=np.int64)})
    con.register("staged", staged)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE differing AS SELECT id FROM asked WHERE id NOT IN "
                    f"(SELECT id FROM (SELECT {columns} FROM staged INTERSECT SELECT {columns} FROM {table} "
                    f"WHERE id IN (SELECT id FROM asked)))")
        con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM differing)")
        if len(staged["id"]):
            con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM staged "
                        f"WHERE id IN (SELECT id FROM differing)")
    finally:
        con.unregister("asked")
        con.unregister("staged")
