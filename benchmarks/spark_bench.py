"""Spark benchmark: the conversion model's full run on Spark beside DuckDB in the same run, results compared.

    python benchmarks/spark_bench.py --people 100000 --events 2000000 --master local[1]

Reuses (or generates) the score_bench store under var/bench/. Times, each with the load average:
- DuckDB full run (results deleted first, every result rendered and written): the reference;
- Spark full run the same way, every stored result compared with DuckDB's;
- Spark unchanged rerun (only changed results come back: none);
- the plan alone in Spark (the one query over the exported relations, counted) and in DuckDB (run first),
and prints per-core throughput and the extrapolation to 10M/500M and 100M/5B. Not part of the test run.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from record import Recorder, add_flag  # noqa: E402
from score_bench import AS_OF, generate  # noqa: E402

from crm_app.services.scoring.duck_engine import open_caught_up  # noqa: E402
from crm_app.services.scoring.run import score  # noqa: E402
from crm_app.services.scoring.setwise import plan_over  # noqa: E402
from crm_app.services.scoring.spark.relations import needs, plan_in_spark, register  # noqa: E402
from crm_app.services.scoring.spark.session import spark_session  # noqa: E402
from crm_app.specs.loader import SpecDirs, load_spec_set  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store.columnar.exchange import export_relations  # noqa: E402
from crm_app.store.columnar.mirror import forget_epoch  # noqa: E402
from crm_app.store.columnar.relations import ensure_typed_properties  # noqa: E402


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def fresh(store) -> None:
    with store.begin() as conn:
        conn.exec_driver_sql("DELETE FROM results")
        conn.exec_driver_sql("DELETE FROM score_history")
        forget_epoch(conn)


def stored(store) -> tuple:
    """(results, a hash of every stored result's model, subject, score, band and reasons): compared without
    holding a million results in memory."""
    digest, n = hashlib.sha256(), 0
    with store.read() as conn:
        for row in conn.exec_driver_sql("SELECT model, subject_id, combined, band, reasons FROM results "
                                        "ORDER BY model, subject_id"):
            # reasons compared as values: engines may escape non-ASCII text differently in the JSON column
            digest.update(repr((*row[:4], json.loads(row[4]) if isinstance(row[4], str) else row[4])).encode())
            n += 1
    return n, digest.hexdigest()


def timed(label: str, fn, people: int, rec: Recorder):
    started = time.time()
    out = fn()
    took = time.time() - started
    rec.add(f"{label}, people/s", people / took)
    print(f"{label + ':':<34}{took:7.1f}s = {people / took:>9,.0f} people/s; {load()}", flush=True)
    return out, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--master", default="local[1]")
    parser.add_argument("--models", default="conversion")
    parser.add_argument("--plan-only", action="store_true", help="skip the full runs; time the plan alone")
    add_flag(parser)
    args = parser.parse_args()
    rec = Recorder("spark_bench", args.record)
    path = ROOT / "var" / "bench" / f"score-{args.people}-{args.events}-1.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{path}")
    if not path.exists() or path.stat().st_size < 100_000:
        print(f"Generating {args.people:,} people and {args.events:,} events into {path} ...", flush=True)
        generate(store, args.people, args.events, 1)
    rules = load_spec_set(SpecDirs.under(ROOT)).rules
    wanted = args.models.split(",")
    rules = dataclasses.replace(rules, models=tuple(m for m in rules.models if m.name in wanted))
    cores = int(args.master[len("local["):-1]) if args.master.startswith("local[") else os.cpu_count()
    os.environ["DUCKDB_THREADS"] = str(cores)
    print(f"{args.people:,} people, {args.events:,} events; models {args.models}; Spark {args.master}, DuckDB "
          f"{cores} thread(s); {load()}", flush=True)
    spark = spark_session(args.master, shuffle_partitions=max(2, 2 * cores))
    plan_alone(spark, store, rules, args, cores, rec)  # first: the quick figures, whatever the full runs take
    if not args.plan_only:
        full_runs(store, rules, args.people, rec)
    spark.stop()
    store.dispose()
    rec.write()


def full_runs(store, rules, people: int, rec: Recorder) -> None:
    fresh(store)
    timed("DuckDB full run (reference)", lambda: score(store, rules, AS_OF, engine="duckdb", workers=1), people, rec)
    reference = stored(store)
    fresh(store)
    timed("Spark full run", lambda: score(store, rules, AS_OF, engine="spark", workers=1), people, rec)
    same = stored(store) == reference
    rec.add("Spark's stored results equal DuckDB's (1 = yes)", int(same))
    print(f"Spark's stored results equal DuckDB's: {same} ({reference[0]:,} results)", flush=True)
    again, _ = timed("Spark unchanged rerun", lambda: score(store, rules, AS_OF, engine="spark", workers=1), people, rec)
    print(f"  results brought back by the rerun: {sum(m.rendered for m in again.models.values())}, written: "
          f"{sum(m.changed for m in again.models.values())}", flush=True)


def plan_alone(spark, store, rules, args, cores: int, rec: Recorder) -> None:
    models = list(rules.models)
    con, _ = timed("copy caught up from the store", lambda: open_caught_up(store, models), args.people, rec)
    fields, properties = needs(models)
    ensure_typed_properties(con, properties)
    plan = plan_over(con, models, AS_OF)
    # Every column is hashed, so neither optimizer can prune the scoring columns away.
    _, duck = timed("DuckDB plan alone", lambda: con.execute(f"SELECT sum(hash(t) % 1000) FROM ({plan.sql}) t")
                    .fetchall(), args.people, rec)
    with tempfile.TemporaryDirectory() as folder:
        _, export = timed("export to Parquet", lambda: register(spark, export_relations(con, folder, fields,
                                                                                       properties)), args.people, rec)
        splan = plan_in_spark(spark, models, AS_OF)
        for label in ("Spark plan alone (first)", "Spark plan alone (again)"):  # the second after JIT warm-up
            _, took = timed(label, lambda: spark.sql(
                f"SELECT sum(xxhash64(struct(*)) % 1000) FROM ({splan.sql})").collect(), args.people, rec)
    con.close()
    per_core = args.events / took / cores
    rec.add("Spark plan alone, events/s per core", per_core)
    rec.add("DuckDB plan alone, events/s per core", args.events / duck / cores)
    print(f"Spark per-core throughput: {per_core:,.0f} events/s/core ({args.people / took / cores:,.0f} "
          f"people/s/core); DuckDB {args.events / duck / cores:,.0f} events/s/core")
    for people, events in ((10_000_000, 500_000_000), (100_000_000, 5_000_000_000)):
        for n in (16, 64, 256):
            print(f"  {people:>11,} people / {events:>13,} events on {n:>3} cores: "
                  f"{events / per_core / n / 60:7.1f} min (plan alone, at the measured per-core rate)")


if __name__ == "__main__":
    main()
