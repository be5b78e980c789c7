"""Bulk API 2.0 ingest jobs for the Salesforce emulator (Bulk API 2.0 and Bulk API Developer Guide:
"Create a Job", "Upload Job Data", "Close or Abort a Job", "Get Information About a Job",
"Get Job Successful / Failed Record Results"). CSV: an empty cell keeps the value, #N/A sets null.
Lead assignment rules run only when the job names an assignmentRuleId, so score writes cannot reassign.
"""
from __future__ import annotations

import csv
import io

from tests.emulators.salesforce import USER_ID, csv_rows, error, stamp
from tests.emulators.server import Request, Response


def handle_bulk(emu, req: Request, parts: list) -> Response:
    if not parts and req.method == "POST":
        return _create(emu, req.json() or {})
    job = emu.jobs.get(parts[0]) if parts else None
    if job is None:
        return error(404, "NOT_FOUND", "job not found")
    if parts[1:] == ["batches"] and req.method == "PUT":
        if job["state"] != "Open":
            return error(400, "INVALIDJOBSTATE", "the job is not open for data")
        if not req.headers.get("content-type", "").startswith("text/csv"):
            return error(400, "INVALIDCONTENTTYPE", "use Content-Type: text/csv")
        job["data"] += req.body.decode()
        return Response(201, b"", {"Content-Type": "text/plain"})
    if not parts[1:] and req.method == "PATCH":
        state = (req.json() or {}).get("state")
        if state == "UploadComplete" and job["state"] == "Open":
            _process(emu, job)
        elif state == "Aborted":
            job["state"] = "Aborted"
        return Response(200, _info(job))
    if not parts[1:] and req.method == "GET":
        return Response(200, _info(job))
    if parts[1:] in (["failedResults"], ["successfulResults"]) and req.method == "GET":
        rows = job["failed"] if parts[1] == "failedResults" else job["succeeded"]
        return Response(200, _csv(rows), {"Content-Type": "text/csv"})
    if not parts[1:] and req.method == "DELETE":
        emu.jobs.pop(parts[0], None)
        return Response(204)
    return error(404, "NOT_FOUND", "unknown bulk resource")


def _create(emu, body: dict) -> Response:
    if body.get("operation") not in ("insert", "update", "upsert", "delete", "hardDelete"):
        return error(400, "INVALIDJOB", "operation is required")
    if body.get("object") not in ("Lead", "Contact", "Account"):
        return error(400, "INVALIDJOB", f"unsupported object {body.get('object')}")
    job_id = emu.new_id("Job")
    emu.jobs[job_id] = {"id": job_id, "object": body["object"], "operation": body["operation"], "state": "Open",
                        "data": "", "failed": [], "succeeded": [], "createdDate": stamp(),
                        "assignmentRuleId": body.get("assignmentRuleId")}
    return Response(200, _info(emu.jobs[job_id]))


def _process(emu, job: dict) -> None:
    """Apply every row; a failed row goes to failedResults with sf__Error, the rest to successfulResults."""
    headers = {"sforce-auto-assign": "TRUE" if job["assignmentRuleId"] else "FALSE"}
    for row in csv_rows(job["data"]):
        record_id = row.get("Id", "")
        values = {}
        for name, cell in row.items():
            if name == "Id" or cell == "":
                continue  # an empty cell keeps the stored value
            values[name] = None if cell == "#N/A" else _typed(emu.field_type(job["object"], name), cell)
        problem = emu._update(job["object"], record_id, values, headers)
        if problem:
            job["failed"].append({"sf__Id": record_id, "sf__Error": f"{problem[0]}:{problem[1]}", **row})
        else:
            job["succeeded"].append({"sf__Id": record_id, "sf__Created": "false", **row})
    job["state"] = "JobComplete"


def _typed(ftype: str | None, cell: str):
    if ftype in ("double", "int"):
        try:
            number = float(cell)
        except ValueError:
            return cell
        return int(number) if ftype == "int" else number
    if ftype == "boolean":
        return {"true": True, "false": False}.get(cell.lower(), cell)
    return cell


def _info(job: dict) -> dict:
    return {"id": job["id"], "object": job["object"], "operation": job["operation"], "state": job["state"],
            "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF", "createdById": USER_ID,
            "createdDate": job["createdDate"], "numberRecordsProcessed": len(job["failed"]) + len(job["succeeded"]),
            "numberRecordsFailed": len(job["failed"]), "apiVersion": 59.0}


def _csv(rows: list[dict]) -> str:
    if not rows:
        return "sf__Id,sf__Error\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
