"""The copy's mirror of the last results: the sticky PQL state the plan reads, and a hash per result that
says "unchanged" without rendering it. It is trusted only while the store's results epoch matches its own."""
from __future__ import annotations

import uuid

import duckdb
import numpy as np
from sqlalchemy import select

from crm_app.store import schema
from crm_app.store.columnar.relations import create_tables
from crm_app.store.dialect import chunks
from crm_app.store.meta import get_meta, set_meta

EPOCH = "columnar_results_epoch"
QUEUE_EPOCH = "columnar_queue_epoch"
PREV = "model, subject_id, pql, pql_since, pql_first_at, h, digest, fit, behaviour, combined, band, fit_raw"


def open_copy(path: str, memory_limit: str | None = None, threads: int | None = None):
    """The copy at `path` (created when missing), with DuckDB's memory and thread caps applied."""
    con = duckdb.connect(path)
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit.replace(chr(39), '')}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    create_tables(con)
    return con


STORE_ID = "columnar_store_id"
COPY_TABLES = ("events", "people", "accounts", "event_types", "prev", "copy_state", "catch_ups", "typed_properties")


def bind_to_store(con, conn) -> bool:
    """Tie the copy to the store it copies; a copy of another store (or of a recreated one) is emptied.

    Returns True when the copy was emptied. The store's identity is a random id kept in its meta table.
    """
    store_id = get_meta(conn, STORE_ID)
    if not store_id:
        store_id = uuid.uuid4().hex
        set_meta(conn, STORE_ID, store_id)
    if _state(con, STORE_ID) == store_id:
        return False
    con.execute("BEGIN TRANSACTION")
    for table in COPY_TABLES:
        con.execute(f"DELETE FROM {table}")
    con.execute("INSERT INTO copy_state VALUES (?, ?)", [STORE_ID, store_id])
    con.execute("COMMIT")
    return True


def _state(con, key: str):
    row = con.execute("SELECT value FROM copy_state WHERE key = ?", [key]).fetchall()
    return row[0][0] if row else None


def sync_previous(con, conn, models: list, handed=()) -> bool:
    """Reload the mirror from the store's results when another writer touched them; True when reloaded.

    Only the `handed` people are reloaded while the epoch holds: the per-person engine scored them and said
    so (results.hand_off_to_copy); everyone is when another writer left no such note. A subject keeps its
    hash only where the store still holds the very result (same digest) the hash was taken for; the others
    are rendered and compared again.
    """
    epoch = get_meta(conn, EPOCH)
    current = bool(epoch) and epoch == _state(con, EPOCH)
    if current and not handed:
        return False
    r = schema.results
    query = select(r.c.model, r.c.subject_id, r.c.pql, r.c.pql_since, r.c.pql_first_at, r.c.digest, r.c.fit,
                   r.c.behaviour, r.c.combined, r.c.band, r.c.fit_raw).where(r.c.model.in_(models))
    if current:
        con.register("handed", {"subject_id": np.array(sorted(handed), dtype=np.int64)})
        con.execute("CREATE OR REPLACE TEMP TABLE handed_ids AS SELECT subject_id FROM handed")
        con.unregister("handed")
        rows = [row for part in chunks(sorted(handed), 5000)
                for row in conn.execute(query.where(r.c.subject_id.in_(part))).all()]
    else:
        rows = conn.execute(query).all()
    _reload(con, rows)
    if current:
        con.execute("DELETE FROM prev WHERE subject_id IN (SELECT subject_id FROM handed_ids)")
    else:
        con.execute("DELETE FROM prev")
    con.execute(f"INSERT INTO prev ({PREV}) SELECT * FROM reloaded")
    return True


