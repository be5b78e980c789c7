"""Sync N CRM people through the Salesforce and HubSpot emulators: a full sync, then incremental syncs of an
unchanged CRM and of one with 1% of its records changed, each with its API calls, records read and seconds.

The incremental figures are measured in the same run as the full sync they are compared with.

    PYTHONPATH=. .venv/bin/python benchmarks/crm_sync.py [--records 10000]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_app.services.crm.sync import sync_crm  # noqa: E402
from crm_app.store import Store  # noqa: E402
from tests import crm_world as w  # noqa: E402
from tests.emulators import hubspot as hs_emu  # noqa: E402
from tests.emulators import salesforce as sf_emu  # noqa: E402
from tests.emulators.server import EmulatorServer  # noqa: E402
from tests.emulators.tls import make_test_ca  # noqa: E402


def seed(crm: str, emu, n: int) -> list:
    """n people: Salesforce leads and contacts half and half, HubSpot contacts; returns the records."""
    if crm == "salesforce":
        for i in range(n):
            obj = "Lead" if i % 2 else "Contact"
            values = {"Email": f"p{i}@co{i % 500}.com", "LastName": f"P{i}", "Title": "Engineer"}
            emu.insert(obj, {**values, "Company": f"Co {i % 500}"} if obj == "Lead" else values)
        return [r for obj in ("Lead", "Contact") for r in emu.records[obj].values()]
    for i in range(n):
        emu.insert("contacts", {"email": f"p{i}@co{i % 500}.com", "jobtitle": "Engineer"})
    return list(emu.objects["contacts"].values())


def change(crm: str, emu, records: list, share: float) -> int:
    """A user edits the title of every 1/share-th record, a few seconds after the last sync."""
    picked = records[:: int(1 / share)]
    if crm == "salesforce":
        emu.clock += timedelta(seconds=2)
        for r in picked:
            r.update(Title="Director", SystemModstamp=emu.tick())
    else:
        for r in picked:
            r["properties"].update(jobtitle="Director", lastmodifieddate=emu.tick())
    return len(picked)


def measure(store, adapter, server, crm: str, full: bool = False) -> tuple:
    server.reset_calls()
    started = time.perf_counter()
    summary = sync_crm(store, adapter, w.mapping(crm), full=full, deleted_check_seconds=3600)
    return len(server.calls), sum(summary.read.values()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca, cert, key = (str(p) for p in make_test_ca(folder))
        print(f"{args.records:,} CRM people; load average {os.getloadavg()}")
        print(f"{'CRM':11s} {'sync':28s} {'calls':>6s} {'records':>8s} {'seconds':>8s}")
        for crm, emu in (("salesforce", sf_emu.SalesforceEmulator()), ("hubspot", hs_emu.HubSpotEmulator())):
            server = EmulatorServer(emu, cert, key).start()
            store = Store(f"sqlite:///{folder / f'{crm}.db'}")
            try:
                adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, ca)
                records = seed(crm, emu, args.records)
                rows = [("full (first)", measure(store, adapter, server, crm, full=True)),
                        ("incremental, unchanged", measure(store, adapter, server, crm)),
                        ("incremental, unchanged", measure(store, adapter, server, crm))]
                changed = change(crm, emu, records, 0.01)
                rows.append((f"incremental, {changed} changed", measure(store, adapter, server, crm)))
                for label, (calls, read, seconds) in rows:
                    print(f"{crm:11s} {label:28s} {calls:6d} {read:8,d} {seconds:8.2f}")
            finally:
                server.stop()
                store.dispose()
        print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
