"""Events whose person changed in the store (an anonymous history identified, a merge) or that were deleted,
followed by the copy from the store's log of them: triggers on the store's events write `event_moves`, so no
code path that moves an event can forget to.

A run reads the whole log, sets each logged event's person in the copy to the store's person of now (None when
the event is gone), and then deletes exactly the log rows it read. A move committed in between stays in the log
for the next run; reading a move twice is harmless, since the person is set, not shifted. An event the copy
does not hold yet is left to the catch-up, which copies it with its person of then.

A copy built before the log existed follows every event's person once (FOLLOWS_LOG marks it done); a copy built
from scratch reads every event with its person of now, so the log up to then is already in it.
"""
from __future__ import annotations

from sqlalchemy import Connection, delete, select

from crm_app.store import schema
from crm_app.store.bulk import by_ids
from crm_app.store.columnar.copy import follow_every_event
from crm_app.store.columnar.mirror import STORE_ID
from crm_app.store.dialect import chunks
from crm_app.store.meta import get_meta

FOLLOWS_LOG = "follows_event_moves"  # copy_state key: the copy follows the log


def follow(con, conn: Connection, fresh: bool) -> list[int]:
    """Bring the copy's events up to the logged moves; return the log seqs read (forget them once this run's
    copy work is committed). fresh: the copy was built by this run's catch-up."""
    if not _follows_log(con):
        if not fresh:
            follow_every_event(con, conn)
        con.execute("INSERT OR REPLACE INTO copy_state VALUES (?, ?)", [FOLLOWS_LOG, "1"])
    m = schema.event_moves
    rows = conn.execute(select(m.c.seq, m.c.event_id).order_by(m.c.seq)).all()
    if not rows:
        return []
    events = sorted({event for _, event in rows})
    person = {}
    for part in chunks(events, 5000):
        person.update(by_ids(conn, "SELECT id, person_id FROM events WHERE id", part))
    con.execute("UPDATE events SET person_id = m.person_id FROM (SELECT unnest(?::BIGINT[]) AS id, "
                "unnest(?::BIGINT[]) AS person_id) m WHERE events.id = m.id "
                "AND events.person_id IS DISTINCT FROM m.person_id", [events, [person.get(e) for e in events]])
    return [seq for seq, _ in rows]


def forget(conn: Connection, seqs: list[int]) -> None:
    """Delete the log rows a run read and followed: exactly those, as later ones may have committed since."""
    m = schema.event_moves
    for part in chunks(sorted(seqs), 900):
        conn.execute(delete(m).where(m.c.seq.in_(part)))


def prune_unfollowed(conn: Connection) -> None:
    """With no copy bound to this store, nothing follows the log: empty it (a copy made later reads every
    event with its person of then), so a store scored only by the per-person engine does not keep it growing."""
    if not get_meta(conn, STORE_ID):
        conn.execute(delete(schema.event_moves))


def _follows_log(con) -> bool:
    return bool(con.execute("SELECT count(*) FROM copy_state WHERE key = ?", [FOLLOWS_LOG]).fetchall()[0][0])
