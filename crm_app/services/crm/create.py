"""Product users the creation policy names get a CRM record: an existing one with their email is linked,
else one is created by an upsert keyed on their product user id, so a retry never makes a second record.

The records are linked at once, so the same write-back pass writes their score fields, and playbook actions
that were waiting for them are made due at once rather than at their next look.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from crm_app.engine.conditions import compile_condition
from crm_app.services.crm.accounting import record_usage
from crm_app.specs.crm.creation import CreationPolicy, CrmTarget, load_creation_policy
from crm_app.store import Store
from crm_app.store import crm as crm_store
from crm_app.store import people as people_store
from crm_app.store.playbooks import ledger as pb_store

CHUNK = 2000
ACCOUNT_OBJECTS = {"salesforce": "Account", "hubspot": "companies", "sandbox": "accounts"}


@dataclass
class CreateSummary:
    candidates: int = 0
    matched: int = 0  # linked to a record that already had their email
    created: int = 0
    associated: int = 0  # new HubSpot contacts associated with their account's company
    failed: dict = field(default_factory=dict)  # product user id -> why
    fields_created: int = 0
    released: int = 0  # playbook actions that waited for these records, now due
    calls: dict = field(default_factory=dict)


def policy_from(specs_root: str, file_setting: str, models: list[str]) -> CreationPolicy | None:
    """The creation policy under SPECS_ROOT (None when its file is absent); SpecSetInvalid when it is wrong."""
    return load_creation_policy(Path(specs_root) / file_setting, models)


def field_values(rules: tuple, record: dict) -> dict:
    """CRM field -> value for one person: each rule's first present source, or its constant."""
    values = {}
    email = record.get("email") or ""
    for rule in rules:
        if rule.value is not None:
            values[rule.name] = rule.value
            continue
        for source in rule.sources:
            value = email.split("@", 1)[0] if source == "email_local" else record.get(source)
            if value not in (None, ""):
                values[rule.name] = value if isinstance(value, (int, float, bool)) else str(value)
                break
    return values


def create_missing(store: Store, adapter, policy: CreationPolicy | None, dry_run: bool = False) -> CreateSummary:
    """Link or create a CRM record for every person the policy names who has none in this CRM."""
    summary = CreateSummary()
    target = policy.target(adapter.name) if policy else None
    if target is None or not hasattr(adapter, "upsert_people"):
        return summary
    check = compile_condition(policy.condition) if policy.when_kind == "condition" else None
    try:
        after, prepared = 0, set()
        while True:
            with store.read() as conn:
                ids = crm_store.unlinked_people(conn, adapter.name, policy.model, policy.segment, after, CHUNK)
                records = people_store.flat_records(conn, 0, -1, ids) if ids else {}
            if not ids:
                break
            after = ids[-1]
            now = int(time.time())
            chosen = {pid: r for pid, r in records.items() if check is None or check(r, {}, now)}
            summary.candidates += len(chosen)
            if chosen and not dry_run:
                _link_or_create(store, adapter, target, chosen, summary, prepared)
    finally:
        summary.calls = record_usage(store, adapter, "create")
    return summary


def _link_or_create(store: Store, adapter, target: CrmTarget, records: dict, summary: CreateSummary,
                    prepared: set) -> None:
    by_email = {r["email"].lower(): pid for pid, r in records.items() if r.get("email")}
    existing = adapter.find_people_by_email(list(by_email))
    links = [_link(adapter.name, obj, record_id, by_email[email]) for email, (obj, record_id) in existing.items()
             if email in by_email]
    summary.matched += len(links)
    matched = {lk["person_id"] for lk in links}
    missing = {pid: r for pid, r in records.items() if pid not in matched}
    account_record = _account_records(store, adapter.name, list(missing))
    associate = hasattr(adapter, "associate_companies")
    pairs = []
    for object_type, rules, rows in _plans(target, missing, account_record):
        if not rows:
            continue
        if (object_type, target.external_id_field) not in prepared:
            summary.fields_created += adapter.ensure_external_id(object_type, target.external_id_field)
            prepared.add((object_type, target.external_id_field))
        payload = [(records[pid]["external_id"], {**field_values(rules, records[pid]), **extra})
                   for pid, extra in rows]
        for (pid, _), outcome in zip(rows, adapter.upsert_people(object_type, target.external_id_field, payload)):
            if outcome.ok:
                links.append(_link(adapter.name, object_type, outcome.id, pid))
                summary.created += 1
                if associate and pid in account_record:
                    pairs.append((outcome.id, account_record[pid]))
            else:
                summary.failed[records[pid]["external_id"]] = outcome.error or "refused"
    if pairs:  # before the links are saved: after a failure the next run upserts and associates again
        summary.associated += adapter.associate_companies(pairs)
    with store.begin() as conn:
        crm_store.save_links(conn, links)
        summary.released += pb_store.release_waiting(conn, [lk["person_id"] for lk in links], int(time.time()))


def _account_records(store: Store, crm: str, person_ids: list[int]) -> dict:
    """person id -> the CRM record of their account (Account, company), for people whose account is linked."""
    with store.read() as conn:
        account_of = crm_store.accounts_of_people(conn, person_ids)
        accounts = crm_store.account_records(conn, crm, ACCOUNT_OBJECTS[crm], list(account_of.values()))
    return {pid: accounts[a] for pid, a in account_of.items() if a in accounts}


def _plans(target: CrmTarget, records: dict, account_record: dict) -> list:
    """(object, field rules, [(person id, extra values)]): a Contact under its linked Account, else the fallback."""
    if target.fallback_object is None:
        return [(target.object_type, target.fields, [(pid, {}) for pid in records])]
    under = [(pid, {"AccountId": account_record[pid]}) for pid in records if pid in account_record]
    alone = [(pid, {}) for pid in records if pid not in account_record]
    return [(target.object_type, target.fields, under), (target.fallback_object, target.fallback_fields, alone)]


def _link(crm: str, object_type: str, record_id: str, person_id: int) -> dict:
    return {"crm": crm, "object_type": object_type, "record_id": str(record_id), "person_id": person_id,
            "account_id": None, "input_hash": None, "synced_at": int(time.time())}
