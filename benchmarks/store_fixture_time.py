"""What the test suite's `store` fixture costs per test, beside the way it was built before (same run, alternating,
so load hits both).

    TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/store_fixture_time.py

PostgreSQL: reference = create a database, migrate it, drop it; now = check the shared database is clean, open
it, close out and empty it (tests/reused_postgres.py). SQLite: reference = migrate a new file; now = copy a
migrated file and open it. Prints the median seconds per test of each and the load average before and after.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from crm_app.store import Store  # noqa: E402
from tests.reused_postgres import ReusedPostgres  # noqa: E402


def new_postgres(base: str) -> None:
    server = base.rsplit("/", 1)[0]
    name = f"pql_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    Store(f"{server}/{name}").dispose()
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reused_postgres(shared: ReusedPostgres) -> None:
    shared.check_clean()
    Store(shared.url).dispose()
    shared.release()


def new_sqlite(tmp: Path) -> None:
    path = tmp / f"{uuid.uuid4().hex}.db"
    Store(f"sqlite:///{path}").dispose()


def copied_sqlite(tmp: Path, template: Path) -> None:
    path = tmp / f"{uuid.uuid4().hex}.db"
    shutil.copyfile(template, path)
    Store(f"sqlite:///{path}").dispose()


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    base = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    print("load average before:", os.getloadavg())
    shared = ReusedPostgres(base, "bench")
    times: dict[str, list[float]] = {k: [] for k in ("pg new", "pg reused", "sqlite new", "sqlite copied")}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        template = tmp / "template.db"
        Store(f"sqlite:///{template}").dispose()
        try:
            for _ in range(args.runs):
                times["pg new"].append(timed(new_postgres, base))
                times["pg reused"].append(timed(reused_postgres, shared))
                times["sqlite new"].append(timed(new_sqlite, tmp))
                times["sqlite copied"].append(timed(copied_sqlite, tmp, template))
        finally:
            shared.drop()
    for label, values in times.items():
        print(f"{label:14} median {statistics.median(values):.3f} s  min {min(values):.3f}  max {max(values):.3f}"
              f"  ({len(values)} runs)")
    print("load average after:", os.getloadavg())


if __name__ == "__main__":
    main()
