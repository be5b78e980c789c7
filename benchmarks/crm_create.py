"""Create CRM records for N new product signups (all PQLs) through the Salesforce and HubSpot emulators.

Prints the API calls each CRM took, beside the minimum its API allows for N records (email match queries or
batch reads, plus upserts of 200 or 100 records a call, plus the one-time field set-up), and the seconds.

    PYTHONPATH=. .venv/bin/python benchmarks/crm_create.py [--records 10000]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_app.services.crm.create import create_missing  # noqa: E402
from crm_app.specs.crm.creation import load_creation_policy  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store import people as people_store  # noqa: E402
from tests import crm_world as w  # noqa: E402
from tests.emulators import hubspot as hs_emu  # noqa: E402
from tests.emulators import salesforce as sf_emu  # noqa: E402
from tests.emulators.server import EmulatorServer  # noqa: E402
from tests.emulators.tls import make_test_ca  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 2000  # people per creation pass (crm_app.services.crm.create.CHUNK)


def world(folder: Path, name: str, n: int) -> Store:
    store = Store(f"sqlite:///{folder / f'{name}.db'}")
    with store.begin() as conn:
        people_store.upsert_people(conn, [{"external_id": f"signup-{i}", "email": f"signup{i}@startup{i % 97}.io",
                                           "attributes": {"name": f"Signup {i}"}} for i in range(n)])
    w.put_scores(store, None, 90)
    return store


def minimum(crm: str, n: int) -> tuple[int, str]:
    passes = math.ceil(n / CHUNK)
    if crm == "salesforce":  # per pass: a Lead and a Contact email query per 200 emails; upserts of 200
        queries = 2 * sum(math.ceil(min(CHUNK, n - p * CHUNK) / 200) for p in range(passes))
        return queries + math.ceil(n / 200), f"{queries} email queries + {math.ceil(n / 200)} upserts of 200"
    reads = sum(math.ceil(min(CHUNK, n - p * CHUNK) / 100) for p in range(passes))
    return reads + math.ceil(n / 100), f"{reads} batch reads + {math.ceil(n / 100)} upserts of 100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    policy = load_creation_policy(ROOT / "mapping" / "create.yaml", ["conversion"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca, cert, key = (str(p) for p in make_test_ca(folder))
        print(f"{args.records:,} new product signups, all PQLs; load average {os.getloadavg()}")
        print(f"{'CRM':12s} {'created':>8s} {'calls':>6s} {'minimum':>8s}  {'seconds':>8s}  minimum is")
        for crm, emulator in (("salesforce", sf_emu.SalesforceEmulator()), ("hubspot", hs_emu.HubSpotEmulator())):
            server = EmulatorServer(emulator, cert, key).start()
            try:
                adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, ca)
                store = world(folder, crm, args.records)
                server.reset_calls()
                started = time.perf_counter()
                summary = create_missing(store, adapter, policy)
                seconds = time.perf_counter() - started
                assert not summary.failed, list(summary.failed.items())[:3]
                setup = sum(1 for c in server.calls if "tooling" in str(c).lower() or "properties" in str(c)
                            or "FieldPermissions" in str(c) or "PermissionSet" in str(c))
                least, how = minimum(crm, args.records)
                print(f"{crm:12s} {summary.created:8,d} {len(server.calls):6d} {least:8d}  {seconds:8.1f}  {how} "
                      f"(+{setup} one-time field set-up calls in the count)")
            finally:
                server.stop()


if __name__ == "__main__":
    main()
