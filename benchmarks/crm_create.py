"""Create CRM records for N new product signups (all PQLs) through the Salesforce and HubSpot emulators,
then a follow-up task for T of them, as the playbooks send them.

Prints the API calls each CRM took, beside the minimum its API allows: for records, email match queries or
batch reads plus upserts of 200 or 100 records a call (on HubSpot, plus one v4 batch association call per 100
contacts whose account is linked to a company: half of them here); for tasks, one keyed upsert per task (and
on HubSpot one association call), against a batch minimum of one call per 200 (Salesforce collections) or
2 per 100 (HubSpot batch upsert + batch association). One-time field set-up calls are measured on their own.

    PYTHONPATH=. .venv/bin/python benchmarks/crm_create.py [--records 10000] [--tasks 1000]
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

from crm_app.crm.base import TaskRequest  # noqa: E402
from crm_app.services.crm.create import create_missing  # noqa: E402
from crm_app.store import crm as crm_store  # noqa: E402
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


def world(folder: Path, name: str, n: int, company: str | None = None) -> Store:
    """n signups; with a company, every second one belongs to an account linked to it."""
    store = Store(f"sqlite:///{folder / f'{name}.db'}")
    with store.begin() as conn:
        account = None
        if company:
            account = people_store.upsert_accounts(conn, [{"external_id": "acct", "name": "Startup"}])["acct"]
            crm_store.save_links(conn, [{"crm": name, "object_type": "companies", "record_id": company,
                                         "person_id": None, "account_id": account, "input_hash": None,
                                         "synced_at": 0}])
        people_store.upsert_people(conn, [{"external_id": f"signup-{i}", "email": f"signup{i}@startup{i % 97}.io",
                                           "account_id": account if i % 2 == 0 else None,
                                           "attributes": {"name": f"Signup {i}"}} for i in range(n)])
    w.put_scores(store, None, 90)
    return store


def minimum(crm: str, n: int) -> tuple[int, str]:
    passes = math.ceil(n / CHUNK)
    if crm == "salesforce":  # per pass: a Lead and a Contact email query per 200 emails; upserts of 200
        queries = 2 * sum(math.ceil(min(CHUNK, n - p * CHUNK) / 200) for p in range(passes))
        return queries + math.ceil(n / 200), f"{queries} email queries + {math.ceil(n / 200)} upserts of 200"
    reads = sum(math.ceil(min(CHUNK, n - p * CHUNK) / 100) for p in range(passes))
    pairs = math.ceil(math.ceil(n / 2) / 100)
    return reads + math.ceil(n / 100) + pairs, (f"{reads} batch reads + {math.ceil(n / 100)} upserts of 100 + "
                                               f"{pairs} association batches of 100")


def task_phase(adapter, server, store, crm: str, count: int) -> str:
    """A keyed follow-up task on `count` of the new records, one at a time as playbook dispatch sends them."""
    with store.read() as conn:
        records = [lk["record_id"] for lk in crm_store.person_links(conn, crm)][:count]
    server.reset_calls()
    adapter.ensure_task_key()
    setup = len(server.calls)
    server.reset_calls()
    started = time.perf_counter()
    for n, record_id in enumerate(records):
        adapter.create_task(TaskRequest(subject="Follow up", body="bench", due="2026-12-05", owner_id=None,
                                        who_object="Lead" if crm == "salesforce" else "contacts",
                                        who_id=record_id, key=f"bench-{n}"))
    seconds = time.perf_counter() - started
    batch = math.ceil(count / 200) if crm == "salesforce" else 2 * math.ceil(count / 100)
    return (f"{'':12s} {len(records):8,d} {len(server.calls):6d} {batch:8d}  {seconds:8.1f}  tasks: one keyed upsert "
            f"each{' + one association' if crm == 'hubspot' else ''}; the minimum is batched "
            f"({setup} one-time field set-up calls before, not in the count)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=1_000, help="tasks to create on the new records")
    parser.add_argument("--crm", choices=("salesforce", "hubspot", "both"), default="both")
    args = parser.parse_args()
    policy = load_creation_policy(ROOT / "mapping" / "create.yaml", ["conversion"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca, cert, key = (str(p) for p in make_test_ca(folder))
        print(f"{args.records:,} new product signups, all PQLs; load average {os.getloadavg()}")
        print(f"{'CRM':12s} {'created':>8s} {'calls':>6s} {'minimum':>8s}  {'seconds':>8s}  minimum is")
        for crm, emulator in (("salesforce", sf_emu.SalesforceEmulator()), ("hubspot", hs_emu.HubSpotEmulator())):
            if args.crm not in ("both", crm):
                continue
            server = EmulatorServer(emulator, cert, key).start()
            try:
                # A long timeout: the emulators scan their records per upsert, and a timed-out call would be
                # retried and counted twice.
                adapter = (w.salesforce_adapter if crm == "salesforce" else w.hubspot_adapter)(server, ca,
                                                                                              timeout=600.0)
                company = emulator.insert("companies", {"name": "Startup"}) if crm == "hubspot" else None
                store = world(folder, crm, args.records, company)
                server.reset_calls()  # the one-time field set-up (the External ID field), counted on its own
                target = policy.target(crm)
                adapter.ensure_external_id(target.object_type, target.external_id_field)
                setup = len(server.calls)
                server.reset_calls()
                started = time.perf_counter()
                summary = create_missing(store, adapter, policy)
                seconds = time.perf_counter() - started
                assert not summary.failed, list(summary.failed.items())[:3]
                least, how = minimum(crm, args.records)
                print(f"{crm:12s} {summary.created:8,d} {len(server.calls):6d} {least:8d}  {seconds:8.1f}  {how} "
                      f"({setup} one-time field set-up calls before, not in the count)")
                if args.tasks:
                    print(task_phase(adapter, server, store, crm, args.tasks))
            finally:
                server.stop()


if __name__ == "__main__":
    main()
