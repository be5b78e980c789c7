"""People and accounts: upserts that merge attributes, set-wise reads of flat records for scoring."""
from __future__ import annotations

import time

from sqlalchemy import Connection, select

from crm_app.store import field_history, membership, schema
from crm_app.store.bulk import bump_versions, lookup, rows_by_key
from crm_app.store.dialect import key_bounds, upsert



def email_domain(email) -> str | None:
    """The lower-cased domain of an email address, or None."""
    if not isinstance(email, str) or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


def _merge(existing: dict | None, new: dict) -> dict:
    merged = dict(existing or {})
    merged.update({k: v for k, v in new.items() if v is not None})
    return merged


def upsert_accounts(conn: Connection, rows: list[dict]) -> dict:
    """Create or update accounts by external_id, merging attributes; return external_id -> id."""
    ids = [r["external_id"] for r in rows]
    existing = rows_by_key(conn, "accounts", "external_id", ids)
    now = int(time.time())
    merged: dict[str, dict] = {}
    for row in rows:
        base = merged.get(row["external_id"]) or existing.get(row["external_id"], {})
        merged[row["external_id"]] = {
            "external_id": row["external_id"],
            "name": row.get("name") or base.get("name"),
            "domain": (row.get("domain") or base.get("domain") or None),
            "attributes": _merge(base.get("attributes"), row.get("attributes") or {}),
            "updated_at": now,
        }
    # As for people: an account a message names again, unchanged, is not written (nor locked) again.
    changed = {ext: m for ext, m in merged.items() if ext not in existing or m["name"] != existing[ext]["name"]
               or m["domain"] != existing[ext]["domain"] or m["attributes"] != (existing[ext]["attributes"] or {})}
    for part in _in_lock_order(changed, existing):
        upsert(conn, schema.accounts, part, ["external_id"], ["name", "domain", "attributes", "updated_at"])
    found = _ids_after_upsert(conn, "accounts", ids, existing)
    _record_account_history(conn, merged, existing, found, {r["external_id"]: r.get("changed_at") for r in rows},
                            now)
    return found


def _record_account_history(conn: Connection, merged: dict, existing: dict, found: dict, stamps: dict,
                            now: int) -> None:
    """Field history of the accounts whose attributes changed, at the row's `changed_at` or now. Accounts keep no
    creation time, so their first values are initial rows from time 0: they stand for all the time before."""
    initial, moved = [], []
    for ext, row in merged.items():
        before = existing.get(ext)
        if before is not None and (before.get("attributes") or {}) == row["attributes"]:
            continue
        first, later = field_history.changes(before.get("attributes") or {} if before else None, row["attributes"],
                                             0, stamps.get(ext) or now)
        initial += [(found[ext], *r) for r in first]
        moved += [(found[ext], *r) for r in later]
    field_history.record(conn, "account", initial, moved)


def _in_lock_order(rows: dict, existing: dict) -> tuple[list, list]:
    """Rows to update in key order, then new rows in arrival order.

    Updates lock rows; taking them in one order means concurrent PostgreSQL writers wait instead of
    deadlocking. New rows keep arrival order, because ids follow it; two writers inserting the same new keys
    in opposite orders can still deadlock, and ingest then retries the transaction (services/ingest.py)."""
    return ([rows[k] for k in sorted(rows) if k in existing],
            [row for k, row in rows.items() if k not in existing])


def _ids_after_upsert(conn: Connection, table_name: str, external_ids: list[str], existing: dict) -> dict:
    """external_id -> id: the rows read before the upsert already carry theirs, only new ones are looked up."""
    found = {ext: existing[ext]["id"] for ext in external_ids if ext in existing}
    new = [ext for ext in external_ids if ext not in found]
    if new:
        found.update(lookup(conn, table_name, "external_id", "id", new))
    return found


def account_ids(conn: Connection, external_ids: list[str]) -> dict:
    return lookup(conn, "accounts", "external_id", "id", external_ids)


def _earliest(*stamps):
    present = [t for t in stamps if t is not None]
    return min(present) if present else None


