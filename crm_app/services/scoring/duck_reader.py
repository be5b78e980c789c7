"""The DuckDB copy opened for a reader (backtests, previews): caught up with the store, results mirror left
alone, the queue of changed people read but not consumed."""
from __future__ import annotations

import time

from sqlalchemy import select

from crm_app.services.scoring.duck_engine import forget_followed, lag_seconds, open_bound
from crm_app.store import Store, schema
from crm_app.store.columnar import copy, event_moves, mirror
from crm_app.store.scoring import results as results_store


def open_current(store: Store):
    """The copy with every event and person as the store holds them now. Raises CopyBusy when another
    process holds it.

    People queued as changed or handed off by the per-person engine are re-read, and events that moved between
    people are followed (event_moves);
    when another engine wrote results since the copy's last run without saying whose, everyone is. A copy filled just now needs neither.
    """
    con = open_bound(store)
    try:
        with store.read() as conn:
            fresh = con.execute("SELECT count(*) FROM people").fetchall()[0][0] == 0
            new_copy = con.execute("SELECT count(*) FROM catch_ups").fetchall()[0][0] == 0
            copy.catch_up_events(con, conn, int(time.time()), lag_seconds())
            queued = conn.execute(select(schema.dirty.c.person_id)).scalars().all()
            queued = sorted(set(queued) | set(results_store.handed_off(conn)[1]))
            everyone = not fresh and not mirror.trusted(con, conn)
            copy.refresh_people(con, conn, None, queued, everyone=everyone)
            followed = event_moves.follow(con, conn, new_copy)
        forget_followed(store, followed)
    except BaseException:
        con.close()
        raise
    return con
