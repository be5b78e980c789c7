"""Keeping the DuckDB copy up to date from the store: events by id with a settled low watermark, people and
accounts refreshed set-wise, the sticky PQL state of the last results.

Why no event is lost: on PostgreSQL, ingest in many processes commits event ids out of order, so "everything
above the highest id copied" would skip an id that committed late. (SQLite lets one writer in at a time and
never gives an id twice, so its ids become visible in order: there the catch-up reads above the highest id.)
Each catch-up k records (stamp t_k, highest id M_k it saw) and re-reads every id above L_k = M_j, where j is
the newest catch-up with t_j <= t_(k-1) - lag. An id at or below M_j was taken before t_j, so its transaction
committed by t_j + lag <= t_(k-1), and catch-up k-1 (or an earlier one) copied it. That holds as long as no
ingest transaction stays open longer than `lag` (a setting).
Why none is doubled: the copy's events carry the store's event id, and a batch inserts only the ids the copy
lacks (an anti-join against the copy's ids in the batch's id range; no index is kept over 20M ids).
An event whose person changed later (an anonymous history identified, a merge) is logged by the store's
triggers, and the copy follows the log (event_moves) before a run scores.
Why a crash loses nothing: a catch-up commits its rows with a (t_k, highest id so far) record, in steps of
COMMIT_ROWS events read in id order; a crash rolls back the open step, and the next catch-up starts from the
last committed one, as if that catch-up had stopped there.
"""
from __future__ import annotations

import itertools

import numpy as np
from sqlalchemy import Text, cast, func, select

from crm_app.store import schema
from crm_app.store.bulk import by_ids, partitions_of
from crm_app.store.columnar.accounts import load_accounts, refresh_accounts
from crm_app.store.columnar.relations import ident, typed_expressions, typed_names
from crm_app.store.people import email_domain

BATCH = 50_000
# Events per DuckDB transaction of a catch-up: a new copy of millions of events is built in steps, so a
# transaction never holds them all in memory.
COMMIT_ROWS = 1_000_000
PEOPLE_PER_COMMIT = 200_000


def _columns(rows: list, n: int) -> list:
    return [np.array([r[i] for r in rows], dtype=object) for i in range(n)]


def low_watermark(con, lag: int) -> int:
    """L: every event id at or below it is in the copy (see the module docstring)."""
    last = con.execute("SELECT max(stamp) FROM catch_ups").fetchall()[0][0]
    if last is None:
        return 0
    row = con.execute("SELECT max_id FROM catch_ups WHERE stamp <= ? ORDER BY stamp DESC, max_id DESC LIMIT 1",
                      [last - lag]).fetchall()
    return row[0][0] if row else 0


def ids_commit_in_order(conn) -> bool:
    """SQLite lets one writer in at a time and never gives an event id twice (revision 0005): an id becomes
    visible only after every lower one did, so nothing can commit late below the highest id seen."""
    return conn.dialect.name == "sqlite"


