"""Incremental sync in: CRM records changed since the watermark -> our people and accounts.

A record counts as changed only when the fields the mapping reads changed, so our own score writes (which bump
SystemModstamp / lastmodifieddate) never queue anyone for rescoring.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from crm_app.crm.registry import setting
from crm_app.services.crm.accounting import record_usage
from crm_app.services.crm.change_time import change_time
from crm_app.services.crm.deletions import check_deletions
from crm_app.services.crm.follow import follow, moves_and_deletions
from crm_app.services.identity.matching import canonical_email
from crm_app.services.identity.resolve import record_crm_rows
from crm_app.specs.crm.mapping import CrmMapping, ObjectMapping
from crm_app.store import Store
from crm_app.store import crm as crm_store
from crm_app.store import people as people_store
from crm_app.store.sync.email_match import people_by_canonical_email
from crm_app.store.playbooks.ledger import release_waiting

CHUNK = 2000


@dataclass
class SyncSummary:
    read: dict = field(default_factory=dict)  # object type -> records read
    changed: dict = field(default_factory=dict)  # object type -> records whose mapped inputs changed
    lifecycle: dict = field(default_factory=dict)  # moved (converted / merged) and deleted records
    released: int = 0  # playbook actions that waited for a CRM record, made due by a new link


def sync_crm(store: Store, adapter, mapping: CrmMapping, full: bool = False,
             deleted_check_seconds: float | None = None) -> SyncSummary:
    """Pull every mapped object changed since its watermark (everything when full); commit per chunk. Then
    the deletion check, when it is due (always on a full sync)."""
    summary = SyncSummary()
    if deleted_check_seconds is None:
        deleted_check_seconds = 60 * float(setting("CRM_DELETED_CHECK_MINUTES"))
    try:
        never_read = set()
        for obj in mapping.objects:
            with store.read() as conn:
                since = crm_store.watermark(conn, adapter.name, obj.object_type)
            if since is None:
                never_read.add(obj.object_type)
            since = None if full else since
            summary.read[obj.object_type] = summary.changed[obj.object_type] = 0
            chunk: list = []
            for record in adapter.read_changed(obj.object_type, since, obj.crm_fields):
                chunk.append(record)
                if len(chunk) >= CHUNK:
                    _apply_chunk(store, adapter.name, mapping, obj, chunk, summary)
                    chunk = []
            if chunk:
                _apply_chunk(store, adapter.name, mapping, obj, chunk, summary)
        found = check_deletions(store, adapter, [o.object_type for o in mapping.objects],
                                0 if full else deleted_check_seconds, never_read=never_read)
        for kind, n in found.items():
            summary.lifecycle[kind] = summary.lifecycle.get(kind, 0) + n
    finally:
        record_usage(store, adapter, "sync")
    return summary


def _hash(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _mapped(obj: ObjectMapping, record) -> dict:
    return {ours: record.values.get(theirs) for ours, theirs in obj.fields}


def _apply_chunk(store: Store, crm: str, mapping: CrmMapping, obj: ObjectMapping, records: list,
                 summary: SyncSummary) -> None:
    """Upsert the records whose mapped inputs changed, link them, and move the watermark, in one transaction."""
    summary.read[obj.object_type] += len(records)
    latest = records[-1].modified_at  # adapters read in watermark (keyset) order
    moves, deletions = moves_and_deletions(records, obj.object_type)
    records = [r for r in records if r.event is None]
    with store.begin() as conn:
        known = crm_store.links(conn, crm, obj.object_type, [r.id for r in records])
        changed = [r for r in records if known.get(r.id, {}).get("input_hash") != _hash(_mapped(obj, r))]
        if changed:
            upsert = _upsert_accounts if obj.subject == "account" else _upsert_people
            ids = upsert(conn, crm, mapping, obj, changed, known)
            now = int(time.time())
            crm_store.save_links(conn, [{
                "crm": crm, "object_type": obj.object_type, "record_id": r.id, "input_hash": _hash(_mapped(obj, r)),
                "synced_at": now, "person_id": ids[r.id] if obj.subject == "person" else None,
                "account_id": ids[r.id] if obj.subject == "account" else None} for r in changed])
            # Actions waiting for these subjects' first record go out on the next playbook run, not at their next look.
            summary.released += release_waiting(conn, [ids[r.id] for r in changed if r.id not in known], now)
        if changed and obj.subject == "person":  # identity resolution matches product users to these
            record_crm_rows(conn, crm, [(r.id, obj.object_type, _mapped(obj, r)) for r in changed])
        summary.changed[obj.object_type] += len(changed)
        if moves or deletions:
            for kind, n in follow(conn, crm, moves, deletions).items():
                summary.lifecycle[kind] = summary.lifecycle.get(kind, 0) + n
        crm_store.set_watermark(conn, crm, obj.object_type, latest)


def _upsert_accounts(conn, crm: str, mapping, obj: ObjectMapping, records: list, known: dict) -> dict:
    """Accounts match an existing link, then a domain, else get a CRM-derived external id."""
    by_domain = crm_store.accounts_by_domain(conn, [str(_mapped(obj, r).get("domain") or "") for r in records])
    linked = crm_store.external_ids(conn, "accounts", [k["account_id"] for k in known.values() if k["account_id"]])
    rows, ext_of, now = [], {}, int(time.time())
    for r in records:
        values = _mapped(obj, r)
        domain = _domain(values.get("domain"))
        link = known.get(r.id, {}).get("account_id")
        ext = linked.get(link) or (by_domain.get(domain) or (None, None))[1] or f"{crm}:{obj.object_type}:{r.id}"
        ext_of[r.id] = ext
        attrs = {k: v for k, v in values.items() if k not in ("name", "domain")}
        rows.append({"external_id": ext, "name": values.get("name"), "domain": domain, "attributes": attrs,
                     "changed_at": change_time(r.modified_at, now)})
    ids = people_store.upsert_accounts(conn, rows)
    return {rid: ids[ext] for rid, ext in ext_of.items()}


def _upsert_people(conn, crm: str, mapping: CrmMapping, obj: ObjectMapping, records: list, known: dict) -> dict:
    """People match an existing link, then the one person of the canonical email, else get the email (or a
    CRM id) as external id."""
    by_email = people_by_canonical_email(conn, [canonical_email(_mapped(obj, r).get("email")) for r in records])
    linked = crm_store.external_ids(conn, "people", [k["person_id"] for k in known.values() if k["person_id"]])
    account_ids = _account_ids(conn, crm, mapping, obj, records)
    rows, ext_of, now = [], {}, int(time.time())
    for r in records:
        values = _mapped(obj, r)
        email = (values.get("email") or "").strip().lower() or None
        link = known.get(r.id, {}).get("person_id")
        ext = linked.get(link) or (by_email.get(canonical_email(email)) or (None, None))[1] or email \
            or f"{crm}:{obj.object_type}:{r.id}"
        ext_of[r.id] = ext
        rows.append({"external_id": ext, "email": email, "account_id": account_ids.get(r.id),
                     "attributes": {k: v for k, v in values.items() if k != "email"},
                     "changed_at": change_time(r.modified_at, now)})
    ids = people_store.upsert_people(conn, rows)
    return {rid: ids[ext] for rid, ext in ext_of.items()}


def _account_ids(conn, crm: str, mapping: CrmMapping, obj: ObjectMapping, records: list) -> dict:
    """record id -> our account id, through the person's account link and the account's CRM link."""
    accounts = mapping.for_subject("account")
    if not obj.account_link or not accounts:
        return {}
    wanted = {r.id: r.values.get(obj.account_link) for r in records if r.values.get(obj.account_link)}
    links = crm_store.links(conn, crm, accounts[0].object_type, [str(v) for v in wanted.values()])
    return {rid: links[str(aid)]["account_id"] for rid, aid in wanted.items() if str(aid) in links}


def _domain(value) -> str | None:
    """A bare lower-cased domain from a domain or website value."""
    if not value:
        return None
    text = str(value).strip().lower().split("://")[-1]
    return text.split("/")[0].removeprefix("www.") or None
