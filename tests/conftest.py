"""Fixtures: app, client, runner, store — on SQLite, and on PostgreSQL where a server answers."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> str | None:
    try:
        import psycopg
        with psycopg.connect(PG_URL.replace("postgresql://", "postgresql://", 1), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "skip with the reason"
        return f"PostgreSQL not reachable at {PG_URL}: {exc}"


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL schema-isolated database URL, or a clear skip."""
    reason = _postgres_available()
    if reason:
        if os.environ.get("CI") and os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    return PG_URL


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory) -> Path:
    """A SQLite store migrated once per test worker; tests get a copy (5 ms) instead of migrating (~0.1 s)."""
    from crm_app.store import Store
    path = tmp_path_factory.mktemp("migrated") / "store.db"
    Store(f"sqlite:///{path}").dispose()
    assert not path.with_name("store.db-wal").exists(), "the template's WAL was not checkpointed into the file"
    return path


def _copied_sqlite_store(template: Path, tmp_path: Path):
    from crm_app.store import Store
    shutil.copyfile(template, tmp_path / "store.db")
    return Store(f"sqlite:///{tmp_path}/store.db")


@pytest.fixture(scope="session")
def reused_postgres(postgres_url, worker_id):
    """This worker's PostgreSQL database, migrated once and emptied after each test (tests/reused_postgres.py)."""
    from tests.reused_postgres import ReusedPostgres
    shared = ReusedPostgres(postgres_url, worker_id)
    yield shared
    shared.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """An empty, migrated store on each backend."""
    from crm_app.store import Store
    if request.param == "sqlite":
        st = _copied_sqlite_store(request.getfixturevalue("migrated_sqlite_file"), tmp_path)
        yield st
        st.dispose()
        return
    shared = request.getfixturevalue("reused_postgres")
    shared.check_clean()
    st = Store(shared.url)
    yield st
    st.dispose()
    shared.release()


@pytest.fixture
def sqlite_store(tmp_path, migrated_sqlite_file):
    st = _copied_sqlite_store(migrated_sqlite_file, tmp_path)
    yield st
    st.dispose()


@pytest.fixture
def config(tmp_path):
    from crm_app.config import Config
    return Config.from_env({}, database_url=f"sqlite:///{tmp_path}/pql.db", specs_root=str(ROOT),
                           write_key="test-write-key", readyz_token="test-readyz-token")


@pytest.fixture
def app(config):
    from crm_app import create_app
    application = create_app(config)
    application.config["TESTING"] = True
    application.config["PQL_READYZ_TTL"] = 0  # tests change state between probes
    yield application
    application.config["PQL_STORE"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def run_cli(*args: str):
    """`python -m crm_app ARGS` in-process, configured from the environment; (exit code, stdout, stderr)."""
    import contextlib
    import io

    from crm_app.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def runner(config, monkeypatch):
    """Runs `python -m crm_app` in-process with the test config; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("SPECS_ROOT", config.specs_root)
    return run_cli


@pytest.fixture(scope="session")
def default_rules():
    from crm_app.specs.loader import SpecDirs, load_spec_set
    return load_spec_set(SpecDirs.under(ROOT)).rules


@pytest.fixture(autouse=True)
def columnar_copy_in_tmp(tmp_path, monkeypatch):
    """DuckDB scoring keeps its columnar copy in the test's own folder, never in the checkout's var/."""
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "columnar.duckdb"))


# The tests' Spark runs many small queries: the quick C1 compiler alone and the serial collector cost a JVM far
# less CPU than the server compiler warming up on code that runs a few times (the results are the same).
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole run (local[1], one shuffle partition, UI off), or a clear skip
    when Java or PySpark is missing (a failure under CI, which installs both)."""
    from crm_app.services.scoring.spark.session import SparkUnavailable, spark_session
    try:
        with pytest.MonkeyPatch.context() as env:  # read once, when PySpark starts the JVM
            env.setenv("PYSPARK_SUBMIT_ARGS", f'--driver-java-options "{QUICK_JVM}" pyspark-shell')
            session = spark_session("local[1]", shuffle_partitions=1)
    except SparkUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield session
    session.stop()
