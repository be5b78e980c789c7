"""The deletion check of a sync: CRM records that left without a change the incremental read can see.

Salesforce records purged from the Recycle Bin are only in the delete log; HubSpot's archived records never
reach search. The check asks the adapter for those ids, keeps the ones we are linked to, asks what became of
them (merged, converted, restored or gone) and follows that like any other lifecycle event. Records whose last
write failed as not found are asked about too: a HubSpot GDPR delete leaves no archived copy, and a Salesforce
record deleted longer ago than the delete log reaches is in neither. The check costs calls even when nothing
changed (HubSpot's archived list is read whole), so it runs at most every CRM_DELETED_CHECK_MINUTES, and on
every full sync.
"""
from __future__ import annotations

import logging
import time

from crm_app.crm.base import CrmError
from crm_app.services.crm.follow import follow, moves_and_deletions
from crm_app.store import Store
from crm_app.store import crm as crm_store

log = logging.getLogger("crm_app.sync")
# Write refusals that say the record is not there (HubSpot batch 207 category, Salesforce errorCode).
NOT_FOUND = ("OBJECT_NOT_FOUND", "ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY")


def _key(object_type: str) -> str:
    return f"{object_type}:deleted"  # beside the object's own watermark: "checked at|adapter checkpoint"


def check_deletions(store: Store, adapter, object_types: list[str], every_seconds: float,
                    now: float | None = None, never_read: set = frozenset()) -> dict:
    """Follow the deletions the adapter reports for these objects, where the last check is old enough.

    An object this sync read for the first time had no link to lose before it: its check only starts the
    clock (and the Salesforce delete-log window) without a call."""
    counts: dict = {}
    if not hasattr(adapter, "deleted_since"):
        return counts  # the sandbox deletes nothing behind our back
    now = time.time() if now is None else now
    for object_type in object_types:
        with store.read() as conn:
            mark = crm_store.watermark(conn, adapter.name, _key(object_type)) or ""
        checked, _, checkpoint = mark.partition("|")
        if checked and now - float(checked) < every_seconds:
            continue
        if not checked and object_type in never_read:
            with store.begin() as conn:
                crm_store.set_watermark(conn, adapter.name, _key(object_type),
                                        f"{int(now)}|{adapter.deleted_checkpoint() or ''}")
            continue
        try:
            ids, checkpoint = adapter.deleted_since(object_type, checkpoint or None)
        except CrmError as exc:  # the records read stay synced; the check is asked again next sync
            log.warning("deletion check of %s %s failed: %s", adapter.name, object_type, exc)
            counts["check_failed"] = counts.get("check_failed", 0) + 1
            continue
        with store.read() as conn:
            ids += [f["record_id"] for f in crm_store.failures(conn, adapter.name)
                    if f["object_type"] == object_type and any(code in (f["error"] or "") for code in NOT_FOUND)]
            linked = sorted(crm_store.links(conn, adapter.name, object_type, ids))
        records = adapter.lifecycle_of(object_type, linked) if linked else []
        moves, deletions = moves_and_deletions(records, object_type)
        with store.begin() as conn:
            if moves or deletions:
                for kind, n in follow(conn, adapter.name, moves, deletions).items():
                    counts[kind] = counts.get(kind, 0) + n
            crm_store.set_watermark(conn, adapter.name, _key(object_type), f"{int(now)}|{checkpoint or ''}")
    return counts
