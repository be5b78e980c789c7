"""Where scoring reads product events: the store (what ingest writes), a folder of Parquet event files, or
tables in the Segment / RudderStack warehouse schema. Each becomes the plan's `ev` relation in the copy's
DuckDB, so the same rule files score from any of them (and the Spark engine receives that relation).

Warehouse schema (Segment and RudderStack load it alike): `tracks` (id, anonymous_id, user_id, event,
timestamp, ...), one table per event named after it in snake_case with the event's properties as columns,
and `identifies` (anonymous_id, user_id, timestamp) linking anonymous histories to users.
A Parquet folder holds `tracks/*.parquet` (id, anonymous_id, user_id, event, timestamp, properties as JSON
text) and optionally `identifies/*.parquet`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from crm_app.errors import ConfigError
from crm_app.store.columnar.relations import ident, literal, typed_expressions

SOURCES = ("store", "parquet", "segment_warehouse")
SETTINGS = {
    "EVENT_SOURCE": ("store", "where scoring reads events: store (what ingest writes), parquet (a folder of "
                              "event files) or segment_warehouse (Segment/RudderStack warehouse tables)"),
    "EVENT_SOURCE_PATH": ("", "parquet: the folder (holding tracks/ and identifies/); segment_warehouse: the "
                              "DuckDB database or any database DuckDB attaches"),
    "EVENT_SOURCE_SCHEMA": ("", "segment_warehouse: the schema holding tracks, identifies and the per-event "
                                "tables (empty: the database's default)"),
}
# Columns every warehouse event table has that are not event properties.
STANDARD = {"id", "anonymous_id", "user_id", "event", "event_text", "timestamp", "original_timestamp", "sent_at",
            "received_at", "uuid_ts", "loaded_at", "context_library_name", "context_library_version", "channel"}


@dataclass(frozen=True)
class EventSource:
    kind: str
    path: str = ""
    schema: str = ""


def event_source(env: dict | None = None) -> EventSource:
    """The validated EVENT_SOURCE settings (ConfigError naming the setting and the fix)."""
    env = os.environ if env is None else env
    kind = (env.get("EVENT_SOURCE") or "store").strip().lower()
    if kind not in SOURCES:
        raise ConfigError(f"EVENT_SOURCE={env.get('EVENT_SOURCE')!r} is not a source: use one of {', '.join(SOURCES)}")
    path = (env.get("EVENT_SOURCE_PATH") or "").strip()
    schema = (env.get("EVENT_SOURCE_SCHEMA") or "").strip()
    if kind != "store" and not path:
        raise ConfigError(f"EVENT_SOURCE={kind} needs EVENT_SOURCE_PATH: "
                          + ("the folder holding tracks/*.parquet" if kind == "parquet" else
                             "the warehouse database DuckDB attaches"))
    if kind == "parquet" and not os.path.isdir(os.path.join(path, "tracks")):
        raise ConfigError(f"EVENT_SOURCE_PATH={path!r} has no tracks/ folder of Parquet event files")
    if schema and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", schema):
        raise ConfigError(f"EVENT_SOURCE_SCHEMA={schema!r} is not a plain schema name (letters, digits, _)")
    return EventSource(kind, path, schema)


def table_name(event: str) -> str:
    """The per-event table the warehouse loader names after an event ("Feature Used" -> feature_used)."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", event.strip().lower())).strip("_")


def _warehouse(con, source: EventSource) -> tuple[str, str]:
    """(raw events query, identities query) over the attached warehouse."""
    con.execute("DETACH DATABASE IF EXISTS wh")
    con.execute(f"ATTACH {literal(source.path)} AS wh (READ_ONLY)")
    schema = source.schema or "main"
    prefix = f"wh.{ident(schema)}"
    tables = {r[0]: r[1] for r in con.execute(
        "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
        "WHERE database_name = 'wh' AND schema_name = ? GROUP BY table_name", [schema]).fetchall()}
    if "tracks" not in tables:
        raise ConfigError(f"the warehouse {source.path} ({schema}) has no tracks table")
    events = [r[0] for r in con.execute(f"SELECT DISTINCT event FROM {prefix}.tracks WHERE event IS NOT NULL")
              .fetchall()]
    parts = []
    for table in sorted({table_name(e) for e in events} & set(tables) - {"tracks", "identifies", "users", "pages"}):
        props = [c for c in tables[table] if c not in STANDARD and not c.startswith("context_")]
        pairs = ", ".join(f"{literal(c)}, {ident(c)}" for c in props)
        parts.append(f"SELECT id, CAST(json_object({pairs}) AS VARCHAR) AS properties FROM {prefix}.{ident(table)}")
    props = " UNION ALL ".join(parts) or "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS properties WHERE FALSE"
    raw = (f"SELECT t.user_id, t.anonymous_id, t.event, t.timestamp, coalesce(p.properties, '{{}}') AS properties, "
           f"{arrival(tables['tracks'], 't.')} AS arrival FROM {prefix}.tracks t LEFT JOIN ({props}) p ON p.id = t.id")
    ids = (f"SELECT anonymous_id, user_id, timestamp, {arrival(tables['identifies'])} AS arrival "
           f"FROM {prefix}.identifies" if "identifies" in tables else None)
    return raw, ids