def catch_up_events(con, conn, now: int, lag: int) -> int:
    """Copy events the copy lacks; return how many were added.

    Only ids are re-read above the settled mark; whole rows are read for the ids the copy lacks: new ones as
    one range above the highest id seen, late commits below it by id.
    """
    e = schema.events
    seen_max = con.execute("SELECT coalesce(max(max_id), 0) FROM catch_ups").fetchall()[0][0]
    low = seen_max if ids_commit_in_order(conn) else low_watermark(con, lag)
    typed = typed_names(con)
    added = pending = 0
    con.execute("BEGIN TRANSACTION")
    try:
        late = _late_ids(con, conn, low, seen_max)
        queries = [select(*_EVENT).where(e.c.id.in_(late[i:i + 5000])) for i in range(0, len(late), 5000)]
        queries += [select(*_EVENT).where(e.c.id > seen_max).order_by(e.c.id)]
        for query in queries:
            for part in partitions_of(conn, query, BATCH):
                n = _merge_events(con, part, typed)
                added, pending = added + n, pending + n
                seen_max = max(seen_max, max(r[0] for r in part))
                if pending >= COMMIT_ROWS:
                    # A catch-up stamped `now` that stopped at seen_max: what a rerun after a crash starts from.
                    con.execute("INSERT INTO catch_ups VALUES (?, ?)", [now, seen_max])
                    con.execute("COMMIT")
                    con.execute("BEGIN TRANSACTION")
                    pending = 0
        con.execute("INSERT INTO catch_ups VALUES (?, ?)", [now, seen_max])
        # Old catch-ups go, but never the newest settled one: it keeps the next low watermark above zero, so a
        # run after a quiet spell re-reads the ids of the last `lag` seconds, not every id.
        con.execute("DELETE FROM catch_ups WHERE stamp < least(? - 10 * ?, (SELECT max(stamp) FROM catch_ups "
                    "WHERE stamp <= ? - ?))", [now, max(lag, 1), now, lag])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return added


_EVENT = (schema.events.c.id, schema.events.c.person_id, schema.events.c.type_id, schema.events.c.ts,
          cast(schema.events.c.properties, Text))


def _late_ids(con, conn, low: int, high: int) -> list:
    """Ids in (low, high] the store holds and the copy lacks: transactions that committed late."""
    if high <= low:
        return []
    e = schema.events
    # The copy only ever holds store ids, so equal counts over the range mean nothing is missing from it.
    in_store = conn.execute(select(func.count()).select_from(e).where(e.c.id > low, e.c.id <= high)).scalar()
    in_copy = con.execute("SELECT count(*) FROM events WHERE id > ? AND id <= ?", [low, high]).fetchall()[0][0]
    if in_store == in_copy:
        return []
    ids = conn.execute(select(e.c.id).where(e.c.id > low, e.c.id <= high)).scalars().all()
    if not ids:
        return []
    con.register("store_ids", {"id": np.array(ids, dtype=np.int64)})
    try:
        return [r[0] for r in con.execute("SELECT id FROM store_ids ANTI JOIN events USING (id) ORDER BY id")
                .fetchall()]
    finally:
        con.unregister("store_ids")


def _merge_events(con, rows: list, typed: list) -> int:
    ids, person, type_id, ts, props = _columns(rows, 5)
    staged = {"id": ids.astype(np.int64), "person_id": person, "type_id": type_id.astype(np.int64),
              "ts": ts.astype(np.int64), "properties": props}
    con.register("staged", staged)
    try:
        exprs = {c: x.replace("properties", "s.properties") for name in typed
                 for c, x in typed_expressions(name).items()}
        names = "".join(f", {ident(c)}" for c in exprs)
        values = "".join(f", {x}" for x in exprs.values())
        # Only the copy's ids within the batch's range are compared (row groups outside it are skipped).
        low, high = int(staged["id"].min()), int(staged["id"].max())
        return con.execute(f"INSERT INTO events (id, person_id, type_id, ts, properties{names}) "
                           f"SELECT s.id, s.person_id, s.type_id, s.ts, s.properties{values} FROM staged s "
                           f"ANTI JOIN (SELECT id FROM events WHERE id BETWEEN {low} AND {high}) e USING (id)"
                           ).fetchall()[0][0]
    finally:
        con.unregister("staged")


