"""Product events: interned event types, deduplicated inserts by message id, metrics."""
from __future__ import annotations

from sqlalchemy import Connection, select

from crm_app.store import schema
from crm_app.store.bulk import insert_new, lookup
from crm_app.store.dialect import chunks, upsert
from crm_app.store.people import mark_dirty


def event_type_ids(conn: Connection, names: list[str]) -> dict:
    """Lower-cased event name -> type id, creating types seen for the first time."""
    wanted = {n.strip().lower(): n.strip() for n in names}
    t = schema.event_types
    found = lookup(conn, "event_types", "key", "id", wanted)
    missing = [{"key": k, "name": v} for k, v in sorted(wanted.items()) if k not in found]
    if missing:
        upsert(conn, t, missing, ["key"])
        found.update({r.key: r.id for r in conn.execute(
            select(t.c.key, t.c.id).where(t.c.key.in_([m["key"] for m in missing])))})
    return found


def known_type_ids(conn: Connection, keys) -> dict:
    """Lower-cased event name -> id for the names that exist; unknown names simply match nothing."""
    t = schema.event_types
    keys = list(keys)
    if not keys:
        return {}
    return {r.key: r.id for r in conn.execute(select(t.c.key, t.c.id).where(t.c.key.in_(keys)))}


EVENT_COLUMNS = ["message_id", "person_id", "anonymous_id", "type_id", "ts", "properties", "received_at"]


def insert_events(conn: Connection, rows: list[dict]) -> tuple[int, int]:
    """Store events, skipping message ids already stored or repeated; return (stored, duplicates)."""
    seen: set = set()
    fresh = []
    for row in rows:
        if row["message_id"] in seen:
            continue
        seen.add(row["message_id"])
        fresh.append(row)
    # ON CONFLICT DO NOTHING skips ids already stored, also those another process is storing right now.
    # Arrival order is kept (event ids follow it); two processes storing the same messages in different
    # orders can deadlock on PostgreSQL, and ingest then retries the whole transaction (dialect.is_deadlock).
    stored = insert_new(conn, "events", EVENT_COLUMNS, "message_id",
                        [tuple(r.get(c) for c in EVENT_COLUMNS) for r in fresh], json_columns=("properties",))
    fresh = [r for r in fresh if r["message_id"] in stored]
    mark_dirty(conn, [r["person_id"] for r in fresh])
    return len(fresh), len(rows) - len(fresh)


def upsert_metrics(conn: Connection, rows: list[dict]) -> int:
    """Store rolled-up metric values (person_id, name, as_of, value); the latest as_of wins per read."""
    upsert(conn, schema.metrics, rows, ["person_id", "name", "as_of"], ["value"])
    mark_dirty(conn, [r["person_id"] for r in rows])
    return len(rows)


def link_aliases(conn: Connection, pairs: dict) -> int:
    """Tie anonymous ids to people and bring the anonymous history along; return events attached."""
    if not pairs:
        return 0
    attached = 0
    if conn.dialect.name == "postgresql":
        # Two statements for every alias of the batch (an SDK sends an anonymous id with each message), not an
        # upsert and an UPDATE for each; the aliases are written in key order, as the upsert below does.
        cursor = conn.connection.driver_connection.cursor()
        ordered = sorted(pairs.items())
        arrays = ([a for a, _ in ordered], [p for _, p in ordered])
        cursor.execute("INSERT INTO aliases (anonymous_id, person_id) SELECT a, p FROM unnest(%b::varchar[], "
                       "%b::bigint[]) WITH ORDINALITY AS r(a, p, n) ORDER BY n "
                       "ON CONFLICT (anonymous_id) DO UPDATE SET person_id = excluded.person_id", arrays)
        cursor.execute("UPDATE events SET person_id = a.person_id FROM unnest(%b::varchar[], %b::bigint[]) "
                       "AS a(anonymous_id, person_id) WHERE events.anonymous_id = a.anonymous_id "
                       "AND events.person_id IS NULL", arrays)
        attached = max(cursor.rowcount, 0)
    else:
        upsert(conn, schema.aliases, [{"anonymous_id": a, "person_id": p} for a, p in sorted(pairs.items())],
               ["anonymous_id"], ["person_id"])
        for anonymous_id, person_id in sorted(pairs.items()):
            result = conn.execute(schema.events.update()
                                  .where(schema.events.c.anonymous_id == anonymous_id,
                                         schema.events.c.person_id.is_(None))
                                  .values(person_id=person_id))
            attached += result.rowcount or 0
    mark_dirty(conn, list(pairs.values()))
    return attached


def alias_people(conn: Connection, anonymous_ids: list[str]) -> dict:
    """anonymous id -> person id for the ids already identified."""
    a = schema.aliases
    found = {}
    for part in chunks(sorted(set(anonymous_ids)), 900):
        found.update(dict(conn.execute(select(a.c.anonymous_id, a.c.person_id).where(a.c.anonymous_id.in_(part)))
                          .all()))
    return found


def log_ingest(conn: Connection, source: str, received_at: int, accepted: int, duplicates: int,
               rejects: list[dict]) -> int:
    """Record one ingest request and keep every rejected message with its reason."""
    # Through the driver: once per request, and SQLAlchemy's insert compiled per call cost more than the row.
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute(f"INSERT INTO ingest_log (received_at, source, accepted, duplicates, rejected) "
                   f"VALUES ({', '.join([mark] * 5)}) RETURNING id",
                   (received_at, source, accepted, duplicates, len(rejects)))
    log_id = cursor.fetchone()[0]
    if rejects:
        conn.execute(schema.ingest_rejects.insert(), [dict(r, log_id=log_id) for r in rejects])
    return log_id


def seen_event_names(conn: Connection) -> dict:
    """Every event name the store has ever received: lower-cased key -> the name as first seen."""
    t = schema.event_types
    return {r.key: r.name for r in conn.execute(select(t.c.key, t.c.name))}
