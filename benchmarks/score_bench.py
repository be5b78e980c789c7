"""Scoring benchmark: N people with M events, full score and incremental score of 1% changed people.

    python benchmarks/score_bench.py --people 1000000 --events 20000000

The store is generated once per (people, events, seed) under var/bench/ and reused; events are written in
time order, as they arrive in production, so the table is not clustered by person. Prints throughput and
peak RSS. Not part of the test run.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from crm_app.services.scoring.accounts import score_accounts  # noqa: E402
from crm_app.services.scoring.duck_engine import copy_path  # noqa: E402
from crm_app.services.scoring.run import score  # noqa: E402
from crm_app.store.columnar.mirror import forget_results  # noqa: E402
from conversion_reference import reference_sql  # noqa: E402
from record import Recorder, add_flag  # noqa: E402
from crm_app.specs.loader import SpecDirs, load_spec_set  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store import people as people_store  # noqa: E402
from crm_app.store.bulk import as_json, bulk_insert  # noqa: E402
from crm_app.store.db import streaming_cache  # noqa: E402
from crm_app.store.events import event_type_ids  # noqa: E402

DAY = 86400
AS_OF = 1_790_000_000
EVENTS = [  # (name, weight, properties maker)
    ("Logged In", 30, None), ("Session Ended", 20, "session"), ("Feature Used", 15, "feature"),
    ("Report Created", 8, None), ("Dashboard Created", 4, None), ("Page Viewed", 8, "page"),
    ("Invite Sent", 2, None), ("Integration Connected", 1, None), ("Onboarding Completed", 2, None),
    ("Premium Feature Used", 2, None), ("Data Exported", 2, None), ("Alert Created", 2, None),
    ("Support Contacted", 1, "support"), ("Upgrade Started", 0.5, None), ("Email Unsubscribed", 0.3, None),
    ("Account Data Deleted", 0.2, None),
]
INDUSTRIES = ["Software", "Financial Services", "Education", "Government", "E-commerce", "Manufacturing"]
TITLES = ["VP Engineering", "Data Analyst", "Director of Ops", "Student", "Engineer", "CTO", "Consultant"]


def rss_mb() -> float:
    """Peak resident memory of this process and, separately, of the largest worker process."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU used by this process and its finished worker processes: comparable on a busy machine."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def generate(store: Store, people: int, events: int, seed: int) -> None:
    """Accounts, people and events written with bulk inserts, events in time order."""
    rng = np.random.default_rng(seed)
    accounts = max(1, people // 10)
    started = time.time()
    with store.begin() as conn:
        bulk_insert(conn, "accounts", ["id", "external_id", "name", "domain", "attributes", "updated_at"], (
            (i + 1, f"w{i + 1}", f"Co{i + 1}", f"co{i + 1}.com",
             as_json({"industry": INDUSTRIES[i % 6], "employees": int(rng.integers(1, 8000)),
                      "tools": ["Slack"] if i % 3 == 0 else []}), AS_OF) for i in range(accounts)))
        domains = ["gmail.com", "state.edu", "rivalmetrics.com"] + [f"co{i}.com" for i in range(1, 50)]
        bulk_insert(conn, "people", ["id", "external_id", "email", "account_id", "attributes", "created_at",
                                     "updated_at"], (
            (i + 1, f"u{i + 1}", f"p{i + 1}@{domains[i % len(domains)]}", (i % accounts) + 1,
             as_json({"title": TITLES[i % len(TITLES)], "region": "Europe" if i % 4 else "LATAM",
                      "job_function": "Engineering" if i % 2 else "Sales", "plan": "trial"}),
             AS_OF - 120 * DAY, AS_OF) for i in range(people)))
        types = event_type_ids(conn, [e[0] for e in EVENTS])
    weights = np.array([e[1] for e in EVENTS], dtype=float)
    weights /= weights.sum()
    # Skewed activity: a few people do most things, as in real products.
    activity = rng.pareto(1.5, people) + 0.1
    activity /= activity.sum()
    chunk = 2_000_000
    written = 0
    next_id = 1
    span_start, span = AS_OF - 90 * DAY, 90 * DAY
    while written < events:
        n = min(chunk, events - written)
        lo = span_start + span * written // events
        hi = span_start + span * (written + n) // events
        ts = np.sort(rng.integers(lo, max(lo + 1, hi), n))
        person = rng.choice(people, n, p=activity) + 1
        kind = rng.choice(len(EVENTS), n, p=weights)
        aux = rng.integers(0, 1000, n)
        rows = []
        for i in range(n):
            name, _, props = EVENTS[kind[i]]
            if props == "session":
                p = '{"duration_seconds":%d}' % aux[i]
            elif props == "feature":
                p = '{"feature":"f%d"}' % (aux[i] % 8)
            elif props == "page":
                p = '{"path":"%s"}' % ("/pricing" if aux[i] % 4 == 0 else "/docs")
            elif props == "support":
                p = '{"topic":"%s"}' % ("billing" if aux[i] % 2 else "bug")
            else:
                p = "{}"
            rows.append((next_id + i, int(person[i]), types[name.lower()], int(ts[i]), p, AS_OF))
        with store.begin() as conn:
            bulk_insert(conn, "events", ["id", "person_id", "type_id", "ts", "properties", "received_at"], rows)
        next_id += n
        written += n
        print(f"  generated {written:,} / {events:,} events ({time.time() - started:.0f}s)", flush=True)


def generate_apart(url: str, people: int, events: int, seed: int) -> None:
    """generate() in a process of its own: its memory is not counted in the scoring runs' peak RSS."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(_generate_in, (url, people, events, seed))


def _generate_in(url: str, people: int, events: int, seed: int) -> None:
    store = Store(url)
    try:
        generate(store, people, events, seed)
    finally:
        store.dispose()


def report_accounts(store: Store, rules, summary) -> None:
    """Account rollups (PQA) and segments: their share of the full run, then the rollup alone, rerun."""
    accounts = summary.accounts
    if accounts is None or not accounts.bands:
        return
    with store.read() as conn:
        people = conn.exec_driver_sql("SELECT count(*) FROM people WHERE account_id IS NOT NULL").scalar()
    print(f"account models:    {accounts.accounts:>9,} accounts of {people:,} people in {accounts.seconds:6.1f}s "
          f"(set-wise rollups {accounts.rollup_seconds:.1f}s), {sum(accounts.changed.values()):,} results written")
    for model, tally in summary.segments.items():
        print(f"segments {model}: " + ", ".join(f"{seg} {now:,}" for seg, (_, _, now) in tally.items()))
    started = time.time()
    again = score_accounts(store, rules, AS_OF)
    print(f"account rerun:     {again.accounts:>9,} accounts in {time.time() - started:6.1f}s "
          f"(rollups {again.rollup_seconds:.1f}s, {sum(again.changed.values())} changed); peak RSS {rss_mb():,.0f} MB")


def synthetic_results(store: Store, people: int, seed: int) -> None:
    """Stored conversion results for every person, bulk-written, so account rollups can be timed alone."""
    rng = np.random.default_rng(seed)
    combined = rng.integers(0, 101, people)
    last = AS_OF - rng.integers(0, 60 * DAY, people)
    with store.begin() as conn:
        conn.exec_driver_sql("DELETE FROM results")
        bulk_insert(conn, "results", ["model", "subject_id", "as_of", "combined", "band", "pql", "last_activity"], (
            ("conversion", i + 1, AS_OF, int(combined[i]), "low", bool(combined[i] >= 75), int(last[i]))
            for i in range(people)))


def accounts_only(store: Store, rules, people: int, seed: int) -> None:
    """Time the account models alone over synthetic person results (no person scoring)."""
    started = time.time()
    synthetic_results(store, people, seed)
    print(f"synthetic person results: {people:,} in {time.time() - started:.1f}s")
    for label in ("account models (first run)", "account models (unchanged rerun)"):
        started = time.time()
        summary = score_accounts(store, rules, AS_OF)
        print(f"{label}: {summary.accounts:,} accounts of {people:,} people in {time.time() - started:.1f}s "
              f"(set-wise rollups {summary.rollup_seconds:.1f}s), {sum(summary.changed.values()):,} written; "
              f"peak RSS {rss_mb():,.0f} MB")


def compare_with_reference(store: Store, ours: float, repeat: int) -> float:
    """The hand-written query on the same copy, timed in this run (the best of `repeat` runs); every person's
    combined score compared. It runs in a process of its own, with DuckDB's default memory (no limit of ours):
    its memory is not counted in this process's peak."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        times, cpu, people, same, peak = pool.apply(_reference_run, (store.url, repeat))
    seconds = min(times)
    print(f"{'reference query:':<24}{people:>9,} people in {seconds:6.1f}s (best of "
          f"{', '.join(f'{t:.1f}' for t in times)}); CPU {cpu:,.0f}s; ours / reference = {ours / seconds:.2f}x; "
          f"its own process's peak RSS {peak:,.0f} MB; load average now {os.getloadavg()[0]:.1f}")
    print(f"{'same combined score:':<24}{same:>9,} of {people:,} people")
    return seconds


def _reference_run(url: str, repeat: int) -> tuple:
    """(seconds of each run, CPU-seconds of the best, people, people with the same combined score, peak RSS MB)
    of the reference."""
    import duckdb
    store = Store(url)
    con = duckdb.connect(copy_path(store.url))
    con.execute("SET enable_progress_bar = false")
    type_ids = dict(con.execute("SELECT key, id FROM event_types").fetchall())
    times, cpus = [], []
    for _ in range(repeat):
        started, cpu = time.time(), cpu_seconds()
        con.execute(f"CREATE OR REPLACE TEMP TABLE reference AS {reference_sql(type_ids, AS_OF)}")
        times.append(time.time() - started)
        cpus.append(cpu_seconds() - cpu)
    seconds, cpu = times, cpus[times.index(min(times))]
    with store.read() as conn:
        ours_rows = conn.exec_driver_sql("SELECT subject_id, combined FROM results WHERE model = 'conversion'").all()
    con.register("ours", {"person_id": np.array([r[0] for r in ours_rows], dtype=np.int64),
                          "combined": np.array([r[1] for r in ours_rows], dtype=np.int64)})
    same, total = con.execute("SELECT count(*) FILTER (WHERE o.combined = r.combined), count(*) FROM reference r "
                              "LEFT JOIN ours o USING (person_id)").fetchall()[0]
    con.close()
    store.dispose()
    return seconds, cpu, total, same, rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=20_000, help="people per set-wise query")
    parser.add_argument("--models", help="comma-separated models to score (default: every shipped model); "
                        "--models conversion measures the PQL rule set alone")
    parser.add_argument("--engine", choices=("duckdb", "store"), default="duckdb")
    parser.add_argument("--changed", type=int, help="people marked changed for the incremental run (default 1%%)")
    parser.add_argument("--warm", action="store_true",
                        help="reuse the columnar copy of an earlier run (skip the cold-copy run)")
    parser.add_argument("--incremental-only", action="store_true",
                        help="only the incremental run, over the results and copy of an earlier run")
    parser.add_argument("--sample-seed", type=int, help="seed of the changed people's sample (default --seed)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the unchanged rescore and of the reference query (the best of each is compared), "
                        "and of the incremental run (each its own sample; the median is reported)")
    parser.add_argument("--accounts-only", action="store_true",
                        help="time only the account rollups (PQA), over synthetic person results")
    add_flag(parser)
    args = parser.parse_args()
    rec = Recorder("score_bench", args.record)
    path = ROOT / "var" / "bench" / f"score-{args.people}-{args.events}-{args.seed}.db"
    fresh = not path.exists()
    store = Store(f"sqlite:///{path}")
    if fresh:
        print(f"Generating {args.people:,} people and {args.events:,} events into {path} ...")
        try:
            generate_apart(store.url, args.people, args.events, args.seed)
        except BaseException:
            store.dispose()
            path.unlink(missing_ok=True)
            raise
        with store.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    rules = load_spec_set(SpecDirs.under(ROOT)).rules
    if args.models:
        wanted = args.models.split(",")
        rules = dataclasses.replace(rules, models=tuple(m for m in rules.models if m.name in wanted))
        print(f"Models: {', '.join(m.name for m in rules.models)}")
    if args.accounts_only:
        accounts_only(store, rules, args.people, args.seed)
        return
    print(f"Store: {path} ({path.stat().st_size / 1e9:.2f} GB); engine {args.engine}; "
          f"load average {os.getloadavg()[0]:.1f}")
    incremental_as_of = AS_OF + 3600
    if not args.incremental_only:
        cold = args.engine == "duckdb" and not (args.warm and Path(copy_path(store.url)).exists())
        runs = ["full score (cold copy)", "full score"] if cold else ["full score"]
        if cold:
            Path(copy_path(store.url)).unlink(missing_ok=True)
        for label in runs:
            with store.begin() as conn, streaming_cache(conn):  # from no results: the full run writes every result
                conn.exec_driver_sql("DELETE FROM results")
                conn.exec_driver_sql("DELETE FROM score_history")
                forget_results(conn)
            started, cpu = time.time(), cpu_seconds()
            summary = score(store, rules, AS_OF, chunk=args.chunk, engine=args.engine)
            full, cpu = time.time() - started, cpu_seconds() - cpu
            rec.add(f"{label}, people/s", summary.people / full)
            rec.add(f"{label}, CPU-seconds", cpu)
            print(f"{label + ':':<24}{summary.people:>9,} people in {full:6.1f}s = {summary.people / full:>9,.0f} "
                  f"people/s; CPU {cpu:,.0f}s; peak RSS {rss_mb():,.0f} MB (largest worker "
                  f"{worker_rss_mb():,.0f} MB); load average now {os.getloadavg()[0]:.1f}")
        if args.engine == "duckdb":
            reruns = []
            for _ in range(max(1, args.repeat)):
                started, cpu = time.time(), cpu_seconds()
                again = score(store, rules, AS_OF, chunk=args.chunk, engine=args.engine)
                reruns.append((time.time() - started, cpu_seconds() - cpu))
            rerun, rerun_cpu = min(reruns)
            print(f"{'unchanged rescore:':<24}{again.people:>9,} people in {rerun:6.1f}s (best of "
                  f"{', '.join(f'{t:.1f}' for t, _ in reruns)}); CPU {rerun_cpu:,.1f}s; "
                  f"{sum(m.changed for m in again.models.values())} results written; peak RSS {rss_mb():,.0f} MB; "
                  f"load average now {os.getloadavg()[0]:.1f}")
            reference = None
            if any(m.name == "conversion" for m in rules.models):
                reference = compare_with_reference(store, full, args.repeat)
                rec.add("full score / reference query, wall time ratio", full / reference)
                rec.add("unchanged rescore / reference query, wall time ratio", rerun / reference)
                print(f"{'unchanged rescore / reference = ':<24}{rerun / reference:.2f}x")
            # The nightly full run: a day later, decay and windows have moved; only what changed is written.
            started, cpu = time.time(), cpu_seconds()
            later = score(store, rules, AS_OF + DAY, chunk=args.chunk, engine=args.engine)
            next_day = time.time() - started
            print(f"{'rescore a day later:':<24}{later.people:>9,} people in {next_day:6.1f}s; CPU "
                  f"{cpu_seconds() - cpu:,.1f}s; {sum(m.changed for m in later.models.values()):,} results written; "
                  f"peak RSS {rss_mb():,.0f} MB; load average now {os.getloadavg()[0]:.1f}")
            if reference:
                rec.add("rescore a day later / reference query, wall time ratio", next_day / reference)
                print(f"{'a day later / reference = ':<24}{next_day / reference:.2f}x")
            incremental_as_of = AS_OF + DAY + 3600
        report_accounts(store, rules, summary)
    rng = random.Random(args.seed if args.sample_seed is None else args.sample_seed)
    changed = args.changed or max(1, args.people // 100)
    runs = []
    for k in range(max(1, args.repeat)):  # each run its own sample, an hour after the last
        dirty = rng.sample(range(1, args.people + 1), changed)
        with store.begin() as conn:
            people_store.mark_dirty(conn, dirty)
        started, cpu = time.time(), cpu_seconds()
        summary = score(store, rules, incremental_as_of + k * 3600, mode="changed", chunk=args.chunk,
                        engine=args.engine)
        runs.append(time.time() - started)
        print(f"incremental ({changed:,}): {summary.people:>9,} people in {runs[-1]:6.2f}s = "
              f"{summary.people / runs[-1]:>9,.0f} people/s; CPU {cpu_seconds() - cpu:,.1f}s; "
              f"{sum(m.changed for m in summary.models.values()):,} results written; peak RSS {rss_mb():,.0f} MB")
    incremental = statistics.median(runs)
    rec.add(f"incremental score of {changed:,} changed people, seconds", incremental)
    print(f"{'incremental, median:':<24}{incremental:.2f}s of {', '.join(f'{t:.2f}' for t in runs)}; "
          f"load average now {os.getloadavg()[0]:.1f}")
    rec.write()


if __name__ == "__main__":
    main()
