"""The default health model on real data: IBM Telco customers through the normal CSV import.

    python benchmarks/telco_health.py [--csv ../shared/datasets/telco/Telco-Customer-Churn.csv]

Imports the file with examples/mappings/telco.yaml (python -m crm_app import people ...), scores with the
shipped rules, and prints churn rate per segment, the KPIs, and whether the segments order churn risk.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_app.cli import main as cli_main  # noqa: E402
from crm_app.services.lifecycle.customer_health_kpis import format_kpis, health_kpis  # noqa: E402
from crm_app.services.scoring.run import score  # noqa: E402
from crm_app.specs.loader import SpecDirs, load_spec_set  # noqa: E402
from crm_app.store import Store  # noqa: E402

DEFAULT_CSV = ROOT.parent / "shared" / "datasets" / "telco" / "Telco-Customer-Churn.csv"
AS_OF = 1_790_000_000


def run(csv: Path, workdir: Path) -> list[str]:
    """Import, score, and return the report lines."""
    url = f"sqlite:///{workdir}/telco.db"
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url  # the CLI reads its store from the environment, as a user's shell sets it
    started = time.time()
    try:
        code = cli_main(["import", "people", str(csv), "--mapping", str(ROOT / "examples/mappings/telco.yaml"),
                         "--quiet"])
    finally:
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved
    if code != 0:
        raise SystemExit(f"import failed with exit code {code}")
    imported = time.time() - started
    store = Store(url)
    rules = load_spec_set(SpecDirs.under(ROOT)).rules
    summary = score(store, rules, AS_OF, workers=1)
    order = tuple(s.id for s in rules.model("health").segments)
    kpis = health_kpis(store, segment_order=order)
    store.dispose()
    return [f"import {imported:.1f} s, score {summary.seconds:.1f} s ({summary.people} customers)",
            *format_kpis(kpis)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for line in run(args.csv, Path(tmp)):
            print(line)


if __name__ == "__main__":
    main()