# When a row reached the warehouse, best first: the loader's load time, the collector's receipt, the event's time.
ARRIVAL = ("uuid_ts", "loaded_at", "received_at", "timestamp")


def arrival(columns, table: str = "") -> str:
    """The arrival expression over a table with these columns (`table`: its alias and a dot)."""
    column = next(c for c in ARRIVAL if c in columns or c == "timestamp")
    stamp = f"{table}timestamp"
    return stamp if column == "timestamp" else f"coalesce({table}{ident(column)}, {stamp})"


def _parquet(con, source: EventSource) -> tuple[str, str | None]:
    def files(name: str) -> tuple[str, str]:
        read = f"read_parquet({literal(os.path.join(source.path, name, '*.parquet'))}, union_by_name = true)"
        return read, arrival([d[0] for d in con.execute(f"SELECT * FROM {read} LIMIT 0").description])
    tracks, at = files("tracks")
    raw = (f"SELECT user_id, anonymous_id, event, timestamp, coalesce(CAST(properties AS VARCHAR), '{{}}') "
           f"AS properties, {at} AS arrival FROM {tracks}")
    folder = os.path.join(source.path, "identifies")
    ids = None
    if os.path.isdir(folder) and any(n.endswith(".parquet") for n in os.listdir(folder)):
        identifies, at = files("identifies")
        ids = f"SELECT anonymous_id, user_id, timestamp, {at} AS arrival FROM {identifies}"
    return raw, ids


def define_events(con, source: EventSource, properties) -> int:
    """Replace the plan's `ev` with the source's events; return how many source events name no known person
    (left out: a person comes from the CRM sync or ingest, never from an event row alone)."""
    raw, ids = _warehouse(con, source) if source.kind == "segment_warehouse" else _parquet(con, source)
    ids = ids or ("SELECT NULL::VARCHAR AS anonymous_id, NULL::VARCHAR AS user_id, NULL::TIMESTAMP AS timestamp, "
                  "NULL::TIMESTAMP AS arrival WHERE FALSE")
    con.execute(f"CREATE OR REPLACE TEMP VIEW source_identifies AS SELECT anonymous_id, user_id, timestamp, "
                f"CAST(floor(epoch(arrival)) AS BIGINT) AS arrival FROM ({ids}) "
                f"WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL")
    identified = ("SELECT anonymous_id, arg_max(user_id, timestamp) AS user_id FROM source_identifies "
                  "GROUP BY anonymous_id")
    con.execute(f"CREATE OR REPLACE TEMP VIEW source_events AS SELECT coalesce(r.user_id, i.user_id) AS user_id, "
                f"lower(trim(r.event)) AS key, CAST(floor(epoch(r.timestamp)) AS BIGINT) AS ts, r.properties, "
                f"CAST(floor(epoch(r.arrival)) AS BIGINT) AS arrival "
                f"FROM ({raw}) r LEFT JOIN ({identified}) i ON i.anonymous_id = r.anonymous_id "
                f"WHERE r.event IS NOT NULL AND r.timestamp IS NOT NULL")
    _add_types(con)
    typed = "".join(f", {expr} AS {ident(col)}" for name in properties
                    for col, expr in typed_expressions(name, "s.properties").items())
    con.execute(f"CREATE OR REPLACE TEMP VIEW ev AS SELECT p.id AS person_id, t.id AS type_id, s.ts{typed} "
                f"FROM source_events s JOIN people p ON p.external_id = s.user_id "
                f"JOIN event_types t ON t.key = s.key")
    return con.execute("SELECT count(*) FROM source_events s WHERE NOT EXISTS "
                       "(SELECT 1 FROM people p WHERE p.external_id = s.user_id)").fetchall()[0][0]


def _add_types(con) -> None:
    """Event names the store never saw get ids below zero, so they never meet a store id."""
    con.execute("DELETE FROM event_types WHERE id < 0")
    con.execute("INSERT INTO event_types SELECT -row_number() OVER (ORDER BY key), key FROM "
                "(SELECT DISTINCT key FROM source_events WHERE key NOT IN (SELECT key FROM event_types))")


def newest_arrival(con) -> int | None:
    """The newest arrival stamp of the source's events and identifies (views define_events made)."""
    return con.execute("SELECT max(a) FROM (SELECT max(arrival) AS a FROM source_events UNION ALL "
                       "SELECT max(arrival) FROM source_identifies)").fetchall()[0][0]


def arrived_since(con, since: int) -> list:
    """The user ids whose events or identifies reached the source after `since`."""
    return [u[0] for u in con.execute(
        "SELECT DISTINCT user_id FROM source_events WHERE user_id IS NOT NULL AND arrival > ? UNION "
        "SELECT user_id FROM source_identifies WHERE arrival > ?", [int(since), int(since)]).fetchall()]
