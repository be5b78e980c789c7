"""Deletion, lead conversion and merges in the Salesforce emulator.

- REST API "Delete a Record" (DELETE /sobjects/{Object}/{id} -> 204): the record goes to the Recycle Bin with
  IsDeleted = true; /query no longer returns it, /queryAll does ("QueryAll"); deleting an account deletes its
  contacts, and deleting a lead, contact or account deletes its tasks (Salesforce Help, "Delete Accounts",
  "Delete Contacts").
- REST API "Get Deleted Records" (GET /sobjects/{Object}/deleted/?start=&end=): deletedRecords [{id,
  deletedDate}], earliestDateAvailable and latestDateCovered (the end, or now, to the whole minute).
- SOAP API "emptyRecycleBin()" (and Bulk API hard delete): the record leaves the Recycle Bin for good, so
  /queryAll no longer finds it; the delete log still lists it for getDeleted ("sObject Get Deleted": deleted
  records are kept in the delete log, results go back no more than 15 days).
- SOAP API "convertLead()": the lead becomes a contact on a new or existing account; the lead is marked
  IsConverted with ConvertedContactId, ConvertedAccountId and ConvertedDate, and its open tasks move to the
  contact. Converted leads are read-only afterwards.
- SOAP API "merge()": leads, contacts or accounts; a master and at most two duplicates; the duplicates are
  deleted with MasterRecordId set to the master, and their related records are moved to the master.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from tests.emulators import soql
from tests.emulators.salesforce_schema import id18, object_of
from tests.emulators.server import Request, Response

MERGEABLE = ("Lead", "Contact", "Account")
REPLICATED = ("Lead", "Contact", "Account", "Task")


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".000+0000"


def soft_delete(emu, obj: str, record: dict, master: str | None = None) -> None:
    record.update(IsDeleted=True, SystemModstamp=emu.tick())
    if master:
        record["MasterRecordId"] = master
    emu.deleted_at[record["Id"]] = record["SystemModstamp"]


def delete(emu, record_id: str):
    """Recycle one record and what goes with it; None, or an error (errorCode, message, fields)."""
    full = id18(record_id)
    obj = object_of(full) if full else None
    record = emu.records.get(obj, {}).get(full) if obj else None
    if record is None:
        return ("MALFORMED_ID" if full is None else "NOT_FOUND", f"invalid id: {record_id}", [])
    if record.get("IsDeleted"):
        return ("ENTITY_IS_DELETED", "entity is deleted", [])
    soft_delete(emu, obj, record)
    if obj == "Account":
        for contact in list(emu.live("Contact")):
            if contact.get("AccountId") == full:
                delete(emu, contact["Id"])
    if obj in MERGEABLE:
        for task in list(emu.live("Task")):
            if full in (task.get("WhoId"), task.get("WhatId")):
                soft_delete(emu, "Task", task)
    return None


def handle_delete(emu, obj: str, record_id: str) -> Response:
    full = id18(record_id)
    if full is None or object_of(full) != obj:
        return Response(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND",
                               "fields": []}])
    problem = delete(emu, full)
    if problem:
        return Response(404, [{"message": problem[1], "errorCode": problem[0], "fields": []}])
    return Response(204)


def get_deleted(emu, obj: str, req: Request) -> Response:
    if obj not in REPLICATED:
        return Response(400, [{"message": f"{obj} is not replicable", "errorCode": "INVALID_TYPE", "fields": []}])
    try:
        start = soql.parse_datetime(req.query["start"].replace(" ", "+"))
        end = soql.parse_datetime(req.query["end"].replace(" ", "+"))
    except KeyError as missing:
        return Response(400, [{"message": f"Missing parameter {missing}", "errorCode": "MISSING_ARGUMENT",
                               "fields": []}])
    except ValueError:
        return Response(400, [{"message": "start and end must be ISO 8601 datetimes", "errorCode":
                               "INVALID_REPLICATION_DATE", "fields": []}])
    earliest = _minute(emu.started - timedelta(days=15))
    if end <= start or start < earliest:
        return Response(400, [{"message": "startDate must be before endDate and not before the earliest date "
                               "available", "errorCode": "INVALID_REPLICATION_DATE", "fields": []}])
    covered = _minute(min(end, emu.clock))
    rows = [{"id": rid, "deletedDate": when} for rid, when in emu.deleted_at.items()
            if object_of(rid) == obj and start <= soql.parse_datetime(when) < covered]
    return Response(200, {"deletedRecords": sorted(rows, key=lambda r: r["deletedDate"]),
                          "earliestDateAvailable": _stamp(earliest), "latestDateCovered": _stamp(covered)})


def purge(emu, record_id: str) -> None:
    """emptyRecycleBin(): a recycled record is gone for good; the delete log keeps its id and date."""
    full = id18(record_id)
    obj = object_of(full) if full else None
    record = emu.records.get(obj, {}).get(full) if obj else None
    if record is None or not record.get("IsDeleted"):
        raise ValueError(f"{record_id} is not in the Recycle Bin")
    del emu.records[obj][full]


def convert_lead(emu, lead_id: str, account_id: str | None = None, contact_id: str | None = None) -> dict:
    """Convert a lead; returns {leadId, accountId, contactId}. Raises ValueError where convertLead() fails."""
    lead = emu.records["Lead"].get(id18(lead_id) or "")
    if lead is None or lead.get("IsDeleted"):
        raise ValueError(f"no live lead {lead_id}")
    if lead.get("IsConverted"):
        raise ValueError(f"lead {lead_id} is already converted")
    for kind, given in (("Account", account_id), ("Contact", contact_id)):
        if given and (emu.records[kind].get(id18(given) or "") or {"IsDeleted": True}).get("IsDeleted"):
            raise ValueError(f"no live {kind} {given}")
    account = id18(account_id) if account_id else emu.insert("Account", {"Name": lead.get("Company") or
                                                                         lead["LastName"], "IsDeleted": False})
    person = {k: lead.get(k) for k in ("FirstName", "LastName", "Email", "Title") if lead.get(k) is not None}
    if contact_id:
        contact = id18(contact_id)
        existing = emu.records["Contact"][contact]
        existing.update(AccountId=existing.get("AccountId") or account, SystemModstamp=emu.tick())
    else:
        contact = emu.insert("Contact", {**person, "AccountId": account, "MailingCountry": lead.get("Country"),
                                         "OwnerId": lead.get("OwnerId"), "IsDeleted": False})
    lead.update(IsConverted=True, ConvertedContactId=contact, ConvertedAccountId=account,
                ConvertedDate=emu.clock.strftime("%Y-%m-%d"), SystemModstamp=emu.tick())
    for task in emu.live("Task"):
        if task.get("WhoId") == lead["Id"]:
            task.update(WhoId=contact, WhatId=task.get("WhatId") or account, SystemModstamp=emu.tick())
    return {"leadId": lead["Id"], "accountId": account, "contactId": contact}


def merge(emu, obj: str, master_id: str, duplicate_ids: list) -> None:
    """Merge one or two duplicates into the master. Raises ValueError where merge() fails."""
    if obj not in MERGEABLE:
        raise ValueError(f"{obj} records cannot be merged")
    if not 1 <= len(duplicate_ids) <= 2:
        raise ValueError("merge takes a master and one or two duplicates")
    master = id18(master_id)
    ids = [master] + [id18(d) for d in duplicate_ids]
    if len(set(ids)) != len(ids):
        raise ValueError("the master and duplicates must be different records")
    for record_id in ids:
        record = emu.records[obj].get(record_id or "")
        if record is None or record.get("IsDeleted"):
            raise ValueError(f"no live {obj} {record_id}")
        if obj == "Lead" and record.get("IsConverted"):
            raise ValueError("converted leads cannot be merged")
    for duplicate in ids[1:]:
        for task in emu.live("Task"):
            moved = {f: master for f in ("WhoId", "WhatId") if task.get(f) == duplicate}
            if moved:
                task.update(moved, SystemModstamp=emu.tick())
        if obj == "Account":
            for contact in emu.live("Contact"):
                if contact.get("AccountId") == duplicate:
                    contact.update(AccountId=master, SystemModstamp=emu.tick())
        soft_delete(emu, obj, emu.records[obj][duplicate], master=master)
    emu.records[obj][master]["SystemModstamp"] = emu.tick()
