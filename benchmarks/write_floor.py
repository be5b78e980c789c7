"""The store's write floor: a model's stored results written into a new SQLite file with the results table alone,
beside the hand-written reference query on the same store's copy.

    python benchmarks/write_floor.py --people 1000000 --events 20000000

Reads the store score_bench.py generated and scored (var/bench/); the rows are fetched before the clock starts,
so the figure is what SQLite alone costs for them: executemany, then the results' secondary indexes built, then
the commit. The reference's check of every combined score compares it with the stored results: it agrees only
when they were scored at score_bench.py's moment (right after a run of it). Not part of the test run.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from score_bench import compare_with_reference  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store.db import SQLITE_CACHE_KIB  # noqa: E402


def write_rows(source: str, model: str) -> tuple[int, float, float, float]:
    """(rows, seconds of executemany, of the index builds, of the commit) into a new file beside the store."""
    src = sqlite3.connect(source)
    ddl = src.execute("SELECT sql FROM sqlite_master WHERE name = 'results'").fetchone()[0]
    indexes = [r[0] for r in src.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'results' "
                                         "AND type = 'index' AND sql IS NOT NULL")]
    columns = [r[1] for r in src.execute("PRAGMA table_info(results)")]
    rows = src.execute(f"SELECT {', '.join(columns)} FROM results WHERE model = ? ORDER BY subject_id",
                       [model]).fetchall()
    src.close()
    with tempfile.TemporaryDirectory(dir=Path(source).parent) as folder:
        dst = sqlite3.connect(str(Path(folder) / "floor.db"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"cache_size=-{SQLITE_CACHE_KIB}",
                       "temp_store=MEMORY"):  # the store's own (store/db.py)
            dst.execute(f"PRAGMA {pragma}")
        dst.execute(ddl)
        dst.execute("BEGIN")
        started = time.time()
        dst.executemany(f"INSERT INTO results ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
        inserted = time.time()
        for statement in indexes:
            dst.execute(statement)
        indexed = time.time()
        dst.execute("COMMIT")
        committed = time.time()
        dst.close()
    return len(rows), inserted - started, indexed - inserted, committed - indexed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default="conversion")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the reference query; the best is compared")
    args = parser.parse_args()
    path = ROOT / "var" / "bench" / f"score-{args.people}-{args.events}-{args.seed}.db"
    if not path.exists():
        sys.exit(f"{path} does not exist: run benchmarks/score_bench.py with the same sizes first")
    rows, insert, index, commit = write_rows(str(path), args.model)
    if not rows:
        sys.exit(f"{path} holds no {args.model} results: run benchmarks/score_bench.py with the same sizes first")
    floor = insert + index + commit
    print(f"{rows:,} {args.model} results: executemany {insert:.1f}s, secondary indexes built {index:.1f}s, "
          f"commit {commit:.1f}s = {floor:.1f}s; load average {os.getloadavg()[0]:.1f}")
    store = Store(f"sqlite:///{path}")
    try:
        reference = compare_with_reference(store, floor, args.repeat)
    finally:
        store.dispose()
    print(f"write floor / reference = {floor / reference:.2f}x")


if __name__ == "__main__":
    main()
