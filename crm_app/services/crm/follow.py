"""CRM lifecycle events followed by sync: a converted lead, a merged record, a deleted one.

- conversion (Salesforce `ConvertedContactId`): the person's link moves from the Lead to the Contact;
- merge (Salesforce `MasterRecordId`, HubSpot `hs_merged_object_ids`): the link moves to the survivor;
- deletion (Salesforce queryAll `IsDeleted` or the delete log, HubSpot archived): the link is removed; the
  person and its history stay, and the record is remembered so the creation policy does not make a new one.

When the target record is already linked to another person, the two people are one: the one sync made
(CRM-only) is folded into the other, so scores and product history stay on the product user. Two product
users are never folded together; the target keeps its own person, and the other is remembered like a deleted
record's person, so the creation policy does not make the record the CRM user merged away. All of it is set-wise
per chunk.
"""
from __future__ import annotations

from crm_app.store import crm as crm_store
from crm_app.store import person_merge
from crm_app.store.sync import deletions as crm_deletions
from crm_app.store import identity as identity_store


def moves_and_deletions(records: list, object_type: str) -> tuple[list, list]:
    """(moves [(from type, from id, to type, to id)], deletions [(type, id)]) a chunk of records carries."""
    moves, deletions = [], []
    for r in records:
        for old in r.merged_from:
            moves.append((object_type, str(old), object_type, r.id))
        if not r.event:
            continue
        kind, target = r.event
        if kind == "deleted":
            deletions.append((object_type, r.id))
        elif kind == "merged":
            moves.append((object_type, r.id, object_type, str(target)))
        elif kind == "converted":
            moves.append((object_type, r.id, "Contact", str(target)))
    return moves, deletions


def follow(conn, crm: str, moves: list, deletions: list) -> dict:
    """Apply moves and deletions to the CRM links; return counts per kind."""
    links = _links(conn, crm, [(a, b) for a, b, _, _ in moves] + [(c, d) for _, _, c, d in moves] + deletions)
    removed = [(t, i, links[(t, i)]["person_id"]) for t, i in deletions
               if links.get((t, i), {}).get("person_id") is not None]
    made, absorbed, gone = [], {}, list(deletions)
    crm_only = person_merge.crm_only_ids(conn, crm, [v["person_id"] for v in links.values()])
    for src_type, src_id, dst_type, dst_id in moves:
        src, dst = links.get((src_type, src_id)), links.get((dst_type, dst_id))
        if src is None:
            continue
        gone.append((src_type, src_id))
        if dst is None:
            made.append(dict(src, object_type=dst_type, record_id=dst_id, input_hash=None))
            links[(dst_type, dst_id)] = made[-1]
            continue
        keep, drop = dst["person_id"], src["person_id"]
        if keep is None or drop is None or keep == drop:
            continue
        if keep not in crm_only and drop not in crm_only:  # two product users: the source's loses its record,
            removed.append((src_type, src_id, drop))  # and a CRM user's merge is not undone by creating one
        if keep in crm_only:  # the target's person is sync's: the source's person (with history) survives
            keep, drop = drop, keep
            made.append(dict(dst, person_id=keep))
        if drop in crm_only:
            absorbed[drop] = keep
    crm_store.delete_links(conn, crm, gone)
    crm_store.forget_failures(conn, crm, gone)
    crm_deletions.remember(conn, crm, removed)
    crm_store.save_links(conn, made)
    identity_store.forget_crm_people(conn, [f"{crm}:{t}:{i}" for t, i in gone])
    person_merge.absorb_people(conn, {a: _final(absorbed, s) for a, s in absorbed.items()})
    return {"moved": len(moves), "deleted": len(deletions), "people_joined": len(absorbed)}


def _final(chain: dict, person: int) -> int:
    seen = set()
    while person in chain and person not in seen:
        seen.add(person)
        person = chain[person]
    return person


def _links(conn, crm: str, records: list) -> dict:
    by_type: dict = {}
    for object_type, record_id in records:
        by_type.setdefault(object_type, []).append(record_id)
    out = {}
    for object_type, ids in by_type.items():
        out.update({(object_type, rid): row for rid, row in crm_store.links(conn, crm, object_type, ids).items()})
    return out
