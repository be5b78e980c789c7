"""The worker's CRM and playbook jobs: incremental sync, write-back (creating missing records), playbooks, digests."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from crm_app.config import setting
from crm_app.services.ops.job_context import CRM, JobContext, JobFailed, NotConfigured

log = logging.getLogger("crm_app.jobs")


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
