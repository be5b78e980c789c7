"""Ingest Segment-style messages: every valid message is stored once; each bad one is kept with its reason."""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from crm_app.errors import IngestError
from crm_app.services.identity.join import absorb_for_known_users, adopt_for_new_users, crm_only_candidates
from crm_app.services.identity.resolve import attach_accounts_by_domain
from crm_app.services.ingest.messages import Message, parse_message
from crm_app.store import Store
from crm_app.store.dialect import is_deadlock
from crm_app.store import events as event_store
from crm_app.store import people as people_store

DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024
DEADLOCK_RETRIES = 8


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)  # {"index": i, "reason": text}

    def as_json(self) -> dict:
        return {"success": not self.rejected, "accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": self.rejected}

    def merge(self, other: "IngestReport", offset: int = 0) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(dict(r, index=r["index"] + offset) for r in other.rejected)


def flatten(values: dict, prefix: str = "") -> dict:
    """Nested traits become dotted keys (address.country), so rules can name them."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _domain(traits: dict) -> str | None:
    domain = traits.get("domain") or traits.get("website")
    if not isinstance(domain, str) or not domain.strip():
        return None
    try:
        host = urlparse(domain if "//" in domain else f"//{domain}").hostname or ""
    except ValueError:  # not a URL (an unclosed IPv6 bracket): no domain, the account is still stored
        return None
    host = host.removeprefix("www.")
    return host if 0 < len(host) <= 255 else None


def _payload_text(raw) -> str:
    """The rejected message as JSON text for the rejects table; ASCII escapes keep NUL and surrogates storable."""
    try:
        return json.dumps(raw, default=str)[:65536]
    except (RecursionError, ValueError):
        return f"<{type(raw).__name__} that cannot be written as JSON>"


def ingest_messages(store: Store, raw_messages: list, source: str, default_type: str | None = None,
                    received_at: int | None = None, max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
                    positions: list | None = None, values_checked: bool = False) -> IngestReport:
    """Validate and store a list of messages in one transaction; return what was kept and what was refused.

    values_checked: the messages come from a body values.parse_body found plain (see parse_message)."""
    received_at = int(time.time()) if received_at is None else received_at
    report = IngestReport()
    valid: list[Message] = []
    rejects = []
    for i, raw in enumerate(raw_messages):
        position = positions[i] if positions else i
        try:
            valid.append(parse_message(raw, default_type, received_at, max_message_bytes, values_checked))
        except IngestError as exc:
            report.rejected.append({"index": position, "reason": str(exc)})
            rejects.append({"position": position, "reason": str(exc), "payload": _payload_text(raw)})
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            with store.begin() as conn:
                if valid:
                    report.accepted, report.duplicates = _store_messages(conn, valid, received_at)
                event_store.log_ingest(conn, source, received_at, report.accepted, report.duplicates, rejects)
            return report
        except Exception as exc:  # a deadlock: another writer held rows this batch needs, in the other order
            if not is_deadlock(exc) or attempt == DEADLOCK_RETRIES:
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # jitter: the two writers part ways
    return report


def _store_messages(conn, messages: list[Message], received_at: int) -> tuple[int, int]:
    account_rows = {}
    for m in messages:
        if m.group_id:
            row = account_rows.setdefault(m.group_id, {"external_id": m.group_id, "attributes": {}})
            if m.type == "group":
                traits = flatten(m.traits or {})
                row["attributes"].update(traits)
                row["name"] = traits.get("name") or row.get("name")
                row["domain"] = _domain(traits) or row.get("domain")
    accounts = people_store.upsert_accounts(conn, list(account_rows.values())) if account_rows else {}

    person_rows = {}
    for m in messages:
        if m.user_id is None:
            continue
        row = person_rows.setdefault(m.user_id, {"external_id": m.user_id, "attributes": {}, "created_at": m.ts})
        row["created_at"] = min(row["created_at"], m.ts)
        if m.group_id and m.type in ("group", "identify"):
            row["account_id"] = accounts[m.group_id]
        elif m.group_id and "account_id" not in row:
            row.setdefault("default_account_id", accounts[m.group_id])
        if m.type == "identify":
            traits = flatten(m.traits or {})
            row["email"] = traits.pop("email", None) or row.get("email")
            row["attributes"].update(traits)
    known = people_store.person_ids(conn, list(person_rows))
    updates = []
    for ext, row in person_rows.items():
        default_account = row.pop("default_account_id", None)
        if ext not in known or row.get("email") or row["attributes"] or row.get("account_id"):
            if default_account and ext not in known:
                row["account_id"] = default_account
            updates.append(row)
    ids = dict(known)
    if updates:
        # A sign-up whose CRM record was synced first becomes that CRM-only person (identity/join.py).
        candidates = crm_only_candidates(conn, updates)
        adopt_for_new_users(conn, updates, known, candidates)
        ids.update(people_store.upsert_people(conn, updates))
        absorb_for_known_users(conn, updates, ids, candidates)
        # No group id: the business email domain names the account (identity resolution, step 2). A row that
        # sets an account leaves its person with one: nothing to read for it.
        attach_accounts_by_domain(conn, [ids[r["external_id"]] for r in updates
                                         if r.get("email") and not r.get("account_id")])

    aliases = {m.anonymous_id: ids[m.user_id] for m in messages if m.anonymous_id and m.user_id}
    event_store.link_aliases(conn, aliases)
    anonymous_only = [m.anonymous_id for m in messages if m.user_id is None]
    alias_ids = event_store.alias_people(conn, anonymous_only) if anonymous_only else {}

    tracked = [m for m in messages if m.event]
    types = event_store.event_type_ids(conn, [m.event for m in tracked]) if tracked else {}
    rows = [{"message_id": m.message_id,
             "person_id": ids.get(m.user_id) if m.user_id else alias_ids.get(m.anonymous_id),
             "anonymous_id": m.anonymous_id, "type_id": types[m.event.strip().lower()], "ts": m.ts,
             "properties": flatten(m.properties or {}), "received_at": received_at} for m in tracked]
    stored, duplicates = event_store.insert_events(conn, rows) if rows else (0, 0)
    return stored + (len(messages) - len(tracked)), duplicates
