"""The demo's CRM half: fill the sandbox CRM from the store's people, then provision, sync and write back."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crm_app.crm.sandbox import SandboxCrm, now_iso
from crm_app.services.crm.create import create_missing
from crm_app.services.crm.provision import provision
from crm_app.services.crm.sync import sync_crm
from crm_app.services.crm.writeback import push_scores
from crm_app.specs.crm.creation import load_creation_policy
from crm_app.specs.crm.mapping import load_mapping
from crm_app.store import Store
from crm_app.store import crm as crm_store

UNKNOWN_EVERY = 6  # the demo leaves one person in six out of its CRM
DEMO_OWNERS = (("005-demo-ada", "ada@example.com", "Ada Lovelace"), ("005-demo-grace", "grace@example.com",
               "Grace Hopper"), ("005-demo-alan", "alan@example.com", "Alan Turing"))


@dataclass
class DemoCrmReport:
    sandbox_path: str
    accounts: int
    contacts: int
    leads: int
    provisioned: int  # fields created
    written: int  # records written back
    calls: dict
    created: int = 0  # records made for product signups the CRM did not have
    signups_unknown: int = 0  # people left out of the CRM, as product signups sales has never heard of
    external_id_field: str | None = None  # where created records keep their product user id


def seed_sandbox_from_store(store: Store, sandbox_path: str | Path, specs, mapping_path: str | Path,
                            create_path: str | Path | None = None, models: list | None = None,
                            unknown_every: int | None = None) -> DemoCrmReport:
    """People with an account become contacts, most others leads; the rest are product signups the CRM does
    not know (one in `unknown_every`), and those the creation policy names (the PQLs) get a lead. Then
    provision, sync and write back."""
    crm = SandboxCrm(str(sandbox_path))
    accounts, contacts, leads, unknown = _seed(store, crm, unknown_every)
    plan = provision(store, crm, specs)
    sync_crm(store, crm, load_mapping(Path(mapping_path), "sandbox"))
    policy = load_creation_policy(Path(create_path), models) if create_path else None
    created = create_missing(store, crm, policy)
    target = policy.target(crm.name) if policy else None
    summary = push_scores(store, crm, specs)
    return DemoCrmReport(str(sandbox_path), accounts, contacts, leads,
                         sum(1 for p in plan if p.action == "create"), summary.written, summary.calls,
                         created.created, unknown, target.external_id_field if target else None)


def _seed(store: Store, crm: SandboxCrm, unknown_every: int | None) -> tuple[int, int, int, int]:
    """Copy accounts and people into the sandbox CRM, keeping ids stable so a second demo run adds nothing."""
    with store.read() as conn:
        account_rows, people_rows = crm_store.demo_rows(conn)
    stamp = now_iso()
    owners = [{"id": i, "email": e, "name": n, "active": 1} for i, e, n in DEMO_OWNERS]
    accounts = [{"id": f"ACC-{r.id:06d}", "name": r.name, "domain": r.domain,
                 "industry": (r.attributes or {}).get("industry"), "employees": (r.attributes or {}).get("employees"),
                 "owner_id": owners[r.id % len(owners)]["id"], "modified_at": stamp, "modified_by": "demo"}
                for r in account_rows]
    contacts, leads, unknown = [], [], 0
    for r in people_rows:
        attrs = r.attributes or {}
        base = {"email": r.email, "title": attrs.get("title"), "country": attrs.get("region"),
                "owner_id": owners[r.id % len(owners)]["id"], "modified_at": stamp, "modified_by": "demo"}
        if unknown_every and r.id % unknown_every == 0:
            unknown += 1  # a product signup sales has never heard of: no CRM record until they become a PQL
        elif r.account_id:
            contacts.append({"id": f"CON-{r.id:06d}", "account_id": f"ACC-{r.account_id:06d}", **base})
        else:
            leads.append({"id": f"LEAD-{r.id:06d}", "company": attrs.get("company"), **base})
    db = crm.db
    with db.atomic():
        db["owners"].upsert_all(owners, pk="id")
        db["accounts"].insert_all(accounts, pk="id", ignore=True)
        db["contacts"].insert_all(contacts, pk="id", ignore=True)
        db["leads"].insert_all(leads, pk="id", ignore=True)
    return len(accounts), len(contacts), len(leads), unknown
