"""Product events: interned event types, deduplicated inserts by message id, metrics."""
from __future__ import annotations

from sqlalchemy import Connection, select

from crm_app.store import schema
from crm_app.store.dialect import chunks, upsert
from crm_app.store.people import mark_dirty


def event_type_ids(conn: Connection, names: list[str]) -> dict:
    """Lower-cased event name -> type id, creating types seen for the first time."""
    wanted = {n.strip().lower(): n.strip() for n in names}
    t = schema.event_types
    found = {r.key: r.id for r in conn.execute(select(t.c.key, t.c.id).where(t.c.key.in_(list(wanted))))}
    missing = [{"key": k, "name": v} for k, v in wanted.items() if k not in found]
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


def insert_events(conn: Connection, rows: list[dict]) -> tuple[int, int]:
    """Store events, skipping message ids already stored or repeated; return (stored, duplicates)."""
    seen: set = set()
    fresh = []
    for row in rows:
        if row["message_id"] in seen:
            continue
        seen.add(row["message_id"])
        fresh.append(row)
    existing: set = set()
    for part in chunks(list(seen), 900):
        existing.update(conn.execute(select(schema.events.c.message_id)
                                     .where(schema.events.c.message_id.in_(part))).scalars())
    fresh = [r for r in fresh if r["message_id"] not in existing]
    # ON CONFLICT DO NOTHING still guards a race with another process ingesting the same message.
    upsert(conn, schema.events, fresh, ["message_id"])
    mark_dirty(conn, [r["person_id"] for r in fresh])
    return len(fresh), len(rows) - len(fresh)


def upsert_metrics(conn: Connection, rows: list[dict]) -> int:
    """Store rolled-up metric values (person_id, name, as_of, value); the latest as_of wins per read."""
    upsert(conn, schema.metrics, rows, ["person_id", "name", "as_of"], ["value"])
    mark_dirty(conn, [r["person_id"] for r in rows])
    return len(rows)
