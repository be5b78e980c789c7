"""What the worker's jobs share: the context of one worker process, the job record, locks and outcomes."""
from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable

from crm_app.config import Config, setting
from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.store import Store

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


class JobFailed(Exception):
    """A job that did part of its work: failed, with what it did kept in the record."""

    def __init__(self, message: str, detail: dict):
        super().__init__(message)
        self.detail = detail


HOST = f"{socket.gethostname()}:{os.getpid()}"


def _workers(ctx: JobContext) -> int | None:
    raw = setting("SCORE_WORKERS", ctx.env or None)
    return int(raw) if raw else None


def _changed(summary) -> dict:
    return {name: m.changed for name, m in summary.models.items()}
