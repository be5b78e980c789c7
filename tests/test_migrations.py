"""Migrations on Alembic: the revisions build the declared schema; legacy stores at any step converge to it; two
processes starting at once migrate once. On SQLite and PostgreSQL."""
from __future__ import annotations

import importlib
import multiprocessing
import pkgutil
import re
import uuid
import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Index, MetaData, inspect, insert, select, text

import crm_app.store
from crm_app.errors import StoreSchemaError
from crm_app.store import schema
from crm_app.store.db import make_engine, migrate_locked, open_engine
from crm_app.store.migrations import BASELINE, alembic_config, current_version, legacy, migrate

BOOKKEEPING = {"alembic_version", "schema_migrations"}
SCRIPT = ScriptDirectory.from_config(alembic_config())
HEAD = SCRIPT.get_current_head()
AFTER_BASELINE = [s.revision for s in SCRIPT.iterate_revisions(HEAD, BASELINE)][::-1]
SCRIPT_REVISIONS = [s.revision for s in SCRIPT.iterate_revisions(HEAD, None)][::-1]


def _all_store_modules() -> None:
    """Import every store module, so every table is defined on the metadata."""
    for info in pkgutil.walk_packages(crm_app.store.__path__, "crm_app.store."):
        if ".migrations" not in info.name:
            importlib.import_module(info.name)


def _events_cover(dialect: str) -> Index:
    e = schema.events.c
    if dialect == "postgresql":
        return Index("ix_events_person_cover", e.person_id, e.ts, e.type_id, postgresql_include=["properties"])
    return Index("ix_events_person_cover", e.person_id, e.ts, e.type_id, e.properties)


def declared_metadata() -> MetaData:
    """Every table the app declares, on a metadata of its own (the shared one stays as it is)."""
    from crm_app.store.ops import job_requests
    _all_store_modules()
    target = MetaData()
    for table in [*schema.metadata.sorted_tables, job_requests]:
        if table.name not in BOOKKEEPING:
            table.to_metadata(target)
    return target


def build_declared(conn) -> None:
    """A store built straight from the declarations (tables, and the per-dialect indexes the query modules define):
    the reference every migrated store must equal."""
    from crm_app.store.dashboard import indexes, search
    from crm_app.store.sync import email_match
    declared_metadata().create_all(conn)
    cover = _events_cover(conn.dialect.name)
    schema.events.indexes.discard(cover)  # declared here only: keep it out of the shared metadata
    cover.create(conn)
    indexes.create_dashboard_indexes(conn)
    indexes.create_owner_index(conn)
    indexes.create_person_actions_index(conn)
    email_match.create_index(conn)
    search.create_search_indexes(conn)


