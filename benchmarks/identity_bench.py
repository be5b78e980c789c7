"""Identity resolution benchmark: N product users, M CRM people, A accounts; one resolve run, then status.

    python benchmarks/identity_bench.py --people 1000000 --crm 200000 --accounts 100000

Most CRM people carry the exact email, a fifth carry the explicit product id, and a tenth are the work
address of a gmail sign-up (same, distinct name). Prints the time of
`resolve_identities` and of the status report, and the match counts. Not part of the test run.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_app.services.identity.resolve import identity_status, resolve_identities  # noqa: E402
from crm_app.services.identity.matching import full_name  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store.bulk import as_json, bulk_insert  # noqa: E402
from crm_app.store.identity import save_crm_people  # noqa: E402

FIRST = ["ann", "bob", "carla", "dev", "eve", "farid", "gita", "hugo", "ines", "jon"]
LAST = ["smith", "okafor", "tanaka", "rossi", "yilmaz", "novak", "silva", "berg", "khan", "li"]


def letters(i: int) -> str:
    """A number spelled in letters, so names stay distinct after name normalization drops digits."""
    out = ""
    while True:
        i, r = divmod(i, 26)
        out = chr(97 + r) + out
        if i == 0:
            return out


def generate(store: Store, people: int, crm: int, accounts: int) -> None:
    """People (a tenth on gmail, no account yet), accounts with one domain each, CRM people."""
    with store.begin() as conn:
        bulk_insert(conn, "accounts", ["id", "external_id", "domain", "attributes"],
                    ((i, f"a{i}", f"co{i}.com", "{}") for i in range(1, accounts + 1)))
        rows = []
        for i in range(1, people + 1):
            first, last = FIRST[i % 10], LAST[(i // 10) % 10] + letters(i)
            email = f"{first}.{last}@gmail.com" if i % 10 == 0 else f"u{i}@co{i % accounts + 1}.com"
            rows.append((i, f"u{i}", email, as_json({"first_name": first, "last_name": last}), 0, 0))
        bulk_insert(conn, "people", ["id", "external_id", "email", "attributes", "created_at", "updated_at"], rows)
        crm_rows = []
        for k in range(crm):
            i = (k * 7) % people + 1
            first, last = FIRST[i % 10], LAST[(i // 10) % 10] + letters(i)
            if i % 10 == 0:  # gmail sign-up; the CRM has the work address with the same name
                crm_rows.append({"key": f"sf:Lead:{k}", "email": f"{first}.{last}@co{i % accounts + 1}.com",
                                 "name": full_name({"first_name": first, "last_name": last}),
                                 "product_user_id": None})
            elif k % 5 == 0:
                crm_rows.append({"key": f"sf:Contact:{k}", "email": None, "name": None, "product_user_id": f"u{i}"})
            else:
                crm_rows.append({"key": f"sf:Lead:{k}", "email": f"u{i}@co{i % accounts + 1}.com", "name": None,
                                 "product_user_id": None})
        save_crm_people(conn, crm_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--crm", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT / "var" if (ROOT / "var").is_dir() else None) as tmp:
        store = Store(f"sqlite:///{tmp}/identity.db")
        started = time.time()
        generate(store, args.people, args.crm, args.accounts)
        print(f"generated {args.people:,} people, {args.crm:,} CRM people, {args.accounts:,} accounts "
              f"in {time.time() - started:.1f}s")
        started = time.time()
        report = resolve_identities(store)
        print(f"resolve: {report.people:,} users x {report.crm_people:,} CRM people in {time.time() - started:.1f}s; "
              f"links {report.links}; accounts {report.accounts}; conflicts {len(report.conflicts):,}")
        started = time.time()
        status = identity_status(store)
        print(f"status report in {time.time() - started:.1f}s: users matched {status['people_linked_to_crm']:,}, "
              f"with account {status['people_with_account']:,}, duplicates {len(status['duplicates']):,}; "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
        store.dispose()


if __name__ == "__main__":
    main()
