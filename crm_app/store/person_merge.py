"""Joining two rows of people that are one person: a CRM-only person (made by sync) and the product user.

Set-wise: each statement handles a whole batch of pairs through a CASE mapping, never one query per person.
"""
from __future__ import annotations

from sqlalchemy import Connection, bindparam, case, delete, exists, or_, select

from crm_app.store import schema
from crm_app.store.bulk import lookup
from crm_app.store.crm import crm_links
from crm_app.store.sync.deletions import crm_deleted
from crm_app.store.dialect import chunks
from crm_app.store.identity import account_matches, crm_people, identity_links
from crm_app.store.people import mark_dirty
from crm_app.store.playbooks.merge import account_subjects, move_playbook_rows
from crm_app.store.scoring.segments import segment_members


def crm_only_people(conn: Connection, emails: list[str]) -> dict:
    """canonical email -> sorted person ids of CRM-only people (made by sync) with a CRM record of that email.

    A CRM-only person is linked to a CRM record and its external id is its email or a CRM-derived id
    (`crm:object:id`): sync made it, no product user did.
    """
    p, cp, links = schema.people, crm_people, crm_links
    out: dict = {}
    # Ingest asks for every batch: a driver-level read first, so emails no CRM record carries cost no join
    # (and no statement is built).
    emails = lookup(conn, cp.name, "email", "email", [e for e in emails if e])
    if not emails:
        return out
    key = links.c.crm + ":" + links.c.object_type + ":" + links.c.record_id
    for part in chunks(sorted(emails), 900):
        q = (select(cp.c.email, p.c.id).distinct()
             .select_from(cp.join(links, key == cp.c.key).join(p, p.c.id == links.c.person_id))
             .where(cp.c.email.in_(part),
                    or_(p.c.external_id == p.c.email, p.c.external_id.like(links.c.crm + ":%"))))
        for email, pid in conn.execute(q):
            out.setdefault(email, set()).add(pid)
    return {e: sorted(ids) for e, ids in out.items()}


def rename_people(conn: Connection, names: dict) -> None:
    """person id -> new external id (a CRM-only person becomes the product user who signed up)."""
    if not names:
        return
    p = schema.people
    stmt = p.update().where(p.c.id == bindparam("pid")).values(external_id=bindparam("ext"))
    for part in chunks([{"pid": pid, "ext": ext} for pid, ext in sorted(names.items())], 2000):
        conn.execute(stmt, part)


def absorb_people(conn: Connection, pairs: dict) -> int:
    """Fold each absorbed person into its survivor (absorbed id -> survivor id); return how many were folded.

    Events, aliases, CRM links, identity links, deleted-record marks and person playbook rows (state,
    ledger, alerts, feedback: store/playbooks/merge.py) move; the survivor keeps its own attributes over the
    absorbed ones and takes the absorbed email / account when it has none. Results and history of a person
    model move when the survivor has none of that model, and are dropped when it has (account models' rows,
    keyed by account id, are never touched). Metrics, queue and account-match rows are dropped for the
    absorbed person; the survivor is queued for rescoring, which recomputes them.
    """
    pairs = {a: s for a, s in pairs.items() if a != s}
    account_models, account_playbooks = account_subjects(conn)
    for part in chunks(sorted(pairs.items()), 500):
        mapping = dict(part)
        froms = sorted(mapping)
        target = lambda col: case(mapping, value=col)  # noqa: E731
        _merge_rows(conn, mapping)
        for table, col in ((schema.events, "person_id"), (schema.aliases, "person_id"),
                           (crm_links, "person_id"), (identity_links, "person_id"), (crm_deleted, "person_id")):
            c = table.c[col]
            conn.execute(table.update().where(c.in_(froms)).values({col: target(c)}))
        for table in (schema.results, schema.score_history):
            other = table.alias("survivor")
            taken = exists().where(other.c.subject_id == target(table.c.subject_id),
                                   other.c.model == table.c.model)
            mine = (table.c.subject_id.in_(froms), table.c.model.not_in(sorted(account_models)))
            conn.execute(delete(table).where(*mine, taken))
            conn.execute(table.update().where(*mine).values(subject_id=target(table.c.subject_id)))
        move_playbook_rows(conn, mapping, account_playbooks, account_models)
        sm = segment_members
        conn.execute(delete(sm).where(sm.c.subject == "person", sm.c.subject_id.in_(froms)))
        for table in (schema.metrics, schema.dirty, account_matches):
            conn.execute(delete(table).where(table.c.person_id.in_(froms)))
        conn.execute(delete(schema.people).where(schema.people.c.id.in_(froms)))
    mark_dirty(conn, sorted(set(pairs.values())))
    return len(pairs)


def _merge_rows(conn: Connection, mapping: dict) -> None:
    """The survivor's attributes win; its missing email and account are taken from the absorbed person."""
    p = schema.people
    ids = sorted(set(mapping) | set(mapping.values()))
    rows = {r.id: r for r in conn.execute(select(p.c.id, p.c.email, p.c.account_id, p.c.attributes,
                                                 p.c.created_at).where(p.c.id.in_(ids)))}
    updates = []
    for absorbed, survivor in mapping.items():
        a, s = rows.get(absorbed), rows.get(survivor)
        if a is None or s is None:
            continue
        stamps = [t for t in (a.created_at, s.created_at) if t is not None]
        updates.append({"pid": survivor, "email": s.email or a.email, "acc": s.account_id or a.account_id,
                        "attrs": {**(a.attributes or {}), **(s.attributes or {})},
                        "created": min(stamps) if stamps else None})
    if updates:
        conn.execute(p.update().where(p.c.id == bindparam("pid")).values(
            email=bindparam("email"), account_id=bindparam("acc"), attributes=bindparam("attrs"),
            created_at=bindparam("created")), updates)





def crm_only_ids(conn: Connection, crm: str, person_ids: list[int]) -> set:
    """Which of these people sync made (external id = its email, or `crm:object:id`)."""
    p = schema.people
    out: set = set()
    for part in chunks(sorted({i for i in person_ids if i is not None}), 900):
        out.update(conn.execute(select(p.c.id).where(p.c.id.in_(part), or_(
            p.c.external_id == p.c.email, p.c.external_id.like(f"{crm}:%")))).scalars())
    return out
