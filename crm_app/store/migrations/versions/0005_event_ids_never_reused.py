"""events (SQLite): ids never reused, so ids become visible in the order they were given.

SQLite gives a new row the highest rowid plus one, so deleting the newest event (a person's data deleted right
after their own request for it, say) hands its id to the next event. The DuckDB copy, which takes only ids above
the highest it has seen, would then keep the deleted event's type, time and properties under the new event's id.
With AUTOINCREMENT no id is ever given twice. SQLite lets one writer in at a time, so ids also commit in order:
a catch-up of the copy need not look back for late commits there. PostgreSQL's sequences never reuse a value
already; its catch-up keeps looking back (COLUMNAR_LAG_SECONDS).

SQLite cannot alter a primary key: the table is built again and its rows, indexes and triggers carried over,
once (82 s for 20M events on the benchmark store).

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = "id, message_id, person_id, anonymous_id, type_id, ts, properties, received_at"
TABLE = ("CREATE TABLE events_rebuilt (id INTEGER NOT NULL {key}, message_id VARCHAR(255), person_id INTEGER, "
         "anonymous_id VARCHAR(255), type_id INTEGER NOT NULL, ts BIGINT NOT NULL, properties JSON, "
         "received_at BIGINT NOT NULL, {primary}UNIQUE (message_id))")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    ddl = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").scalar()
    if ("AUTOINCREMENT" in ddl.upper()) == autoincrement:
        return
    # Indexes and triggers go with the old table: their statements are read first, and run again after.
    carried = [sql for (sql,) in bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL ORDER BY type, name")]
    key = "PRIMARY KEY AUTOINCREMENT" if autoincrement else ""
    op.execute(TABLE.format(key=key, primary="" if autoincrement else "PRIMARY KEY (id), "))
    op.execute(f"INSERT INTO events_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM events ORDER BY id")
    if autoincrement:
        # Ids of events deleted before now, above every id left, are not given again either.
        op.execute("UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(event_id), 0) FROM event_moves)) "
                   "WHERE name = 'events_rebuilt'")
        op.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'events_rebuilt', max(event_id) FROM event_moves "
                   "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events_rebuilt') "
                   "HAVING max(event_id) IS NOT NULL")
    op.execute("DROP TABLE events")
    op.execute("ALTER TABLE events_rebuilt RENAME TO events")
    for sql in carried:
        op.execute(sql)
