"""Wiring for playbooks: the runtime (store, playbooks, CRM adapter, Slack or outbox) from the settings,
and the loop the worker runs: score changed people, write back, run playbooks."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from crm_app.services.playbooks import Runtime, run_playbooks
from crm_app.services.scoring import score
from crm_app.slack.senders import OutboxSender, SlackSender
from crm_app.slack.settings import slack_setting


def make_sender(store, env: dict | None = None):
    """Slack when a bot token is set; otherwise the embedded outbox (what `demo` and the dashboard show)."""
    token = slack_setting("SLACK_BOT_TOKEN", env)
    if not token:
        return OutboxSender(store)
    return SlackSender.from_token(token, slack_setting("SLACK_API_URL", env))


def make_runtime(store, specs, adapter, env: dict | None = None) -> Runtime:
    """A runtime for the applied spec set."""
    return Runtime(store=store, playbooks=specs.playbooks, adapter=adapter, sender=make_sender(store, env),
                   rules=specs.rules, max_attempts=int(slack_setting("PLAYBOOK_MAX_ATTEMPTS", env)))


@dataclass
class CycleReport:
    scored: int
    playbooks: dict
    seconds: float


def run_cycle(rt: Runtime, writeback: Callable | None = None, now: int | None = None) -> CycleReport:
    """One pass of what the worker does: score the changed people, write back, run playbooks."""
    started = time.perf_counter()
    now = int(time.time()) if now is None else now
    summary = score(rt.store, rt.rules, now, mode="changed")
    if writeback is not None:
        writeback(rt.store, rt.adapter)
    report = run_playbooks(rt, now)
    return CycleReport(summary.people, report, time.perf_counter() - started)
