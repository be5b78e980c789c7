"""How long `demo` takes, beside a reference tree measured in the same run (alternating, so load hits both).

    git archive origin/main | tar -x -C /tmp/reference
    .venv/bin/python benchmarks/demo_time.py --reference /tmp/reference [--runs 2] [--people 2000]

Prints wall and CPU seconds (the demo process and its children) per run and the median of each, with the load
average. The machine is shared: compare the two trees' figures of one run, not figures of different runs.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_demo(tree: Path, people: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one demo of `tree` on a fresh store."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPECS_ROOT")}
        env.update(DATABASE_URL=f"sqlite:///{tmp}/pql.db", CRM_SANDBOX_PATH=f"{tmp}/crm.db", SCORE_WORKERS="1")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        ran = subprocess.run([sys.executable, "-m", "crm_app", "demo", "--people", str(people)], cwd=tree, env=env,
                             capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if ran.returncode != 0:
        raise SystemExit(f"demo of {tree} failed:\n{ran.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path, help="another checkout, e.g. of origin/main")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--people", type=int, default=2000)
    args = parser.parse_args()
    trees = {"this tree": ROOT, "reference": args.reference.resolve()}
    figures: dict = {name: [] for name in trees}
    for run in range(args.runs):
        for name, tree in trees.items():
            wall, cpu = one_demo(tree, args.people)
            figures[name].append((wall, cpu))
            print(f"run {run + 1} {name:10s} wall {wall:6.1f} s  cpu {cpu:6.1f} s  "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for name, rows in figures.items():
        print(f"median {name:10s} wall {statistics.median(r[0] for r in rows):6.1f} s  "
              f"cpu {statistics.median(r[1] for r in rows):6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