def refresh_people(con, conn, only=None, claimed=(), everyone: bool = False, now: int | None = None,
                   lag: int = 0) -> int:
    """Bring the copy's people, accounts and event types up to date; return how many people were read.

    only: an incremental run's people (they and their accounts are re-read). Otherwise a full run re-reads the
    claimed people (every change to a person queues them), people above the highest id copied, and the
    accounts updated since its last read at `now` (accounts.refresh_accounts; every account when now is None);
    when the counts still differ (someone was deleted or merged away), or `everyone`, it re-reads everyone.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        if only is not None:
            count = _load_people(con, conn, list(only))
            load_accounts(con, conn, _account_ids(con, list(only)))
        else:
            top = con.execute("SELECT coalesce(max(id), 0) FROM people").fetchall()[0][0]
            p = schema.people
            count = 0 if everyone else _load_people(con, conn, sorted({pid for pid in claimed if pid <= top}),
                                                    above=top)
            in_store = conn.execute(select(func.count()).select_from(p)).scalar()
            if everyone or in_store != con.execute("SELECT count(*) FROM people").fetchall()[0][0]:
                count = _load_people(con, conn, None)
            refresh_accounts(con, conn, now, lag, everything=everyone)
        types = conn.execute(select(schema.event_types.c.id, schema.event_types.c.key)).all()
        con.execute("DELETE FROM event_types")
        if types:
            con.executemany("INSERT INTO event_types VALUES (?, ?)", [tuple(t) for t in types])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return count


def _account_ids(con, people: list) -> list:
    return [r[0] for r in con.execute("SELECT DISTINCT account_id FROM people WHERE account_id IS NOT NULL "
                                      "AND id IN (SELECT unnest(?))", [people]).fetchall()]


def _load_people(con, conn, only, above: int | None = None) -> int:
    """Replace the copy's rows of these people (None: everyone), then add the store's people above `above`.

    A large load commits every PEOPLE_PER_COMMIT people: DuckDB keeps a transaction's new rows in memory, outside
    its memory limit. A crash between two commits leaves people missing from the copy: the next full run finds
    them by its count check (or as ids above the copy's highest) and reads them again."""
    p = schema.people
    query = select(p.c.id, p.c.external_id, p.c.email, p.c.account_id, cast(p.c.attributes, Text), p.c.created_at)
    if only is None:
        con.execute("DELETE FROM people")
        parts = [query]
    else:
        con.execute("DELETE FROM people WHERE id IN (SELECT unnest(?))", [only])
        ids = sorted(set(only))
        parts = (by_ids(conn, "SELECT id, external_id, email, account_id, CAST(attributes AS TEXT), created_at "
                              "FROM people WHERE id", ids[i:i + BATCH]) for i in range(0, len(ids), BATCH))
    if above is not None:
        parts = itertools.chain(parts, [query.where(p.c.id > above).order_by(p.c.id)])
    count = pending = 0
    for part_query in parts:
        for part in partitions_of(conn, part_query, BATCH):
            ids, ext, email, account, attributes, created = _columns(part, 6)
            domains = np.array([email_domain(x) for x in email], dtype=object)
            con.register("staged", {"id": ids.astype(np.int64), "external_id": ext, "email": email,
                                    "email_domain": domains, "account_id": account, "attributes": attributes,
                                    "created_at": created})
            con.execute("INSERT INTO people SELECT id, external_id, email, email_domain, account_id, attributes, "
                        "created_at FROM staged")
            con.unregister("staged")
            count, pending = count + len(part), pending + len(part)
            if pending >= PEOPLE_PER_COMMIT:
                con.execute("COMMIT")
                con.execute("BEGIN TRANSACTION")
                pending = 0
    return count


def follow_every_event(con, conn) -> None:
    """Read every event's person again (a copy built before the store logged moves between people)."""
    e = schema.events
    query = select(e.c.id, e.c.person_id).where(e.c.person_id.is_not(None))
    for part in partitions_of(conn, query, BATCH):
        _move(con, part)


def _move(con, rows: list) -> None:
    event_ids, people = _columns(rows, 2)
    con.register("moved", {"id": event_ids.astype(np.int64), "person_id": people.astype(np.int64)})
    try:
        con.execute("UPDATE events SET person_id = m.person_id FROM moved m "
                    "WHERE events.id = m.id AND events.person_id IS DISTINCT FROM m.person_id")
    finally:
        con.unregister("moved")
