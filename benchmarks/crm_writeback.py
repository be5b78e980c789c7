"""Write back N changed scores through the Salesforce and HubSpot emulators and print calls, seconds, rate.

Compares, in the same run: sObject Collections (200 a call), Bulk API 2.0, HubSpot batch (100 a call), and the
naive one-call-per-record approach (timed on a sample, then extrapolated; the printout says so).

    PYTHONPATH=. .venv/bin/python benchmarks/crm_writeback.py [--records 100000] [--naive 2000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubspot.crm.objects import SimplePublicObjectInput  # noqa: E402

from crm_app.crm.retry import RetryPolicy  # noqa: E402
from crm_app.crm.hubspot import HubSpotCrm  # noqa: E402
from crm_app.crm.salesforce import NO_ASSIGN, SalesforceCrm  # noqa: E402
from crm_app.services.crm.provision import provision  # noqa: E402
from crm_app.services.crm.writeback import push_scores  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store import crm as crm_store  # noqa: E402
from crm_app.store import people as people_store  # noqa: E402
from tests import crm_world as w  # noqa: E402
from tests.emulators import hubspot as hs_emu  # noqa: E402
from tests.emulators import salesforce as sf_emu  # noqa: E402
from tests.emulators.server import EmulatorServer  # noqa: E402
from tests.emulators.tls import make_test_ca  # noqa: E402


def _linked_world(folder: Path, crm: str, emulator, n: int) -> Store:
    """n people, n CRM records and the links a sync would make (sync itself is not what is measured)."""
    store = Store(f"sqlite:///{folder / f'{crm}.db'}")
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": f"u{i}", "email": f"p{i}@example.com",
                                                 "attributes": {}} for i in range(n)])
    object_type = "Lead" if crm == "salesforce" else "contacts"
    record_ids = [emulator.insert(object_type, {"Email": f"p{i}@example.com"} if crm == "salesforce"
                                  else {"email": f"p{i}@example.com"}) for i in range(n)]
    with store.begin() as conn:
        crm_store.save_links(conn, [{"crm": crm, "object_type": object_type, "record_id": rid,
                                     "person_id": ids[f"u{i}"], "account_id": None, "input_hash": "bench",
                                     "synced_at": 0} for i, rid in enumerate(record_ids)])
    w.put_scores(store, None, 42)
    return store


def _run(name: str, store: Store, adapter, fields, server) -> tuple:
    server.reset_calls()
    started = time.perf_counter()
    summary = push_scores(store, adapter, fields)
    seconds = time.perf_counter() - started
    assert not summary.failed, summary.failed
    return name, summary.written, len(server.calls), seconds, "measured"


def _naive(name: str, write_one, ids: list, total: int, server) -> tuple:
    server.reset_calls()
    started = time.perf_counter()
    for record_id in ids:
        write_one(record_id)
    seconds = time.perf_counter() - started
    per_record = seconds / len(ids)
    return (name, len(ids), len(server.calls), seconds, "measured"), \
        (name + " (extrapolated)", total, total, per_record * total, f"from {len(ids)} measured")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=2000, help="records written one call each (sample)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    ca, cert, key = (str(p) for p in make_test_ca(folder / "tls"))
    fields = w.spec_fields()
    rows = []
    policy = RetryPolicy()
    for mode in ("collections", "bulk"):
        server = EmulatorServer(sf_emu.SalesforceEmulator(daily_limit=10**7), cert, key).start()
        try:
            threshold = 10**9 if mode == "collections" else 2000
            adapter = SalesforceCrm(instance_url=server.url, session_id=sf_emu.TOKEN, ca_bundle=ca, policy=policy,
                                    bulk_threshold=threshold, bulk_poll=0.05)
            (folder / mode).mkdir()
            store = _linked_world(folder / mode, "salesforce", server.app, args.records)
            provision(store, adapter, fields)
            rows.append(_run("Salesforce sObject Collections" if mode == "collections"
                             else "Salesforce Bulk API 2.0", store, adapter, fields, server))
            if mode == "collections":
                sample = list(server.app.records["Lead"])[: args.naive]
                rows.extend(_naive("Salesforce naive PATCH per record", lambda rid: adapter.sf.restful(
                    f"sobjects/Lead/{rid}", method="PATCH", headers=NO_ASSIGN, json={"PQL_Score__c": 43}),
                    sample, args.records, server))
        finally:
            server.stop()
    server = EmulatorServer(hs_emu.HubSpotEmulator(daily_limit=10**7), cert, key).start()
    try:
        adapter = HubSpotCrm(hs_emu.TOKEN, host=server.url, ca_bundle=ca, policy=policy)
        (folder / "hs").mkdir()
        store = _linked_world(folder / "hs", "hubspot", server.app, args.records)
        provision(store, adapter, fields)
        rows.append(_run("HubSpot batch update", store, adapter, fields, server))
        sample = list(server.app.objects["contacts"])[: args.naive]
        api = adapter.basic_api
        rows.extend(_naive("HubSpot naive PATCH per record", lambda rid: api.update(
            "contacts", rid, SimplePublicObjectInput(properties={"pql_score": "43"})), sample, args.records, server))
    finally:
        server.stop()
    print(f"\nWrite-back of {args.records:,} changed records through the loopback TLS emulators")
    print(f"{'method':<46}{'records':>9}{'calls':>9}{'seconds':>10}{'records/s':>11}  note")
    for name, records, calls, seconds, note in rows:
        print(f"{name:<46}{records:>9,}{calls:>9,}{seconds:>10.1f}{records / seconds:>11,.0f}  {note}")


if __name__ == "__main__":
    main()
