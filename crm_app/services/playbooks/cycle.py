"""The playbook loop: plan, re-alert snoozed PQLs, dispatch; and the cycle the worker runs around it."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from crm_app.services.playbooks.dispatch import dispatch_due, process_snoozes, send_digests
from crm_app.services.playbooks.plan import plan
from crm_app.services.playbooks.runtime import Runtime
from crm_app.services.scoring.run import score


def run_playbooks(rt: Runtime, now: int | None = None, digests: bool = False) -> dict:
    """Plan, re-alert snoozed PQLs, dispatch everything due (and the daily digests when asked).

    This is what the worker calls after each scoring pass; the digests run from a daily job.
    """
    now = int(time.time()) if now is None else now
    planned = plan(rt, now)
    rt.at("planned", {})
    realerts = process_snoozes(rt, now)
    dispatched = dispatch_due(rt, now)
    sent_digests = send_digests(rt, now) if digests else 0
    return {"examined": planned.examined, "occurrences": planned.occurrences, "entries": planned.entries,
            "realerts": realerts, **dispatched, "digests": sent_digests}


@dataclass
class CycleReport:
    scored: int
    playbooks: dict
    seconds: float


def run_cycle(rt: Runtime, writeback: Callable | None = None, now: int | None = None) -> CycleReport:
    """One pass of what the worker does: score the changed people, write back, run playbooks."""
    started = time.perf_counter()
    now = int(time.time()) if now is None else now
    summary = score(rt.store, rt.rules, now, mode="changed", lifecycle=rt.lifecycle)
    if writeback is not None:
        writeback(rt.store, rt.adapter)
    report = run_playbooks(rt, now)
    return CycleReport(summary.people, report, time.perf_counter() - started)
