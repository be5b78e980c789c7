"""What "changed" means when events come from a Parquet folder or a warehouse: the people whose events (or
identifies) reached the source after the source watermark, less COLUMNAR_LAG_SECONDS (a load commits a while
after its rows' arrival stamps), plus the people the store queued (CRM and identity changes). The watermark
is the newest arrival a completed run saw, kept in the store's meta table per source."""
from __future__ import annotations

import json

import duckdb

from crm_app.services.scoring.duck_engine import lag_seconds
from crm_app.store import Store
from crm_app.store.columnar.relations import create_tables
from crm_app.store.columnar.sources import EventSource, arrived_since, define_events, newest_arrival
from crm_app.store.meta import get_meta, set_meta
from crm_app.store.people import person_ids

WATERMARK = "event_source_watermark"


def _identity(source: EventSource) -> str:
    return f"{source.kind}:{source.path}:{source.schema}"


def watermark(store: Store, source: EventSource) -> int | None:
    """The newest arrival the last completed run from this source saw (None: no run from it yet)."""
    with store.read() as conn:
        kept = json.loads(get_meta(conn, WATERMARK) or "{}")
    return kept.get("arrival") if kept.get("source") == _identity(source) else None


def source_scope(store: Store, source: EventSource, queued: list | None) -> tuple[list | None, int | None]:
    """(the people an incremental run scores, the newest arrival seen). `queued` None means a full run: every
    person is scored, and only the newest arrival is looked up. With no watermark yet, everyone is scored."""
    con = duckdb.connect()
    try:
        create_tables(con)
        define_events(con, source, ())
        newest = newest_arrival(con)
        since = watermark(store, source) if queued is not None else None
        if since is None:
            return None, newest
        users = arrived_since(con, since - lag_seconds())
    finally:
        con.close()
    with store.read() as conn:
        found = person_ids(conn, users)
    return sorted(set(queued) | set(found.values())), newest


def save_watermark(store: Store, source: EventSource, newest: int | None) -> None:
    """After a completed run that scored everything up to `newest`."""
    if newest is None:
        return
    with store.begin() as conn:
        set_meta(conn, WATERMARK, json.dumps({"source": _identity(source), "arrival": int(newest)}))
