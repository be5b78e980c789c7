"""One person, whichever side came first: a product user who signs up joins the CRM-only person sync made.

Sync makes a person for a CRM record no product user matches yet (its email as external id). When a
product user then identifies with that email (canonical: trimmed, lower-cased, `+tag` removed), the two
become one: a new user takes over the CRM-only person (its id, links, scores and history stay); a user who
already existed absorbs it (links and events move, the duplicate row goes). An email two users of one
batch share joins neither: a guess between them could merge two different people.
"""
from __future__ import annotations

from crm_app.services.identity.matching import canonical_email
from crm_app.store import person_merge


def _by_email(rows: list[dict]) -> dict:
    found: dict = {}
    for row in rows:
        canon = canonical_email(row.get("email"))
        if canon:
            found.setdefault(canon, []).append(row["external_id"])
    return found


def crm_only_candidates(conn, rows: list[dict]) -> dict:
    """canonical email -> CRM-only person ids, for every email the rows carry: read once, before the upsert,
    it serves both steps below (a person adopted in between is its user's survivor, which absorb skips)."""
    return person_merge.crm_only_people(conn, list(_by_email([r for r in rows if r.get("email")])))


def adopt_for_new_users(conn, rows: list[dict], known: dict, candidates: dict | None = None) -> int:
    """Before the upsert: a new user with one CRM-only person of its email takes that person over."""
    emails = _by_email([r for r in rows if r["external_id"] not in known])
    candidates = person_merge.crm_only_people(conn, list(emails)) if candidates is None else candidates
    candidates = {e: ids for e, ids in candidates.items() if e in emails}
    names = {ids[0]: emails[e][0] for e, ids in candidates.items() if len(ids) == 1 and len(emails[e]) == 1}
    person_merge.rename_people(conn, names)
    return len(names)


def absorb_for_known_users(conn, rows: list[dict], ids: dict, candidates: dict | None = None) -> int:
    """After the upsert: users who (now) carry an email absorb the CRM-only people of that email."""
    emails = _by_email([r for r in rows if r.get("email")])
    candidates = person_merge.crm_only_people(conn, list(emails)) if candidates is None else candidates
    pairs = {}
    for email, people in candidates.items():
        if len(emails[email]) != 1:
            continue
        survivor = ids.get(emails[email][0])
        pairs.update({pid: survivor for pid in people if survivor is not None and pid != survivor})
    return person_merge.absorb_people(conn, pairs) if pairs else 0
