"""Records that left the CRM without a change an incremental read can see.

- Salesforce: queryAll shows a deleted record while it is in the Recycle Bin. Once the bin is emptied (or a
  hard delete skips it) only the delete log knows: "sObject Get Deleted" lists ids deleted in a window, no more
  than 15 days back; `latestDateCovered` is where the next window starts.
- HubSpot: an archived contact or company leaves search, so the incremental read never sees it. The list
  endpoint with `archived=true` shows the recycling bin; there is no time filter, so it is read whole.

`deleted_since` gives candidate ids; `lifecycle_of` asks what became of the few we are linked to: merged into
a survivor, converted, restored, or gone (then "deleted").
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from crm_app.crm.base import CrmRecord

LIFECYCLE_FIELDS = {"Lead": ("IsDeleted", "MasterRecordId", "IsConverted", "ConvertedContactId"),
                    "Contact": ("IsDeleted", "MasterRecordId"), "Account": ("IsDeleted", "MasterRecordId")}
DELETE_LOG_DAYS = 14  # getDeleted answers no more than 15 days back; a day less keeps clear of the edge
FIRST_WINDOW = timedelta(days=1)
IN_CHUNK = 200
BATCH = 100


def salesforce_event(row: dict) -> tuple | None:
    """What happened to a record read with queryAll: merged, deleted or converted; None for a live one."""
    if row.get("IsDeleted"):
        return ("merged", row["MasterRecordId"]) if row.get("MasterRecordId") else ("deleted", None)
    if row.get("IsConverted") and row.get("ConvertedContactId"):
        return ("converted", row["ConvertedContactId"])
    return None


def _sf_datetime(text: str) -> datetime:
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


def _outcomes(object_type: str, asked: list[str], events: dict) -> list[CrmRecord]:
    """One record per asked id that is not live: its event, or deleted when the CRM no longer has it."""
    return [CrmRecord(object_type, rid, {}, "", event=events.get(rid, ("deleted", None)))
            for rid in asked if events.get(rid, ("deleted", None)) is not None]


class SalesforceDeletions:
    """Mixed into SalesforceCrm: needs its `sf`, `_call` and `_query`."""

    clock = staticmethod(lambda: datetime.now(UTC))  # the end of a delete-log window

    def deleted_since(self, object_type: str, checkpoint: str | None) -> tuple[list[str], str | None]:
        """(ids in the delete log since the checkpoint, the next checkpoint); one call."""
        if object_type not in LIFECYCLE_FIELDS:
            return [], checkpoint
        end = self.clock()
        start = _sf_datetime(checkpoint) if checkpoint else end - FIRST_WINDOW
        start = max(start, end - timedelta(days=DELETE_LOG_DAYS))
        if end - start < timedelta(minutes=1):  # the log is covered to the whole minute: nothing new yet
            return [], checkpoint
        result = self._call(lambda: getattr(self.sf, object_type).deleted(start, end))
        ids = [r["id"] for r in result.get("deletedRecords") or []]
        return ids, result.get("latestDateCovered") or checkpoint

    def deleted_checkpoint(self) -> str:
        """Where the delete-log window of a first check starts: now, to the whole minute (no call)."""
        return self.clock().strftime("%Y-%m-%dT%H:%M:00.000+0000")

    def lifecycle_of(self, object_type: str, ids: list[str]) -> list[CrmRecord]:
        """What became of these records (queryAll by id, 200 a query); live ones are left out."""
        life = LIFECYCLE_FIELDS[object_type]
        events: dict = {}
        for start in range(0, len(ids), IN_CHUNK):
            part = ", ".join(f"'{i}'" for i in ids[start:start + IN_CHUNK] if str(i).isalnum())
            if not part:
                continue
            for row in self._query(f"SELECT Id, {', '.join(life)} FROM {object_type} WHERE Id IN ({part})",
                                   include_deleted=True):
                events[row["Id"]] = salesforce_event(row)
        return _outcomes(object_type, ids, events)


class HubSpotDeletions:
    """Mixed into HubSpotCrm: needs its `basic_api`, `batch_api` and `_call`."""

    def deleted_since(self, object_type: str, checkpoint: str | None) -> tuple[list[str], str | None]:
        """(every archived id, the checkpoint unchanged): the list has no time filter; 100 a call."""
        ids, after = [], None
        while True:
            raw = self._call(lambda after=after: self.basic_api.get_page(object_type, limit=BATCH, after=after,
                                                                         archived=True, _preload_content=False))
            page = json.loads(raw.data or b"{}")
            ids += [str(r["id"]) for r in page.get("results") or []]
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return ids, checkpoint

    def deleted_checkpoint(self) -> None:
        return None  # the archived list has no window

    def lifecycle_of(self, object_type: str, ids: list[str]) -> list[CrmRecord]:
        """A batch read (100 ids a call) answers a merged-away id with the survivor, and leaves a deleted one out."""
        events: dict = {}
        for start in range(0, len(ids), BATCH):
            asked = set(ids[start:start + BATCH])
            body = {"inputs": [{"id": i} for i in sorted(asked)], "properties": ["hs_merged_object_ids"]}
            raw = self._call(lambda body=body: self.batch_api.read(object_type, body, _preload_content=False))
            for record in json.loads(raw.data or b"{}").get("results") or []:
                survivor = str(record["id"])
                if survivor in asked:
                    events[survivor] = None  # restored from the recycling bin
                merged = str((record.get("properties") or {}).get("hs_merged_object_ids") or "").split(";")
                events.update({old: ("merged", survivor) for old in merged if old in asked and old != survivor})
        return _outcomes(object_type, ids, events)
