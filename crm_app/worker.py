"""The scheduler process (Procfile `worker:`): APScheduler runs the jobs while this process holds the lease.

Any number of workers may run; the `scheduler_lease` row decides which one runs jobs. The holder renews it
every third of LEADER_LEASE_SECONDS from its own thread, so a long job never loses it; a standby takes it
over within LEADER_LEASE_SECONDS of the holder dying. Never start this inside web workers (APScheduler's
job stores cannot be shared by several schedulers).
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crm_app.config import Config, load_settings, typed_setting
from crm_app.errors import ConfigError
from crm_app.services.ops.jobs import HOST, JOBS, JOBS_BY_NAME, Job, JobContext, run_job
from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.services.ops.service_status import LEASE
from crm_app.store import Store
from crm_app.store import ops as ops_store

log = logging.getLogger("crm_app.worker")


def daily_time(text: str, name: str) -> tuple[int, int]:
    """HH:MM (UTC) -> (hour, minute), or a clear ConfigError naming the setting."""
    try:
        hour, minute = (int(part) for part in text.split(":"))
        if 0 <= hour < 24 and 0 <= minute < 60:
            return hour, minute
    except ValueError:
        pass
    raise ConfigError(f"{name}={text!r}: expected a UTC time as HH:MM, e.g. 03:00")


def trigger_for(job: Job, env: dict | None = None):
    """The APScheduler trigger of a job, from its setting (validated by load_settings)."""
    value = typed_setting(job.setting, env)
    if job.trigger == "daily":
        hour, minute = daily_time(value, job.setting)
        return CronTrigger(hour=hour, minute=minute, timezone=timezone.utc)
    return IntervalTrigger(seconds=value, timezone=timezone.utc)


class Worker:
    """One scheduler process (or the scheduler half of `serve`)."""

    def __init__(self, config: Config, store: Store | None = None, env: dict | None = None,
                 holder: str = HOST):
        load_settings(env)  # a bad setting is one ConfigError line naming it, before anything starts
        self.env = env
        self.store = store or Store(config.database_url)
        self.ctx = JobContext(self.store, config, RuleHolder(self.store, config.spec_dirs, env or None),
                              env=env or {},
                              wake=self.wake)
        self.ctx.rules.on_applied = lambda _specs: self.wake("full_rescore")  # new rules: everyone may move
        self.holder = holder
        self.lease_seconds = typed_setting("LEADER_LEASE_SECONDS", env)
        self.leader = threading.Event()
        self.scheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={
            "coalesce": True, "max_instances": 1,
            "misfire_grace_time": typed_setting("MISFIRE_GRACE_SECONDS", env)})
        for job in JOBS:  # interval jobs run at start too; daily ones wait for their time
            first = {"next_run_time": datetime.now(timezone.utc)} if job.trigger == "interval" else {}
            self.scheduler.add_job(self._run, trigger_for(job, env), args=[job.name], id=job.name,
                                   name=job.help, **first)
        self._lease_thread = threading.Thread(target=self._hold_lease, name="pql-lease", daemon=True)
        self._last_wake: dict = {}

    def start(self) -> None:
        """Start the lease loop and the scheduler (jobs run only while the lease is ours)."""
        self._renew()
        self._lease_thread.start()
        self.scheduler.start()

    def _run(self, name: str) -> None:
        if self.ctx.stopping.is_set() or not self.leader.is_set():
            return
        run_job(self.ctx, JOBS_BY_NAME[name])

    def wake(self, name: str, debounce: float = 0.5) -> None:
        """Run a job as soon as possible (ingest wakes scoring; a new rule set wakes the full rescore)."""
        now = time.monotonic()
        if now - self._last_wake.get(name, 0.0) < debounce or not self.scheduler.running:
            return
        self._last_wake[name] = now
        try:
            self.scheduler.modify_job(name, next_run_time=datetime.now(timezone.utc))
        except Exception:  # noqa: BLE001 - a wake-up during shutdown is simply dropped
            pass

    def _renew(self) -> None:
        try:
            with self.store.begin() as conn:
                held = ops_store.try_lease(conn, LEASE, self.holder, self.lease_seconds)
        except Exception as exc:  # noqa: BLE001 - cannot renew: act as if lost, so two never run at once
            log.error("lease not renewed: %s", exc, extra={"event": "lease", "error": str(exc)})
            held = False
        if held and not self.leader.is_set():
            self.leader.set()
            log.info("lease acquired", extra={"event": "lease", "state": "acquired", "holder": self.holder})
            if self.scheduler.running:
                for name in ("reload_rules", "score_changed"):
                    self.wake(name, debounce=0)
        elif not held and self.leader.is_set():
            self.leader.clear()
            log.warning("lease lost", extra={"event": "lease", "state": "lost", "holder": self.holder})

    def _hold_lease(self) -> None:
        while not self.ctx.stopping.wait(self.lease_seconds / 3):
            self._renew()

    def stop(self, grace: float | None = None) -> bool:
        """Stop taking jobs, let the running one finish within the grace time, give the lease up."""
        grace = typed_setting("SHUTDOWN_GRACE_SECONDS", self.env) if grace is None else grace
        self.ctx.stopping.set()
        finished = True
        if self.scheduler.running:
            closer = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
            closer.start()
            closer.join(grace)
            # A job still running past the grace time is abandoned safely: each scoring chunk is its own
            # transaction and the dirty queue is released only after a run completes, so it is redone.
            finished = not closer.is_alive()
        if self.leader.is_set():
            try:
                with self.store.begin() as conn:
                    ops_store.release_lease(conn, LEASE, self.holder)
            except Exception:  # noqa: BLE001 - the lease then expires on its own
                pass
            self.leader.clear()
        log.info("worker stopped", extra={"event": "stopped", "holder": self.holder,
                                          "finished_current_job": finished})
        return finished


def run_worker(config: Config) -> int:
    """The `worker` command: run until SIGTERM or SIGINT, then shut down gracefully."""
    worker = Worker(config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    log.info("worker started", extra={"event": "started", "holder": worker.holder,
                                      "lease_seconds": worker.lease_seconds})
    stop.wait()
    worker.stop()
    worker.store.dispose()
    return 0
