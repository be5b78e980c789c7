"""Benchmark: lifecycle models on the real data sets and a backtest on planted history. Prints its figures.

Run: .venv/bin/python benchmarks/lifecycle_models.py   (takes about a minute on a quiet machine)
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "datasets"


def _run(argv: list[str]) -> None:
    from crm_app.cli import main
    code = main(argv)
    if code not in (0, 1):
        raise SystemExit(f"{argv} exited {code}")


def real_data(tmp: Path, csv: Path, mapping: str, model_file: str, model: str, exclude: bool = True) -> dict:
    """Import a CSV through the user's path and train; return the report."""
    from crm_app.services.lifecycle.training import latest_report
    from crm_app.store import Store
    root = tmp / model / ("clean" if exclude else "raw")
    (root / "lifecycle").mkdir(parents=True)
    (root / "rules").mkdir()
    shutil.copy(REPO / "rules" / "conversion.yaml", root / "rules")
    shutil.copy(REPO / "rules" / "lists.yaml", root / "rules")
    text = (REPO / "examples" / "lifecycle" / model_file).read_text()
    (root / "lifecycle" / model_file).write_text(text if exclude else text.split("exclude:")[0])
    os.environ.update(DATABASE_URL=f"sqlite:///{root / 'store.db'}", SPECS_ROOT=str(root))
    started = time.time()
    _run(["import", "people", str(csv), "--mapping", str(REPO / "examples" / "mappings" / mapping), "--quiet"])
    imported = time.time() - started
    started = time.time()
    _run(["train", model, "--quiet", "--json"])
    report = latest_report(Store(os.environ["DATABASE_URL"]), model)
    report["import_seconds"], report["train_seconds"] = imported, time.time() - started
    return report


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    devnull = open(os.devnull, "w")
    stdout, sys.stdout = sys.stdout, devnull
    try:
        runs = [("Leads.csv, sales columns excluded", real_data(tmp, DATA / "x_education" / "Leads.csv", "leads.yaml",
                                                              "lead_conversion.yaml", "lead_conversion")),
                ("Leads.csv, all columns", real_data(tmp, DATA / "x_education" / "Leads.csv", "leads.yaml",
                                                    "lead_conversion.yaml", "lead_conversion", exclude=False)),
                ("Telco churn", real_data(tmp, DATA / "telco" / "Telco-Customer-Churn.csv", "telco.yaml",
                                          "telco_retention.yaml", "telco_churn"))]
    finally:
        sys.stdout = stdout
    print(f"{'data':36s} {'pos':>5s} {'neg':>5s} {'LR AUC':>7s} {'HGB AUC':>8s} {'PR AUC':>7s} {'ECE':>6s} "
          f"{'import s':>8s} {'train s':>8s}  leaks flagged")
    for name, r in runs:
        m = r["metrics"]
        leaks = sorted(a["indicator"] for a in r["advice"] if a["kind"] == "leak")
        print(f"{name:36s} {r['positives']:5d} {r['negatives']:5d} {m['candidates']['logistic']['roc_auc']:7.3f} "
              f"{m['candidates']['gradient_boosting']['roc_auc']:8.3f} {m['pr_auc']:7.3f} "
              f"{m['calibration']['expected_calibration_error']:6.3f} {r['import_seconds']:8.1f} "
              f"{r['train_seconds']:8.1f}  {', '.join(leaks) or '-'}")
    planted(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def planted(tmp: Path) -> None:
    """Backtest generated history with a planted signal and print recovered against true figures."""
    sys.path.insert(0, str(REPO))
    from tests.history_gen import DAY, START, expected_rates, generate
    from tests.test_backtest import RULES, _write
    from crm_app.services.lifecycle.backtest import run
    from crm_app.specs.loader import load_spec_set
    from crm_app.store import Store
    root = tmp / "planted"
    root.mkdir()
    events, people = generate(root, people=3000)
    os.environ.update(DATABASE_URL=f"sqlite:///{root / 'store.db'}", SPECS_ROOT=str(root))
    started = time.time()
    _run(["import", "events", str(events), "--quiet"])
    imported = time.time() - started
    specs = load_spec_set(_write(root / "live", RULES))
    started = time.time()
    out = run(Store(os.environ["DATABASE_URL"]), [specs.rules.model("planted")], specs.lifecycle[0],
              START + 30 * DAY, START + 84 * DAY, 30 * DAY, 7 * DAY, save=False)
    r = out["results"]["planted"]
    p_inv, p_not = expected_rates(30)
    t = r["threshold"]
    print(f"\nplanted backtest: 3000 people, {r['samples']} samples over {r['dates']} dates "
          f"(import {imported:.1f}s, backtest {time.time() - started:.1f}s)")
    print(f"  PQL conversion {t['pql_conversion']:.4f} (true {p_inv:.4f}); non-PQL {t['non_pql_conversion']:.4f} "
          f"(true {p_not:.4f}); lift {t['lift']:.2f} (true {p_inv / p_not:.2f})")
    print("  buckets: " + ", ".join(f"{b['bucket']} {b['conversion']}" for b in r["buckets"]))


if __name__ == "__main__":
    main()
