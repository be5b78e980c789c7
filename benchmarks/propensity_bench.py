"""Propensity scoring throughput: people per second per lifecycle model in the scoring loop, at N people.

    python benchmarks/propensity_bench.py --people 1000000 --events 5000000

Each model (logistic regression, gradient boosting) is trained on a small store generated the same way
(--train-people), its version is stored in the large store (train on one store, score another) and scores
everyone there in a full run. Two references are measured in the same run: the shipped PQL rule model
(`conversion`) alone over the same people, and predict_proba alone over an in-memory matrix of the same shape.
The large store is score_bench.py's (var/bench/score-N-E-SEED.db), generated once and reused. On a busy
machine `--score N` scores only the first N people of the large store in each run (queued as changed, the
`score --changed` path): the store keeps its full size, the run its length.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from record import Recorder, add_flag  # noqa: E402
from score_bench import AS_OF, cpu_seconds, generate, rss_mb  # noqa: E402

from crm_app.errors import ErrorCollector  # noqa: E402
from crm_app.models import artifact  # noqa: E402
from crm_app.services.lifecycle.training import train  # noqa: E402
from crm_app.services.scoring.run import score  # noqa: E402
from crm_app.specs.lifecycle import parse_lifecycle  # noqa: E402
from crm_app.specs.loader import SpecDirs, load_spec_set  # noqa: E402
from crm_app.specs.yamlsource import parse_yaml  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store import lifecycle as lifecycle_store  # noqa: E402
from crm_app.store import people as people_store  # noqa: E402

MODEL = """
model: upgrade_{algorithm}
stage: conversion
goal: {{event: Upgrade Started, count: {{at_least: 1}}}}
algorithm: {algorithm}
"""


def spec_for(algorithm: str):
    errors = ErrorCollector()
    text = textwrap.dedent(MODEL.format(algorithm=algorithm))
    spec = parse_lifecycle(parse_yaml(text, "bench.yaml", errors), "bench.yaml", errors, {})
    if errors:
        raise SystemExit("\n".join(str(e) for e in errors.sorted()))
    return spec


def bench_store(people: int, events: int, seed: int) -> Store:
    path = ROOT / "var" / "bench" / f"score-{people}-{events}-{seed}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    store = Store(f"sqlite:///{path}")
    if fresh:
        print(f"Generating {people:,} people and {events:,} events into {path} ...", flush=True)
        generate(store, people, events, seed)
        with store.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return store


def copy_live_version(source: Store, target: Store, name: str) -> None:
    """The trained version of `source`, stored and made live in `target`."""
    with source.read() as conn:
        row = lifecycle_store.live_model(conn, name)
    row = {k: v for k, v in row.items() if k not in ("id", "live")}
    with target.begin() as conn:
        conn.execute(lifecycle_store.lifecycle_models.delete().where(lifecycle_store.lifecycle_models.c.name == name))
        lifecycle_store.save_model(conn, row)
        lifecycle_store.set_live(conn, name, row["version"])


def timed_run(store: Store, rules, lifecycle, workers: int, only: int | None) -> tuple[float, float, object]:
    with store.begin() as conn:  # from no results, so every result is written
        conn.exec_driver_sql("DELETE FROM results")
        conn.exec_driver_sql("DELETE FROM score_history")
        conn.exec_driver_sql("DELETE FROM dirty_people")
        if only:
            people_store.mark_dirty(conn, list(range(1, only + 1)))
    started, cpu = time.time(), cpu_seconds()
    summary = score(store, rules, AS_OF, mode="changed" if only else "full", workers=workers, lifecycle=lifecycle)
    return time.time() - started, cpu_seconds() - cpu, summary


def predict_only(store: Store, name: str, rows: int) -> float:
    """Rows per second of the stored model's predictions alone, over a matrix shaped like its columns."""
    with store.read() as conn:
        fitted = artifact.load(lifecycle_store.live_model(conn, name)["artifact"])
    rng = np.random.default_rng(0)
    matrix = rng.poisson(2.0, (20_000, len(fitted.columns))).astype(float)
    started = time.time()
    for _ in range(max(1, rows // 20_000)):
        fitted.predict(matrix)
    return max(1, rows // 20_000) * 20_000 / (time.time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--train-people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="scoring processes (default 1: per-process figures)")
    parser.add_argument("--score", type=int, help="score only the first N people of the store in each run")
    add_flag(parser)
    args = parser.parse_args()
    rec = Recorder("propensity_bench", args.record)
    print(f"load average at start: {os.getloadavg()}")
    small = bench_store(args.train_people, args.train_people * args.events // args.people, args.seed + 1)
    big = bench_store(args.people, args.events, args.seed)
    specs = [spec_for("logistic"), spec_for("gradient_boosting")]
    for spec in specs:
        started = time.time()
        report = train(small, spec, AS_OF)
        print(f"trained {spec.name} on {args.train_people:,} people in {time.time() - started:.1f}s: "
              f"{report['positives']:,} positives, ROC AUC {report['metrics']['roc_auc']:.3f}, "
              f"{report['features']} indicators", flush=True)
        copy_live_version(small, big, spec.name)
    rules = load_spec_set(SpecDirs.under(ROOT)).rules
    conversion = dataclasses.replace(rules, models=tuple(m for m in rules.models if m.name == "conversion"))
    nothing = dataclasses.replace(rules, models=())
    runs = [("rule model conversion (reference)", conversion, ())] + \
           [(f"propensity {s.name}", nothing, (s,)) for s in specs]
    for label, ruleset, lifecycle in runs:
        wall, cpu, summary = timed_run(big, ruleset, lifecycle, args.workers, args.score)
        scored = sum(m.scored for m in summary.models.values())
        rec.add(f"{label}, people per CPU-second", summary.people / max(cpu, 1e-9))
        print(f"{label:42s} {scored:>9,} scored of {summary.people:,} people ({args.people:,} in the store) in "
              f"{wall:7.1f}s = "
              f"{summary.people / wall:>8,.0f} people/s ({summary.people / max(cpu, 1e-9):,.0f} per CPU-second); "
              f"CPU {cpu:,.0f}s; peak RSS {rss_mb():,.0f} MB; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for spec in specs:
        rows = rec.add(f"predict_proba alone, {spec.name}, rows/s", predict_only(big, spec.name, 200_000))
        print(f"predict_proba alone, {spec.name:28s} {rows:>9,.0f} rows/s "
              f"(reference: the model without features, reasons or writes)")
    print(f"load average at end: {os.getloadavg()}")
    rec.write()


if __name__ == "__main__":
    main()
