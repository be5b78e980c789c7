"""The worker's jobs: what each does, when it runs, and the record every run leaves (status, /readyz, logs)."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from crm_app.services.ops.crm_jobs import job_crm_sync, job_digests, job_playbooks, job_write_back
from crm_app.services.ops.job_context import (CRM, HOST, SCORING, Job, JobContext, JobFailed,  # noqa: F401
                                              NotConfigured, _changed, _workers)
from crm_app.services.scoring.run import score
from crm_app.store import ops as ops_store

log = logging.getLogger("crm_app.jobs")


def job_score_changed(ctx: JobContext) -> dict:
    """Score the people whose data changed (the fast path); a new live lifecycle version wakes the full rescore."""
    from crm_app.store.lifecycle import live_versions
    with ctx.store.read() as conn:
        waiting = ops_store.dirty_count(conn)
        live = live_versions(conn)
    if ctx.cache.setdefault("live_versions", live) != live:
        ctx.cache["live_versions"] = live
        if ctx.wake:
            ctx.wake("full_rescore")  # promoted or rolled back, by this process or another one
    if not waiting:
        return {"idle": True, "waiting": 0}
    specs = ctx.rules.require()
    with SCORING:
        summary = score(ctx.store, specs.rules, int(time.time()), mode="changed", workers=_workers(ctx),
                        lifecycle=specs.lifecycle)
    return {"scored": summary.people, "rules_hash": specs.hash, "changed": _changed(summary)}


def job_full_rescore(ctx: JobContext) -> dict:
    """Rescore everyone as of now: decay reaches people with no new events."""
    specs = ctx.rules.require()
    with SCORING:
        summary = score(ctx.store, specs.rules, int(time.time()), mode="full", workers=_workers(ctx),
                        lifecycle=specs.lifecycle)
    return {"scored": summary.people, "rules_hash": specs.hash, "changed": _changed(summary)}


def job_score_now(ctx: JobContext) -> dict:
    """Do a "Score everyone now" asked for from the dashboard: a full rescore with the active version, its
    progress (people scored of all) saved as it goes so the page can show it."""
    with ctx.store.begin() as conn:
        request = ops_store.claim_request(conn, "score_now", HOST)
    if request is None:
        return {"idle": True}
    try:
        ctx.rules.check()  # the admin may have published a version a moment ago: score with it
        as_of = int((request["detail"] or {}).get("as_of") or time.time())  # the moment of the click
        specs = ctx.rules.require()
        with ctx.store.read() as conn:
            total, done = ops_store.people_count(conn), 0

        def progress(people: int) -> None:
            nonlocal done
            done += people
            with ctx.store.begin() as conn:
                ops_store.record_progress(conn, request["id"], done, max(total, done))
        with ctx.store.begin() as conn:
            ops_store.record_progress(conn, request["id"], 0, total)
        with SCORING:
            summary = score(ctx.store, specs.rules, as_of, mode="full", workers=_workers(ctx),
                            chunk=max(500, total // 20), progress=progress, lifecycle=specs.lifecycle)
    except Exception as exc:
        with ctx.store.begin() as conn:
            ops_store.finish_request(conn, request["id"], "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    detail = {"request": request["id"], "as_of": as_of, "scored": summary.people, "seconds": round(summary.seconds, 2),
              "rules_hash": summary.rules_hash, "changed": _changed(summary)}
    with ctx.store.begin() as conn:
        ops_store.record_progress(conn, request["id"], summary.people, summary.people)
        ops_store.finish_request(conn, request["id"], "done", detail)
    return detail
def job_retrain_models(ctx: JobContext) -> dict:
    """Retrain the lifecycle models whose `retrain:` cadence has passed; a better challenger goes live."""
    from crm_app.services.lifecycle.schedule import retrain_due
    specs = ctx.rules.require()
    if not any(spec.retrain for spec in specs.lifecycle):
        raise NotConfigured("no lifecycle model sets retrain: (a cadence such as 7d)")
    outcome = retrain_due(ctx.store, specs.lifecycle, int(time.time()),
                          tuple(m.name for m in specs.rules.models if m.subject == "person"))
    if any(d["promoted"] for d in outcome.values()) and ctx.wake:
        ctx.wake("full_rescore")  # a new live version: everyone's propensity score may move
    return {"idle": not outcome, "models": outcome}


def job_snapshot(ctx: JobContext) -> dict:
    """Keep today's per-model, per-band summary of the scores (drift and trend charts read it)."""
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    with ctx.store.begin() as conn:
        rows = ops_store.band_summary(conn)
        ops_store.save_snapshot(conn, day, rows)
    return {"day": day, "rows": len(rows)}