def upsert_people(conn: Connection, rows: list[dict]) -> dict:
    """Create or update people by external_id, merging attributes; queue those that changed for rescoring."""
    ids = [r["external_id"] for r in rows]
    existing = rows_by_key(conn, "people", "external_id", ids)
    now = int(time.time())
    merged: dict[str, dict] = {}
    for row in rows:
        ext = row["external_id"]
        base = merged.get(ext) or existing.get(ext, {})
        merged[ext] = {
            "external_id": ext,
            "email": row.get("email") or base.get("email"),
            "account_id": row.get("account_id") or base.get("account_id"),
            "attributes": _merge(base.get("attributes"), row.get("attributes") or {}),
            "created_at": _earliest(base.get("created_at"), row.get("created_at")) or now,
            "updated_at": now,
        }
    compared = ("email", "account_id", "attributes", "created_at")
    changed = {ext: m for ext, m in merged.items() if ext not in existing
               or any(m[c] != existing[ext][c] for c in compared)}
    for part in _in_lock_order(changed, existing):
        upsert(conn, schema.people, part, ["external_id"], ["email", "account_id", "attributes", "created_at",
                                                            "updated_at"])
    found = _ids_after_upsert(conn, "people", ids, existing)
    _record_history(conn, changed, existing, found, {r["external_id"]: r.get("changed_at") for r in rows}, now)
    changed = list(changed.values())
    # Only people whose data really changed are queued: a sync that re-reads what we hold rescores no one.
    mark_dirty(conn, [found[m["external_id"]] for m in changed])
    return found


def _record_history(conn: Connection, changed: dict, existing: dict, found: dict, stamps: dict, now: int) -> None:
    """Field history of the people whose attributes or account changed, at the row's `changed_at` or now."""
    initial, moved = [], []
    membership.record_moves(conn, [(found[ext], existing[ext].get("account_id"), row["account_id"], row["created_at"],
                                    stamps.get(ext) or now) for ext, row in changed.items() if ext in existing])
    for ext, row in changed.items():
        before = existing.get(ext)
        if before is not None and before.get("attributes") == row["attributes"]:
            continue
        first, later = field_history.changes(before.get("attributes") or {} if before else None, row["attributes"],
                                             row["created_at"], stamps.get(ext) or now)
        initial += [(found[ext], *r) for r in first]
        moved += [(found[ext], *r) for r in later]
    field_history.record(conn, "person", initial, moved)


def person_ids(conn: Connection, external_ids: list[str]) -> dict:
    return lookup(conn, "people", "external_id", "id", external_ids)


def ensure_people(conn: Connection, external_ids: list[str], created_at: dict | None = None) -> dict:
    """external_id -> id, creating a bare person for ids seen for the first time."""
    found = person_ids(conn, external_ids)
    missing = sorted({e for e in external_ids if e not in found})
    if missing:
        now = int(time.time())
        created_at = created_at or {}
        upsert(conn, schema.people, [{"external_id": e, "attributes": {}, "created_at": created_at.get(e, now),
                                      "updated_at": now} for e in missing], ["external_id"])
        found.update(person_ids(conn, missing))
    return found


def mark_dirty(conn: Connection, person_ids_: list[int]) -> None:
    """Queue people for the next incremental scoring; a re-mark bumps the version."""
    ids = [i for i in person_ids_ if i is not None]
    if ids:
        bump_versions(conn, "dirty_people", "person_id", ids)


def person_id_bounds(conn: Connection) -> tuple[int, int]:
    return key_bounds(conn, schema.people.c.id)


def flat_records(conn: Connection, lo: int, hi: int, only: list[int] | None = None) -> dict:
    """person id -> flat record: attributes, email, email_domain, and account.* fields."""
    p, a = schema.people, schema.accounts
    query = (select(p.c.id, p.c.external_id, p.c.email, p.c.attributes, p.c.created_at,
                    a.c.external_id.label("account_external_id"), a.c.name.label("account_name"),
                    a.c.domain.label("account_domain"), a.c.attributes.label("account_attributes"))
             .select_from(p.outerjoin(a, p.c.account_id == a.c.id)))
    query = query.where(p.c.id.in_(only)) if only is not None else query.where(p.c.id.between(lo, hi))
    records = {}
    for row in conn.execute(query):
        record = dict(row.attributes or {})
        record["external_id"] = row.external_id
        record["email"] = row.email
        record["email_domain"] = email_domain(row.email)
        record["created_at"] = row.created_at
        if row.account_external_id is not None:
            record["account.id"] = row.account_external_id
            record["account.name"] = row.account_name
            record["account.domain"] = row.account_domain
            for key, value in (row.account_attributes or {}).items():
                record[f"account.{key}"] = value
        records[row.id] = record
    # Segments the person is in (any model): playbook triggers and conditions read record["segments"].
    from crm_app.store.scoring.segments import segments_in_range
    for person_id, segments in segments_in_range(conn, "person", lo, hi, only).items():
        if person_id in records:
            records[person_id]["segments"] = segments
    return records
