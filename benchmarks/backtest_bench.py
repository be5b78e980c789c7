"""Backtest benchmark: 30 as-of dates of the shipped conversion rules against the goal of lifecycle/upgraded.yaml,
on the set-wise plan (DuckDB) and on the per-person path over the store's SQL (the reference).

    python benchmarks/backtest_bench.py --people 1000000 --events 20000000 --old-dates 1

The store is score_bench.py's (var/bench/score-P-E-SEED.db, generated when missing). The plan keeps each
date's features rolling from the date before; for reference, the plan with a full pass over the events per
date runs on the first --full-dates dates and the per-person path on the first --old-dates (it takes minutes
per date at 1M people); each must give the same samples as the rolling plan on those dates. Each path runs in its own process, so each peak RSS is its own. Prints wall and CPU
time, people x dates per second and the load average. Not part of the test run.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DAY = 86400
AS_OF = 1_790_000_000  # score_bench's: its events end here


def _digests(samples, dates: list[int]) -> dict:
    """Per date: a hash of (subject, score, converted) in subject order."""
    out = {}
    for d in dates:
        at = samples.as_of == d
        order = np.argsort(samples.subject[at], kind="stable")
        h = hashlib.sha1()
        for column in (samples.subject[at][order].astype(np.int64), samples.score[at][order].astype(np.float64),
                       samples.converted[at][order].astype(bool)):
            h.update(column.tobytes())
        out[d] = (int(at.sum()), h.hexdigest())
    return out


def _run(path: str, url: str, dates: list[int], window: int, queue) -> None:
    """One path in a fresh process: its timings, peak RSS and per-date digests go back through the queue.
    plan: the backtest's own collection (rolling features, samples summed up in DuckDB), timed; rows: the same
    plan with every sample fetched, for the digests; full: rows with a full pass over the events per date."""
    from crm_app.models import backtest as figures
    from crm_app.services.lifecycle import backtest
    from crm_app.specs.loader import SpecDirs, load_spec_set
    from crm_app.store import Store
    specs = load_spec_set(SpecDirs.under(ROOT))
    model = specs.rules.model("conversion")
    goal = next(g for g in specs.lifecycle if g.name == "upgraded")
    store = Store(url)
    out = {}
    if path != "old":
        from crm_app.services.lifecycle.backtest_plan import collect_on
        from crm_app.services.scoring.duck_reader import open_current
        assert backtest.chosen_engine("auto", store, [model], goal) == ("duckdb", None)
        started = time.time()
        con = open_current(store)  # the copy caught up with the store: timed on its own
        out["catch_up"] = time.time() - started
    cpu0, started = resource.getrusage(resource.RUSAGE_SELF), time.time()
    if path != "old":
        samples = collect_on(con, store, [model], goal, dates, window, roll=path != "full", tally=path == "plan")
        con.close()
    else:
        samples = backtest.collect_per_person(store, [model], goal, dates, window)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    tally = samples[0]
    if path != "plan":
        tally = figures.tally(samples[0])
        out["digests"] = _digests(samples[0], dates)
    out.update(wall=time.time() - started, samples=int(tally.samples.sum()),
               cpu=cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
               rss=cpu1.ru_maxrss / 1024, load=os.getloadavg())
    queue.put(out)


def run_path(path: str, url: str, dates: list[int], window: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(path, url, dates, window, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dates", type=int, default=30)
    parser.add_argument("--step-days", type=int, default=2, help="days between as-of dates (default 2)")
    parser.add_argument("--window-days", type=int, default=14, help="goal window after each date (default 14)")
    parser.add_argument("--old-dates", type=int, default=2, help="dates the per-person path runs (0: none)")
    parser.add_argument("--full-dates", type=int, default=2,
                        help="dates the plan runs with a full pass over the events per date (0: none)")
    args = parser.parse_args()
    from crm_app.store import Store
    from score_bench import generate
    path = ROOT / "var" / "bench" / f"score-{args.people}-{args.events}-{args.seed}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"Generating {args.people:,} people and {args.events:,} events into {path} ...")
        store = Store(url)
        generate(store, args.people, args.events, args.seed)
        store.dispose()
    end = AS_OF - args.window_days * DAY
    dates = [end - (args.dates - 1 - i) * args.step_days * DAY for i in range(args.dates)]
    window = args.window_days * DAY
    print(f"{args.people:,} people, {args.events:,} events; {args.dates} dates every {args.step_days}d, "
          f"window {args.window_days}d; conversion rules, goal of lifecycle/upgraded.yaml")
    plan = run_path("plan", url, dates, window)
    print(f"  copy catch-up (before the run, timed apart): {plan['catch_up']:.1f} s")
    _print("plan (DuckDB)", plan, args.people, len(dates))
    compared = max(args.full_dates, args.old_dates)
    rows = run_path("rows", url, dates[:compared], window) if compared else {}
    for path, label, n in (("full", "plan, a full pass per date", args.full_dates),
                           ("old", "per-person", args.old_dates)):
        if not n:
            continue
        old = run_path(path, url, dates[:n], window)
        _print(f"{label}, {n} of {len(dates)} dates", old, args.people, n)
        same = all(rows["digests"][d] == old["digests"][d] for d in dates[:n])
        print(f"  same samples on the dates both ran: {same}")
        for what in ("wall", "cpu"):
            per_plan, per_old = plan[what] / len(dates), old[what] / n
            print(f"  {what} per date: plan {per_plan:.2f} s, {label} {per_old:.2f} s ({per_old / per_plan:.1f}x)")


def _print(label: str, out: dict, people: int, dates: int) -> None:
    load = ", ".join(f"{x:.2f}" for x in out["load"])
    print(f"  {label}: {out['wall']:.1f} s wall, {out['cpu']:.1f} CPU-s, {people * dates / out['wall']:,.0f} "
          f"people x dates/s, {out['samples']:,} samples, peak RSS {out['rss']:.0f} MB, load average {load}")


if __name__ == "__main__":
    main()
