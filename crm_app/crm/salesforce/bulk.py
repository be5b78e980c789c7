"""Large score writes through Bulk API 2.0 (one ingest job per object), with per-record failures read back.

Salesforce suggests REST / Composite below about 2,000 records and Bulk above. In CSV an empty cell keeps the
old value, so a field we do not change in a row is left empty, and a value we clear is written as #N/A.
Bulk jobs run lead assignment rules only when the job names an assignmentRuleId, which we never send.
"""
from __future__ import annotations

import csv
import io

from simple_salesforce.exceptions import SalesforceError

from crm_app.crm.base import CrmError, RecordUpdate, WriteOutcome
from crm_app.crm.values import to_bulk_csv


def write_bulk(adapter, updates: list[RecordUpdate]) -> list[WriteOutcome]:
    """One bulk update job per object type; outcomes in the order of `updates`."""
    by_object: dict[str, list[RecordUpdate]] = {}
    for update in updates:
        by_object.setdefault(update.object_type, []).append(update)
    failed: dict[str, str] = {}
    for object_type, part in by_object.items():
        failed.update(_run_job(adapter, object_type, part))
    return [WriteOutcome(u.id, u.id not in failed, failed.get(u.id)) for u in updates]


def _run_job(adapter, object_type: str, part: list[RecordUpdate]) -> dict[str, str]:
    columns = sorted({name for u in part for name in u.values})
    records = [{"Id": u.id, **{c: (to_bulk_csv(u.type_of(c), u.values[c]) if c in u.values else "")
                               for c in columns}} for u in part]
    handler = getattr(adapter.sf.bulk2, object_type)
    try:
        results = handler.update(records=records, wait=adapter.bulk_poll)
        failed: dict[str, str] = {}
        for result in results:
            if int(result.get("numberRecordsFailed") or 0):
                text = handler.get_failed_records(result["job_id"])
                failed.update({row["sf__Id"]: row["sf__Error"] for row in csv.DictReader(io.StringIO(text))})
        return failed
    except SalesforceError as exc:
        raise CrmError(f"Bulk API 2.0 job for {object_type} failed: {exc.content}") from exc