def _reload(con, rows: list) -> None:
    """The temp table `reloaded`: the stored results `rows` in the mirror's shape, each keeping the mirror's
    hash only where its digest is the one the hash was taken for."""
    column = lambda i, kind=object: np.array([x[i] for x in rows], dtype=kind)  # noqa: E731
    con.register("stored", {"model": column(0), "subject_id": column(1, np.int64),
                            "pql": np.array([bool(x[2]) for x in rows], dtype=bool), "pql_since": column(3),
                            "pql_first_at": column(4), "digest": column(5), "fit": column(6),
                            "behaviour": column(7), "combined": column(8), "band": column(9), "fit_raw": column(10)})
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE reloaded AS SELECT s.model, s.subject_id, s.pql, "
                    "CAST(s.pql_since AS BIGINT) AS pql_since, CAST(s.pql_first_at AS BIGINT) AS pql_first_at, "
                    "CASE WHEN p.digest = s.digest THEN p.h END AS h, CAST(s.digest AS VARCHAR) AS digest, "
                    "CAST(s.fit AS INTEGER) AS fit, CAST(s.behaviour AS INTEGER) AS behaviour, "
                    "CAST(s.combined AS INTEGER) AS combined, CAST(s.band AS VARCHAR) AS band, "
                    "CAST(s.fit_raw AS INTEGER) AS fit_raw FROM stored s "
                    "LEFT JOIN prev p ON p.model = s.model AND p.subject_id = s.subject_id")
    finally:
        con.unregister("stored")


def new_epoch(con, conn) -> None:
    """After our writes: the store and the mirror agree again, and the copy knows every change queued so far."""
    epoch = uuid.uuid4().hex
    for key in (EPOCH, QUEUE_EPOCH):
        set_meta(conn, key, epoch)
        con.execute("INSERT OR REPLACE INTO copy_state VALUES (?, ?)", [key, epoch])


def forget_epoch(conn) -> None:
    """Another engine wrote results and consumed the queue of changed people without saying whose (a full
    run, a warehouse import): the mirror must reload, and the copy must read every person and every event's
    person again, before either is trusted."""
    for key in (EPOCH, QUEUE_EPOCH):
        set_meta(conn, key, "")


def forget_results(conn) -> None:
    """The stored results changed outside any run (deleted, say) while the queue stayed: the mirror reloads."""
    set_meta(conn, EPOCH, "")


def queue_foreign(con, conn) -> bool:
    """Whether someone else consumed the queue of changed people since the copy last did."""
    epoch = get_meta(conn, QUEUE_EPOCH)
    return not epoch or epoch != _state(con, QUEUE_EPOCH)


REWRITE_SHARE = 4  # a run whose candidates number at least 1/4 of the mirror's rows rewrites the mirror


def remember(con, model: str) -> None:
    """The candidates' new state from the run's `outcome` table: sticky PQL dates, hash, digest and what history
    and tallies compare; those who left the model's population are forgotten.

    Few candidates: their rows are deleted and inserted again. Many: the mirror is rewritten, unchanged rows and
    new ones in order. Deleting 425,000 of 1M rows left row groups full of deleted rows, which the next run's
    checkpoint rewrote (0.3 s of an incremental run of 10,000 people); the rewrite costs the full run about what
    the deletes and their checkpoint did (0.75-0.8 s with its checkpoint, against 0.9 s) and leaves nothing behind."""
    new = ("SELECT ?, person_id, pql, pql_since, pql_first_at, h, digest, fit, behaviour, combined, band, fit_raw "
           "FROM outcome WHERE inpop")
    candidates = con.execute("SELECT count(*) FROM outcome").fetchall()[0][0]
    held = con.execute("SELECT count(*) FROM prev").fetchall()[0][0]
    # One transaction: the mirror keeps no key, a subject's row goes before its new one comes (relations).
    con.execute("BEGIN TRANSACTION")
    try:
        if candidates * REWRITE_SHARE >= held:
            con.execute(f"CREATE OR REPLACE TABLE prev AS SELECT * FROM (SELECT {PREV} FROM prev WHERE NOT "
                        f"(model = ? AND subject_id IN (SELECT person_id FROM outcome)) UNION ALL {new}) "
                        "ORDER BY model, subject_id", [model, model])
        else:
            con.execute("DELETE FROM prev WHERE model = ? AND subject_id IN (SELECT person_id FROM outcome)", [model])
            con.execute(f"INSERT INTO prev ({PREV}) {new}", [model])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def band_totals(con, model: str) -> dict:
    """Band -> results the model holds, from the mirror: right after a run it holds what the store holds, and
    counting here spares the store a scan of every result."""
    return dict(con.execute("SELECT band, count(*) FROM prev WHERE model = ? GROUP BY band", [model]).fetchall())


def trusted(con, conn) -> bool:
    """Whether the store's results epoch is the copy's: no other engine wrote (and drained the queue of
    changed people) since the copy's last run. A reader that finds it untrusted re-reads every person."""
    epoch = get_meta(conn, EPOCH)
    return bool(epoch) and epoch == _state(con, EPOCH)
