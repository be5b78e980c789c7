"""Identity resolution: record CRM people, link product users to them and to accounts, report match rates.

Matching is recomputed from the current data on every run, so a CRM person who appears after the product
user's events (or a user whose email changes from gmail to a work address) is picked up by the next run;
the events were kept all along under the product user. Duplicates in the CRM are reported, never merged.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from crm_app.crm.base import CrmRecord
from crm_app.services.identity import matching as rules
from crm_app.store import Store
from crm_app.store import identity as identity_store
from crm_app.store.people import mark_dirty, person_id_bounds

# CRM fields that may hold the product user id explicitly (Salesforce custom field, HubSpot property, sandbox).
CHUNK = 50_000
PRODUCT_ID_FIELDS = ("product_user_id", "Product_User_Id__c", "PQL_User_Id__c", "external_id", "user_id")
RANK = {rules.METHOD_EXTERNAL_ID: 2, rules.METHOD_EMAIL: 1, rules.METHOD_HEURISTIC: 0}


@dataclass
class ResolveReport:
    people: int = 0
    crm_people: int = 0
    linked_people: int = 0
    links: dict = field(default_factory=dict)  # method -> CRM records linked
    accounts: dict = field(default_factory=dict)  # method -> people given (or refused) an account
    conflicts: list = field(default_factory=list)  # (crm key, [person external ids]) one CRM record, many users
    refused: list = field(default_factory=list)  # (crm key, [person external ids]) a name guess with rivals
    seconds: float = 0.0


def crm_person_row(record: CrmRecord, crm: str) -> dict:
    """A CRM lead/contact as an identity row: canonical email, normalized name, explicit product id."""
    values = {k: v for k, v in record.values.items()}
    lowered = {str(k).lower(): v for k, v in values.items()}
    product_id = next((str(values[f]).strip() for f in PRODUCT_ID_FIELDS if values.get(f)), None)
    return {"key": f"{crm}:{record.object_type}:{record.id}",
            "email": rules.canonical_email(lowered.get("email")),
            "name": rules.full_name(lowered), "product_user_id": product_id or None}


def record_crm_people(store: Store, records: list[CrmRecord], crm: str) -> int:
    """Store CRM leads/contacts for matching (called by sync, or by an import); return how many."""
    rows = [crm_person_row(r, crm) for r in records]
    with store.begin() as conn:
        identity_store.save_crm_people(conn, rows)
    return len(rows)


def record_crm_rows(conn, crm: str, records: list[tuple]) -> None:
    """Inside a sync's transaction: (record id, object type, mapped values) of CRM people, for matching.

    Mapped values use our field names; map first_name / last_name / product_user_id in mapping/crm.yaml to
    let the name heuristic and the explicit-id match see them.
    """
    rows = [crm_person_row(CrmRecord(object_type, rid, values, ""), crm) for rid, object_type, values in records]
    identity_store.save_crm_people(conn, rows)


def resolve_identities(store: Store) -> ResolveReport:
    """Link every product user to CRM people and to an account, set-wise in one pass; return the tallies."""
    started = time.time()
    report = ResolveReport()
    with store.begin() as conn:
        crm = [rules.CrmPerson(*row) for row in identity_store.all_crm_people(conn)]
        index = rules.build_index(crm)
        domains = identity_store.accounts_by_domain(conn)
        owner: dict = {}  # crm key -> (person id, method, external id)
        guessed: dict = {}  # crm key -> external ids of every user the name heuristic matched to it
        account_rows = []
        lo, hi = person_id_bounds(conn)
        for start in range(lo, hi + 1, CHUNK):  # people in ranges: memory stays bounded at any size
            for pid, external_id, email, attributes, account_id in identity_store.people_for_matching(
                    conn, start, start + CHUNK - 1):
                report.people += 1
                keys, method = rules.match_person(external_id, email, rules.full_name(attributes or {}), index)
                for key in keys:
                    if method == rules.METHOD_HEURISTIC:
                        guessed.setdefault(key, []).append(external_id)
                    if key in owner and RANK[method] == RANK[owner[key][1]]:
                        report.conflicts.append((key, [owner[key][2], external_id], method))
                        continue
                    if key in owner and RANK[method] < RANK[owner[key][1]]:
                        continue  # an exact match outranks a name guess, whichever person came first
                    owner[key] = (pid, method, external_id)
                if account_id is None:
                    matched, how = rules.match_account(None, email, domains)
                    if how:
                        account_rows.append({"person_id": pid, "account_id": matched, "method": how})
        # Two product users a name guess fits equally are two candidates: the guess is refused for both.
        for key, users in guessed.items():
            if owner.get(key, (None, None))[1] != rules.METHOD_HEURISTIC:
                continue  # exactly matched: the guesses simply lost
            if len(users) > 1:
                del owner[key]
                report.refused.append((key, users))
        # A conflict stands when its match is the one that owns the record: guesses an exact match beat are not.
        refused = {k for k, _ in report.refused}
        report.conflicts = [(key, users) for key, users, how in report.conflicts
                            if key not in refused and owner.get(key, (None, None))[1] == how]
        links = [{"crm_key": k, "person_id": v[0], "method": v[1], "linked_at": int(started)}
                 for k, v in owner.items()]
        identity_store.replace_links(conn, links)
        identity_store.save_account_matches(conn, account_rows)
        mark_dirty(conn, [r["person_id"] for r in account_rows if r["account_id"] is not None])
    report.crm_people = len(crm)
    report.linked_people = len({v[0] for v in owner.values()})
    for _, method, _ in owner.values():
        report.links[method] = report.links.get(method, 0) + 1
    for row in account_rows:
        report.accounts[row["method"]] = report.accounts.get(row["method"], 0) + 1
    report.seconds = time.time() - started
    return report


def attach_accounts_by_domain(conn, person_ids: list[int]) -> int:
    """At ingest: give people with an email but no account the one account holding their business domain."""
    emails = identity_store.people_without_account(conn, person_ids)
    domains = {pid: rules.domain_of(email) for pid, email in emails.items()}
    wanted = [d for d in domains.values() if not rules.is_personal(d)]
    if not wanted:
        return 0
    by_domain = identity_store.accounts_for_domains(conn, wanted)
    rows = []
    for pid, email in emails.items():
        account_id, how = rules.match_account(None, email, by_domain)
        if how:
            rows.append({"person_id": pid, "account_id": account_id, "method": how})
    identity_store.save_account_matches(conn, rows)
    mark_dirty(conn, [r["person_id"] for r in rows if r["account_id"] is not None])
    return sum(1 for r in rows if r["account_id"] is not None)


def identity_status(store: Store, top: int = 10) -> dict:
    """Match rates, the largest unmatched identities and the CRM duplicates, as plain data."""
    from sqlalchemy import func, select

    from crm_app.store import schema
    with store.read() as conn:
        people = conn.execute(select(func.count()).select_from(schema.people)).scalar() or 0
        with_account = conn.execute(select(func.count()).select_from(schema.people)
                                    .where(schema.people.c.account_id.is_not(None))).scalar() or 0
        crm_total = conn.execute(select(func.count()).select_from(identity_store.crm_people)).scalar() or 0
        links = identity_store.link_counts(conn)
        linked = len(identity_store.linked_person_ids(conn))
        unmatched = identity_store.unmatched_by_events(conn, top)
        anonymous = identity_store.anonymous_backlog(conn, top)
        duplicates = identity_store.duplicate_groups(conn)
    return {"people": people, "people_linked_to_crm": linked, "people_with_account": with_account,
            "crm_people": crm_total, "crm_linked": sum(links.values()), "links_by_method": links,
            "largest_unmatched": unmatched, "anonymous_unidentified": anonymous, "duplicates": duplicates}


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100.0 * part / whole:.1f}%)" if whole else "0/0"


def format_identity_status(status: dict) -> list[str]:
    """Lines for `python -m crm_app status`."""
    methods = ", ".join(f"{m} {n}" for m, n in sorted(status["links_by_method"].items())) or "none"
    lines = [f"identity: product users matched to CRM {_rate(status['people_linked_to_crm'], status['people'])}; "
             f"CRM people matched {_rate(status['crm_linked'], status['crm_people'])} (by {methods}); "
             f"users with an account {_rate(status['people_with_account'], status['people'])}"]
    if status["largest_unmatched"]:
        lines.append("  largest unmatched users (no CRM person yet):")
        lines.extend(f"    {ext} <{email or 'no email'}> {n} events" for ext, email, n in status["largest_unmatched"])
    if status["anonymous_unidentified"]:
        lines.append("  largest unidentified anonymous ids (events kept, attached on identify):")
        lines.extend(f"    {anon} {n} events" for anon, n in status["anonymous_unidentified"])
    if status["duplicates"]:
        lines.append(f"  CRM duplicates (reported, not merged): {len(status['duplicates'])} person(s)")
        lines.extend(f"    person {pid}: {', '.join(keys)}" for pid, keys in status["duplicates"][:10])
    return lines
