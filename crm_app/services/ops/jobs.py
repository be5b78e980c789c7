"""The worker's jobs: what each does, when it runs, and the record every run leaves (status, /readyz, logs)."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from crm_app.config import Config, setting
from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.services.scoring.run import score
from crm_app.store import Store
from crm_app.store import ops as ops_store

log = logging.getLogger("crm_app.jobs")
# The fast path and the full rescore never overlap: a slower full run must not overwrite a result the fast
# path has just computed from newer events. Only the lease holder runs jobs, so a process lock is enough.
SCORING = threading.Lock()
# Jobs that talk to the CRM share one adapter and its call counter: one at a time, so each job's calls are
# its own and no adapter has to be thread-safe.
CRM = threading.Lock()


class NotConfigured(Exception):
    """The job has nothing to run in this deployment (say why); recorded as not_configured, not failed."""


@dataclass
class JobContext:
    """What jobs share in one worker process."""

    store: Store
    config: Config
    rules: RuleHolder
    env: dict = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    wake: Callable[[str], None] | None = None  # run a job now (set by the scheduler)
    adapter: object | None = None  # the CRM adapter, made on first use
    cache: dict = field(default_factory=dict)  # per-process objects jobs reuse between runs


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[JobContext], dict]  # returns detail; may include "api_calls" and "idle"
    trigger: str  # "interval" or "daily"
    setting: str  # the setting holding its interval (seconds) or daily time (HH:MM, UTC)
    help: str


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


def _admin_root(ctx: JobContext) -> Path:
    """Where the active version's files are (mapping/ included); the checkout before any version applied."""
    return ctx.rules.root or Path(ctx.config.specs_root)


def job_crm_sync(ctx: JobContext) -> dict:
    """Read the CRM records changed since the last sync (watermarks kept by the sync service)."""
    from crm_app.services.crm.sync import sync_crm
    from crm_app.specs.crm.mapping import load_mapping
    adapter = _adapter(ctx)
    path = _admin_root(ctx) / setting("CRM_MAPPING_FILE", ctx.env or None)
    if not path.is_file():
        raise NotConfigured(f"no CRM mapping file at {path} (CRM_MAPPING_FILE)")
    started = time.time()
    with CRM:
        summary = sync_crm(ctx.store, adapter, load_mapping(path, adapter.name))
    return {"crm": adapter.name, "read": summary.read, "changed": summary.changed,
            "api_calls": _calls_since(ctx, adapter.name, "sync", started)}


def job_write_back(ctx: JobContext) -> dict:
    """Send the score values that changed since the last confirmed write; failures are retried next run."""
    from crm_app.services.crm.create import create_missing, policy_from
    from crm_app.services.crm.writeback import push_scores
    specs = ctx.rules.require()
    if not specs.fields:
        raise NotConfigured("no field specs in field_specs/: nothing to write")
    adapter = _adapter(ctx)
    policy = policy_from(str(_admin_root(ctx)), setting("CRM_CREATE_FILE", ctx.env or None), list(specs.rules.names))
    with CRM:
        created = create_missing(ctx.store, adapter, policy)
        summary = push_scores(ctx.store, adapter, specs.fields)
        followed = _playbooks_for_new_records(ctx, specs, created)
    detail = {"crm": adapter.name, "created": created.created, "linked_by_email": created.matched,
              "associated": created.associated, "not_created": len(created.failed), "changed": summary.changed,
              "written": summary.written, "failed": len(summary.failed), "api_calls": sum(summary.calls.values()),
              "idle": not summary.changed, **({"playbooks": followed} if followed else {})}
    if summary.failed:
        first = next(iter(summary.failed.items()))
        raise JobFailed(f"{len(summary.failed)} record(s) refused by {adapter.name} (kept, retried next run); "
                        f"first: {first[0]}: {first[1]}", detail)
    return detail


def _playbooks_for_new_records(ctx: JobContext, specs, created) -> dict:
    """Records this run created or linked get their owner, task and alert now, scores already written: the
    playbooks plan their new PQLs and send what waited for the record, instead of the next playbooks run."""
    from crm_app.services.crm.accounting import record_usage
    from crm_app.services.playbooks.cycle import run_playbooks
    if not (created.created or created.matched) or specs.playbooks is None or not specs.playbooks.playbooks:
        return {}
    runtime = _runtime(ctx, specs)
    try:
        return run_playbooks(runtime, int(time.time()))
    except Exception as exc:  # noqa: BLE001 - the write-back itself went through; the playbooks job retries
        log.warning("playbooks after write-back failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        record_usage(ctx.store, runtime.adapter, "playbooks")


def _adapter(ctx: JobContext):
    """One CRM adapter per worker process, reused across runs (connections, counters)."""
    if ctx.adapter is None:
        from crm_app.crm.registry import make_adapter
        ctx.adapter = make_adapter(ctx.env or None)
    return ctx.adapter


def _calls_since(ctx: JobContext, crm: str, operation: str, since: float) -> int:
    from crm_app.store import crm as crm_store
    with ctx.store.read() as conn:
        return sum(n for op, _, n in crm_store.call_totals(conn, crm, int(since)) if op == operation)


class JobFailed(Exception):
    """A job that did part of its work: failed, with what it did kept in the record."""

    def __init__(self, message: str, detail: dict):
        super().__init__(message)
        self.detail = detail


def job_playbooks(ctx: JobContext, digests: bool = False) -> dict:
    """Plan playbook actions on score changes, record them in the ledger, dispatch what is due."""
    from crm_app.services.crm.accounting import record_usage
    from crm_app.services.playbooks.cycle import run_playbooks
    specs = ctx.rules.require()
    if specs.playbooks is None or not specs.playbooks.playbooks:
        raise NotConfigured("no playbooks in playbooks/")
    runtime = _runtime(ctx, specs)
    with CRM:
        try:
            report = run_playbooks(runtime, int(time.time()), digests=digests)
        finally:  # the CRM calls of assignments and tasks are counted here, not in the next write-back's share
            calls = record_usage(ctx.store, runtime.adapter, "playbooks")
    idle = not any(v for k, v in report.items() if k != "examined" and isinstance(v, int))
    return {**report, "api_calls": sum(calls.values()), "idle": idle}


def job_digests(ctx: JobContext) -> dict:
    """Send each rep the daily digest of the alerts held for it (then dispatch as usual)."""
    return job_playbooks(ctx, digests=True)


def _runtime(ctx: JobContext, specs):
    """The playbook runtime of the active set, made once per set (Slack clients, owner cache)."""
    from crm_app.services.playbooks.runtime import make_runtime
    cached = ctx.cache.get("runtime")
    if cached is None or cached[0] != specs.hash:
        cached = (specs.hash, make_runtime(ctx.store, specs, _adapter(ctx), ctx.env or None))
        ctx.cache["runtime"] = cached
    return cached[1]


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


HOST = f"{socket.gethostname()}:{os.getpid()}"


def _workers(ctx: JobContext) -> int | None:
    raw = setting("SCORE_WORKERS", ctx.env or None)
    return int(raw) if raw else None


def _changed(summary) -> dict:
    return {name: m.changed for name, m in summary.models.items()}
