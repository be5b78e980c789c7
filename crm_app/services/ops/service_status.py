"""Status of the running service: the scheduler lease, every job's last run, the active and refused rule sets."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from crm_app.services.ops.jobs import JOBS
from crm_app.store import Store
from crm_app.store import ops as ops_store

LEASE = "scheduler"


def service_status(store: Store) -> dict:
    """Lease, jobs (every registered job, run or not) and rule sets, as plain data."""
    with store.read() as conn:
        lease = ops_store.lease_state(conn, LEASE)
        runs = ops_store.all_job_runs(conn)
        rules = ops_store.rule_set_state(conn)
        if rules["active"]:
            applied = ops_store.rule_set_applied(conn, rules["active"]["hash"])
            rules["active"]["files"] = applied["files"] if applied else None
    now = time.time()
    if lease:
        lease = {"holder": lease["holder"], "live": lease["expires_at"] > now,
                 "expires_in": round(lease["expires_at"] - now, 1), "since": int(lease["acquired_at"])}
    jobs = {}
    for job in JOBS:
        run = runs.get(job.name)
        jobs[job.name] = {"schedule": f"{job.trigger} {job.setting}", "help": job.help,
                          "last": None if run is None else {
                              k: run[k] for k in ("started_at", "seconds", "outcome", "error", "api_calls",
                                                  "detail", "runs", "failures", "host")}}
    return {"scheduler": lease, "jobs": jobs, "rule_sets": rules}


def _when(epoch: float | None) -> str:
    if not epoch:
        return "never"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def format_service_status(status: dict) -> list[str]:
    """Lines for `python -m crm_app status`."""
    lines = []
    lease = status["scheduler"]
    if lease is None:
        lines.append("scheduler: no worker has run yet (start one: python -m crm_app worker)")
    else:
        state = f"live, renews within {lease['expires_in']}s" if lease["live"] else "EXPIRED (no worker running)"
        lines.append(f"scheduler: held by {lease['holder']} ({state})")
    for name, job in status["jobs"].items():
        last = job["last"]
        if last is None:
            lines.append(f"  job {name}: never run ({job['schedule']})")
            continue
        text = (f"  job {name}: {last['outcome']} at {_when(last['started_at'])} in {last['seconds']:.2f}s, "
                f"{last['api_calls']} API call(s), {last['runs']} run(s), {last['failures']} failed")
        if last["error"]:
            text += f"\n    {last['error']}"
        lines.append(text)
    rules = status["rule_sets"]
    active = rules["active"]
    lines.append(f"rule set: {active['hash']}{_version(active)} applied {_when(active['since'])}" if active
                 else "rule set: none applied by a worker yet")
    refused = rules["refused"]
    if refused:
        lines.append(f"rule set REFUSED at {_when(refused['at'])}: {len(refused['errors'])} error(s); "
                     "scoring continues with the active set")
        lines.extend(f"  {e}" for e in refused["errors"])
    return lines


def _version(active: dict) -> str:
    return f" (version {active['version']})" if active.get("version") else ""