def job_reload_rules(ctx: JobContext) -> dict:
    """Notice edited admin files; apply a valid set, refuse an invalid one (failed until the files are fixed)."""
    outcome = ctx.rules.check()
    if outcome.errors:
        raise RuntimeError(f"rule set refused ({len(outcome.errors)} error(s)); still scoring with "
                           f"{outcome.set_hash or 'no set'}: " + "; ".join(outcome.errors[:5]))
    return {"idle": not outcome.changed, "applied": outcome.applied, "rules_hash": outcome.set_hash,
            "version": outcome.version}


JOBS: tuple[Job, ...] = (
    Job("reload_rules", job_reload_rules, "interval", "RULES_POLL_SECONDS", "notice edited admin files"),
    Job("score_changed", job_score_changed, "interval", "SCORE_CHANGED_SECONDS", "score people whose data changed"),
    Job("crm_sync", job_crm_sync, "interval", "CRM_SYNC_SECONDS", "incremental CRM sync"),
    Job("write_back", job_write_back, "interval", "WRITE_BACK_SECONDS", "write changed values to the CRM"),
    Job("playbooks", job_playbooks, "interval", "PLAYBOOK_SECONDS", "run playbooks on score changes"),
    Job("full_rescore", job_full_rescore, "daily", "FULL_RESCORE_AT", "rescore everyone; applies decay"),
    Job("score_now", job_score_now, "interval", "SCORE_NOW_POLL_SECONDS", "Score everyone now, asked from the web"),
    Job("retrain_models", job_retrain_models, "interval", "RETRAIN_CHECK_SECONDS",
        "retrain lifecycle models whose cadence has passed (champion/challenger)"),
    Job("snapshot", job_snapshot, "daily", "SNAPSHOT_AT", "daily snapshot of score history"),
    Job("digests", job_digests, "daily", "DIGEST_AT", "daily Slack digest of held PQL alerts per rep"),
)
JOBS_BY_NAME = {job.name: job for job in JOBS}


def run_job(ctx: JobContext, job: Job) -> dict:
    """Run one job, time it, record its outcome and log one structured line; never raises."""
    started = time.time()
    outcome, error, detail = "ok", None, {}
    try:
        detail = job.func(ctx) or {}
        if detail.pop("idle", False):
            outcome = "idle"
    except NotConfigured as exc:
        outcome, error = "not_configured", str(exc)
    except JobFailed as exc:
        outcome, error, detail = "failed", str(exc), dict(exc.detail)
        detail.pop("idle", None)
    except Exception as exc:  # noqa: BLE001 - a failing job must not stop the scheduler; it is recorded
        outcome, error = "failed", f"{type(exc).__name__}: {exc}"
        log.debug("job %s failed", job.name, exc_info=True)
    finished = time.time()
    run = {"started_at": started, "finished_at": finished, "seconds": round(finished - started, 4),
           "outcome": outcome, "error": error, "api_calls": int(detail.pop("api_calls", 0) or 0),
           "detail": detail, "host": HOST}
    try:
        with ctx.store.begin() as conn:
            ops_store.record_job_run(conn, job.name, run)
    except Exception as exc:  # noqa: BLE001 - the database may be the thing that is down; the log still has it
        run["record_error"] = str(exc)
    level = logging.ERROR if outcome == "failed" else logging.INFO
    if outcome != "idle" or log.isEnabledFor(logging.DEBUG):
        log.log(level, "job %s %s", job.name, outcome, extra={"event": "job", "job": job.name, **run})
    return run


