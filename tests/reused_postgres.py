"""One migrated PostgreSQL database per test worker, emptied between tests instead of created and dropped.

Creating and migrating a database costs ~0.8 s; emptying one costs a few ms. The reuse must isolate tests as
well as a new database did, so between two tests it:
- waits for every connection to the database to close; one still open after a grace period (an engine not
  disposed, a subprocess still running) is terminated and the test that left it fails;
- compares the schema (columns, indexes, constraints, triggers, the Alembic revision) with the migrated one;
  a test that changed it gets the database dropped and rebuilt;
- deletes every row (triggers and foreign-key checks off) and restarts every sequence;
- before the next test, checks that every table is empty, every sequence is as new and no advisory lock is held.
Session state (advisory locks, LISTEN, prepared statements, SET) lives in connections, which are all closed.
"""
from __future__ import annotations

import time
import uuid

import psycopg
from psycopg import sql

KEPT = ("alembic_version",)  # rows the migrations write: compared through the schema fingerprint, never deleted
CLOSE_GRACE_SECONDS = 5.0

FINGERPRINT = """
SELECT md5(string_agg(line, E'\\n' ORDER BY line)) FROM (
  SELECT format('col %s.%s %s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(d.adbin, d.adrelid)) AS line
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT format('con %s %s', c.conrelid::regclass, pg_get_constraintdef(c.oid))
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'
  UNION ALL SELECT format('trg %s %s', tgrelid::regclass, tgname) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'seq ' || sequencename FROM pg_sequences WHERE schemaname = 'public'
  UNION ALL SELECT 'rev ' || version_num FROM alembic_version
) lines
"""


class LeftOpen(AssertionError):
    """A test left connections to the shared database open."""


class ReusedPostgres:
    def __init__(self, base_url: str, worker: str, grace_seconds: float = CLOSE_GRACE_SECONDS):
        server = base_url.rsplit("/", 1)[0]
        self.admin_url = server + "/postgres"
        self.name = f"pql_test_{worker}_{uuid.uuid4().hex[:8]}"
        self.url = f"{server}/{self.name}"
        self.rebuilds = 0
        self.grace_seconds = grace_seconds
        self._build()

    def _admin(self, statement: sql.Composable | str, params=None) -> list[tuple]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def _build(self) -> None:
        from crm_app.store import Store
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        Store(self.url).dispose()
        with psycopg.connect(self.url) as conn:
            self.fingerprint = conn.execute(FINGERPRINT).fetchone()[0]
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        self.tables = [t for t in tables if t not in KEPT]

    def drop(self) -> None:
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))

    def _leftovers(self, conn) -> tuple[list[str], list[str]]:
        """(tables holding rows, sequences used) in one round trip."""
        probe = sql.SQL(" UNION ALL ").join(
            [sql.SQL("SELECT 't', {name} WHERE EXISTS (SELECT 1 FROM {table})").format(
                name=sql.Literal(t), table=sql.Identifier(t)) for t in self.tables]
            + [sql.SQL("SELECT 's', sequencename::text FROM pg_sequences "
                       "WHERE schemaname = 'public' AND last_value IS NOT NULL")])
        rows = conn.execute(probe).fetchall()
        return [n for k, n in rows if k == "t"], [n for k, n in rows if k == "s"]

    def check_clean(self) -> None:
        """Fail unless the database is as the migrations left it: no rows, sequences unused, no locks."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            filled, used = self._leftovers(conn)
            locks = conn.execute("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                 "WHERE d.datname = current_database() AND l.locktype = 'advisory'").fetchone()[0]
        assert not (filled or used or locks), \
            f"reused test database not clean: rows in {filled}, sequences used {used}, advisory locks {locks}"

    def _others(self) -> list[tuple]:
        return self._admin("SELECT pid, application_name, backend_type, state, left(query, 120) "
                           "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,))

    def release(self) -> None:
        """After a test: close out its connections, then empty the database (or rebuild it if the test changed
        its schema). Raises LeftOpen after cleaning when the test left connections open."""
        deadline = time.monotonic() + self.grace_seconds
        others = self._others()
        while others and time.monotonic() < deadline:
            time.sleep(0.05)
            others = self._others()
        if others:
            self._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))
        if self._fingerprint() != self.fingerprint:
            self.drop()
            self.rebuilds += 1
            self._build()
        else:
            self._empty()
        if others:
            raise LeftOpen(f"the test left {len(others)} connection(s) to its database open "
                           f"{self.grace_seconds:.1f} s after it ended (terminated now): {others}")

    def _fingerprint(self) -> str | None:
        """The schema's fingerprint; None when the test dropped the database or the Alembic table."""
        try:
            with psycopg.connect(self.url) as conn:
                return conn.execute(FINGERPRINT).fetchone()[0]
        except psycopg.Error:
            return None

    def _empty(self) -> None:
        """Delete the rows of the tables holding any and reset the sequences used, in one transaction."""
        with psycopg.connect(self.url) as conn:
            filled, used = self._leftovers(conn)
            statements = [sql.SQL("SET LOCAL session_replication_role = replica")]  # no FK checks, no triggers
            statements += [sql.SQL("DELETE FROM {}").format(sql.Identifier(t)) for t in filled]
            statements += [sql.SQL("SELECT setval({}, 1, false)").format(sql.Literal(s)) for s in used]
            conn.execute(sql.SQL("; ").join(statements).as_string(conn))