def _index_sql(conn) -> dict:
    """Each index's definition as the database keeps it (expression indexes included), whitespace folded."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    else:
        rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"))
    return {name: re.sub(r"\s+", " ", sql).replace("( ", "(").replace(" )", ")").strip() for name, sql in rows
            if not name.startswith(("alembic_version", "schema_migrations"))}


def dump(conn) -> dict:
    """Tables, columns (type, nullability, default), keys, unique constraints and indexes, normalised."""
    insp = inspect(conn)
    out = {}
    for table in sorted(set(insp.get_table_names()) - BOOKKEEPING):
        columns = {c["name"]: (str(c["type"]), c["nullable"], c.get("default")) for c in insp.get_columns(table)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLite cannot reflect expression indexes: _index_sql has them
            uniques = sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table))
            indexes = sorted((i["name"], tuple(map(str, i["column_names"])), i["unique"],
                              str(i.get("dialect_options", {}))) for i in insp.get_indexes(table))
        out[table] = {"columns": columns, "pk": insp.get_pk_constraint(table)["constrained_columns"],
                      "uniques": uniques, "indexes": indexes}
    out["index definitions"] = _index_sql(conn)
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request, tmp_path):
    """A factory of URLs of empty databases on one backend (dropped at the end)."""
    made = []

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path}/{uuid.uuid4().hex[:8]}.db"
        import psycopg
        base = request.getfixturevalue("postgres_url")
        name = f"pql_mig_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return base.rsplit("/", 1)[0] + f"/{name}"
    yield make
    if made:
        import psycopg
        base = request.getfixturevalue("postgres_url")
        with psycopg.connect(base.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schema_of(url: str) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return dump(conn)
    finally:
        engine.dispose()


def fresh(url: str) -> dict:
    open_engine(url).dispose()
    return schema_of(url)


def test_a_fresh_store_is_built_by_the_revisions_and_equals_the_declared_schema(new_url):
    url, reference = new_url(), new_url()
    built = fresh(url)
    engine = make_engine(reference)
    with engine.begin() as conn:
        build_declared(conn)
    engine.dispose()
    assert built == schema_of(reference)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert current_version(conn) == HEAD
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # expression indexes: compared through the index definitions above
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            diffs = compare_metadata(context, declared_metadata())
    engine.dispose()
    unexpected = [d for d in diffs if not (d[0] == "remove_index" and d[1].name in DIALECT_INDEX_NAMES)]
    assert unexpected == []


DIALECT_INDEX_NAMES = {"ix_results_model_combined", "ix_results_model_band_combined", "ix_results_model_pql_combined",
                       "ix_results_model_fit", "ix_results_model_behaviour", "ix_results_model_pql_since",
                       "ix_events_person_cover", "ix_pb_ledger_subject", "ix_people_owner", "ix_people_search_name",
                       "ix_people_search_first_name", "ix_people_search_last_name", "ix_accounts_search_name",
                       "ix_people_email_canonical"}


@pytest.mark.parametrize("upto", [legacy.LAST, 91, 41, 1])
def test_a_legacy_store_runs_its_missing_steps_and_converges_on_the_fresh_schema(new_url, upto):
    url = new_url()
    engine = make_engine(url)
    with engine.begin() as conn:
        legacy.apply_missing(conn, upto)
        if upto < 42:  # stores from before step 42 have no results.segment
            conn.execute(text("ALTER TABLE results DROP COLUMN segment"))
        conn.execute(insert(schema.people).values(external_id="u1", attributes={"plan": "pro"}))
    assert migrate_locked(engine) == AFTER_BASELINE  # stamped with the baseline, then upgraded
    with engine.connect() as conn:
        assert conn.execute(select(schema.people.c.external_id, schema.people.c.attributes)).all() == \
            [("u1", {"plan": "pro"})]
        steps = conn.execute(select(legacy.schema_migrations.c.version)).scalars().all()
        assert sorted(steps) == [v for v, _, _ in legacy.STEPS]
        assert current_version(conn) == HEAD
    engine.dispose()
    assert schema_of(url) == fresh(new_url())


def test_migrating_again_applies_nothing(new_url):
    url = new_url()
    engine = open_engine(url)
    assert migrate_locked(engine) == []
    with engine.begin() as conn:
        assert migrate(conn) == []
    engine.dispose()


def test_a_store_of_a_newer_release_is_refused_with_a_clear_error(new_url):
    engine = open_engine(new_url())
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(StoreSchemaError, match="revision f00d, which this release does not know"):
        migrate_locked(engine)
    engine.dispose()


def test_the_command_line_prints_the_newer_release_error_in_one_line(runner, config):
    engine = open_engine(config.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    code, out, err = runner("status")
    assert code == 2
    assert err.strip().splitlines() == ["error: the store is at schema revision f00d, which this release does not know "
                                        "(a newer release migrated it): run that release, or restore a backup taken "
                                        "before it"]


def _start(url: str, barrier, out) -> None:
    import traceback
    barrier.wait()
    try:
        engine = make_engine(url)
        out.put(migrate_locked(engine))
        engine.dispose()
    except Exception:  # noqa: BLE001 - the parent's assertion shows it
        out.put(traceback.format_exc())


def test_two_processes_starting_at_once_migrate_once(new_url):
    url = new_url()
    spawn = multiprocessing.get_context("spawn")
    barrier, out = spawn.Barrier(2), spawn.Queue()
    workers = [spawn.Process(target=_start, args=(url, barrier, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    results = [out.get(timeout=5), out.get(timeout=5)]
    assert sorted(results, key=str) == sorted([[], SCRIPT_REVISIONS], key=str), results
    assert [w.exitcode for w in workers] == [0, 0]
    assert schema_of(url) == fresh(new_url())


NEXT_REVISION = '''
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("meta", sa.Column("note", sa.Text(), nullable=True))
    {then}


def downgrade() -> None:
    op.drop_column("meta", "note")
'''


def add_revision(tmp_path, monkeypatch, then: str = "") -> str:
    """The shipped revisions plus one more after the head (adds meta.note, then runs `then`), as a developer
    would add it."""
    import shutil

    from crm_app.store import migrations
    scripts = tmp_path / "scripts"
    shutil.copytree(migrations.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (scripts / "versions" / "9999_meta_note.py").write_text(NEXT_REVISION.format(rev="9999", down=HEAD, then=then))
    monkeypatch.setattr(migrations, "SCRIPTS", scripts)
    return "9999"


@pytest.fixture
def next_revision(tmp_path, monkeypatch):
    return add_revision(tmp_path, monkeypatch)


def test_a_new_revision_upgrades_fresh_and_legacy_stores_and_its_downgrade_undoes_it(new_url, next_revision):
    from alembic import command
    fresh_engine, legacy_engine = make_engine(new_url()), make_engine(new_url())
    assert migrate_locked(fresh_engine) == [*SCRIPT_REVISIONS, next_revision]
    with legacy_engine.begin() as conn:
        legacy.apply_missing(conn, 91)
        conn.execute(insert(schema.meta).values(key="k", value="v"))
    assert migrate_locked(legacy_engine) == [*AFTER_BASELINE, next_revision]
    for engine in (fresh_engine, legacy_engine):
        with engine.connect() as conn:
            assert "note" in {c["name"] for c in inspect(conn).get_columns("meta")}
            assert current_version(conn) == next_revision
    with legacy_engine.connect() as conn:
        assert conn.execute(select(schema.meta.c.key, schema.meta.c.value)).all() == [("k", "v")]
    with legacy_engine.begin() as conn:
        command.downgrade(alembic_config(conn), "-1")
    with legacy_engine.connect() as conn:
        assert "note" not in {c["name"] for c in inspect(conn).get_columns("meta")}
        assert current_version(conn) == HEAD
    fresh_engine.dispose()
    legacy_engine.dispose()


def test_a_revision_that_fails_leaves_the_store_as_it_was(new_url, tmp_path, monkeypatch):
    engine = open_engine(new_url())
    add_revision(tmp_path, monkeypatch, then='op.execute("SELECT no_such_function()")')
    with pytest.raises(Exception, match="no_such_function"):
        migrate_locked(engine)
    with engine.connect() as conn:
        assert "note" not in {c["name"] for c in inspect(conn).get_columns("meta")}
        assert current_version(conn) == HEAD
    engine.dispose()


def test_a_new_sqlite_file_switches_to_wal_once_another_process_write_ends(tmp_path):
    """Switching to WAL needs the file's exclusive lock, and SQLite refuses it at once (no busy wait) while
    another connection holds a write lock: the connect waits for that write instead of failing."""
    import sqlite3
    import threading
    import time

    from crm_app.store.db import make_engine
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, lambda: holder.execute("COMMIT")).start()
    started = time.monotonic()
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert time.monotonic() - started >= 0.4  # it waited for the other write, then switched
    engine.dispose()
    holder.close()
