"""Two `python -m crm_app worker` processes on one PostgreSQL: one runs jobs; killing it hands over in time."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from crm_app.services.ops.service_status import service_status
from tests.child_processes import die_with_parent
from tests.conftest import ROOT
from tests.test_hot_reload import wait_for

LEASE = 2.0


def start_worker(url: str, tmp_path, name: str, extra: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url, SPECS_ROOT=str(ROOT), PYTHONPATH=str(ROOT), SCORE_WORKERS="1",
               LEADER_LEASE_SECONDS=str(LEASE), SCORE_CHANGED_SECONDS="0.3", RULES_POLL_SECONDS="0.3",
               SHUTDOWN_GRACE_SECONDS="10", LOG_LEVEL="INFO")
    env.update(extra or {})
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "crm_app", "worker"], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def holder_of(proc: subprocess.Popen) -> str:
    return f"{socket.gethostname()}:{proc.pid}"


def job_hosts(store) -> set:
    return {job["last"]["host"] for job in service_status(store)["jobs"].values() if job["last"]}


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_one_worker_runs_jobs_and_a_standby_takes_over(store, tmp_path):
    first = start_worker(store.url, tmp_path, "first")
    wait_for(lambda: (service_status(store)["scheduler"] or {}).get("holder") == holder_of(first))
    second = start_worker(store.url, tmp_path, "second")
    try:
        # The standby's start-up (imports, first connection) can take seconds on a busy machine: the takeover is
        # timed from a standby that is already polling, as in production.
        wait_for(lambda: "worker started" in (tmp_path / "second.log").read_text(), seconds=120)
        time.sleep(LEASE * 1.5)  # the second is up and polling the lease meanwhile
        assert second.poll() is None
        assert service_status(store)["scheduler"]["holder"] == holder_of(first)
        assert job_hosts(store) == {holder_of(first)}  # only the holder has run any job

        first.send_signal(signal.SIGKILL)  # a crash: the lease is not released
        killed_at = time.time()
        wait_for(lambda: service_status(store)["scheduler"]["holder"] == holder_of(second), seconds=LEASE * 5)
        took = time.time() - killed_at
        wait_for(lambda: service_status(store)["jobs"]["score_changed"]["last"]["host"] == holder_of(second))
        # The lease, one poll of the standby (a third of the lease), and slack for a busy machine: the standby's
        # poll and its first database round trip run late by the scheduler's delays, which grow with the load.
        slack = 1.0 + 0.5 * os.getloadavg()[0] / (os.cpu_count() or 1)
        assert took <= LEASE + LEASE / 3 + slack, f"takeover took {took:.1f}s with a {LEASE}s lease"

        second.send_signal(signal.SIGTERM)  # graceful: finishes the job, gives the lease up at once
        assert second.wait(15) == 0
        state = service_status(store)["scheduler"]
        assert state["holder"] == holder_of(second) and not state["live"]
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
