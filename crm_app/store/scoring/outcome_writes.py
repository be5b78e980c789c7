"""A set-wise run's changed results written from the copy's `outcome` table into the store, set-wise.

Most results a later full run changes keep their scores, band and PQL state: a reason's age moved ("2 weeks
ago"), or the last activity. On SQLite those are written by an UPDATE of the other columns alone, which touches
none of the results' indexes (an upsert sets every column, and so rewrites an entry in each of the six
dashboard indexes). Measured on 1M people, a day later: 421,496 results changed, 205,088 of them in a keyed
column."""
from __future__ import annotations

from contextlib import nullcontext

from sqlalchemy import func, select

from crm_app.store import schema
from crm_app.store.columnar import outcome
from crm_app.store.db import streaming_cache
from crm_app.store.reindex import indexes_rebuilt
from crm_app.store.scoring import results as results_store

WRITE_BATCH = 50_000  # result rows per store transaction
REINDEX_ROWS = 200_000


def write_outcome(store, con, model: str, as_of: int, rules_hash: str) -> None:
    """Changed results and their history, a transaction per batch (one for a write of one batch); results that
    left the population go.
    A write larger than REINDEX_ROWS and than the results already held is one transaction that drops the
    results' secondary indexes and builds them again after (one sort each, not a B-tree insert per row)."""
    changed = con.execute(f"SELECT count(*) FROM outcome WHERE {outcome.CHANGED}").fetchall()[0][0]
    if changed >= REINDEX_ROWS:
        with store.read() as conn:
            held = conn.execute(select(func.count()).select_from(schema.results)).scalar()
        if changed > held:
            with store.begin() as conn, indexes_rebuilt(conn, "results"):
                _write_rows(con, model, as_of, rules_hash, lambda: nullcontext(conn), unkeyed_apart=False)
            return
    if changed <= WRITE_BATCH:  # results, history and removals in one transaction: one commit, not three
        with store.begin() as conn:
            _write_rows(con, model, as_of, rules_hash, lambda: nullcontext(conn), store.backend == "sqlite")
        return
    _write_rows(con, model, as_of, rules_hash, store.begin, store.backend == "sqlite")


def _write_rows(con, model: str, as_of: int, rules_hash: str, transaction, unkeyed_apart: bool) -> None:
    """unkeyed_apart: results whose keyed columns the mirror says did not move are written by
    results.update_unkeyed; a batch it could not apply whole (the store held other keyed values) is upserted."""
    keyed = outcome.keyed_moved(results_store.KEYED)
    passes = [(f"NOT ({keyed})", True), (keyed, False)] if unkeyed_apart else [("TRUE", False)]
    for where, unkeyed in passes:
        for rows in outcome.changed_rows(con, model, as_of, rules_hash, WRITE_BATCH, where):
            with transaction() as conn, streaming_cache(conn):
                if not unkeyed or results_store.update_unkeyed(conn, rows) < len(rows):
                    results_store.save_rows(conn, rows, [])
    for rows in outcome.history_rows(con, model, as_of, rules_hash, WRITE_BATCH):
        with transaction() as conn, streaming_cache(conn):
            results_store.save_rows(conn, [], rows)
    gone = outcome.removed(con)
    if gone:
        with transaction() as conn:
            results_store.delete_results(conn, [(model, pid) for pid in gone])
