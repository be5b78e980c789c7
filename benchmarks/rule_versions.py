"""What versioned admin files cost each process, beside what the files-on-disk design cost, in the same run.

- poll: a process asking "is there a new version?" (one index lookup of the highest version number), against
  the old check (a stat of every admin file), per call;
- apply: a new version's files written to a private folder and loaded by the one validator, against loading
  the same files from the checkout with `load_spec_set` alone;
- publish: validate and store a new version, against `check` of the same files on disk.

    PYTHONPATH=. .venv/bin/python benchmarks/rule_versions.py [--postgres SERVER_URL] [--polls 2000] [--rounds 5]

With --postgres (e.g. postgresql://postgres@127.0.0.1:5432/postgres) a fresh database is made on that server
for the run and dropped after it; without it, a SQLite file in a temporary folder.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_app.services.admin import versions  # noqa: E402
from crm_app.services.admin.validate import check_admin_root  # noqa: E402
from crm_app.specs.loader import SpecDirs, load_spec_set, yaml_files  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store import rule_versions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def old_fingerprint(dirs: SpecDirs) -> str:
    """The per-poll check of the files-on-disk design: names, sizes and modification times of every file."""
    digest = hashlib.sha256()
    for directory in (dirs.rules, dirs.field_specs, dirs.playbooks, dirs.lifecycle):
        for path in yaml_files(directory):
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def per_call(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def median_of(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="a PostgreSQL server URL; a database is made there and dropped")
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pql-versions-bench-"))
    checkout = tmp / "checkout"
    for name in ("rules", "field_specs", "playbooks", "mapping"):
        shutil.copytree(ROOT / name, checkout / name)
    scratch = None
    if args.postgres:
        import psycopg
        scratch = f"pql_bench_versions_{os.getpid()}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{scratch}"')
    store = Store(args.postgres.rsplit("/", 1)[0] + f"/{scratch}" if scratch else f"sqlite:///{tmp}/store.db")
    try:
        files = versions.read_admin_files(checkout)
        number, _ = versions.active_version(store)
        published = versions.publish(store, files, "bench", "benchmark", base=number)
        assert published.version, published.errors

        def poll():
            with store.read() as conn:
                rule_versions.latest_version(conn)
        poll_new = per_call(poll, args.polls)
        poll_old = per_call(lambda: old_fingerprint(SpecDirs.under(checkout)), args.polls)

        def apply():
            folder = tmp / "applied"
            shutil.rmtree(folder, ignore_errors=True)
            versions.materialize(versions.version_files(store, published.version), folder)
            assert check_admin_root(folder).specs is not None
        apply_new = median_of(apply, args.rounds)
        apply_old = median_of(lambda: load_spec_set(SpecDirs.under(checkout)), args.rounds)

        def publish():
            current, _ = versions.active_version(store)
            changed = dict(files, **{"rules/conversion.yaml": files["rules/conversion.yaml"] + f"# {time.time()}\n".encode()})
            assert versions.publish(store, changed, "bench", "benchmark", base=current).version
        publish_new = median_of(publish, args.rounds)
        check_old = median_of(lambda: check_admin_root(checkout), args.rounds)
    finally:
        store.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if scratch:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    print(f"backend {store.backend}; {len(files)} admin files, {sum(map(len, files.values())):,} bytes; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"poll     new {poll_new * 1e6:8.0f} µs   old (stat every file) {poll_old * 1e6:8.0f} µs   "
          f"ratio {poll_new / poll_old:.2f}")
    print(f"apply    new {apply_new * 1e3:8.1f} ms   old (load from disk)  {apply_old * 1e3:8.1f} ms   "
          f"ratio {apply_new / apply_old:.2f}")
    print(f"publish  new {publish_new * 1e3:8.1f} ms   check on disk         {check_old * 1e3:8.1f} ms   "
          f"ratio {publish_new / check_old:.2f}")


if __name__ == "__main__":
    main()
