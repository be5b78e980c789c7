"""gunicorn settings shared by the Procfile's `web:` (`gunicorn -c python:crm_app.web.gunicorn_conf ...`) and by
`serve`: JSON logs, Prometheus multiprocess mode, no control socket.

prometheus_client's multiprocess mode needs PROMETHEUS_MULTIPROC_DIR set before any worker imports it, emptied
at start, and each dead worker's files marked (its gauges dropped); see prometheus_client's docs."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from crm_app.logs import gunicorn_logging

logconfig_dict = gunicorn_logging(os.environ.get("LOG_LEVEL", "INFO"))  # one access line a request at INFO
control_socket_disable = True  # gunicorn's control socket has one default path per user: two servers would share it
graceful_timeout = 25  # Procfile hosts kill 30 s after SIGTERM


def prepare_metrics_dir() -> Path:
    """Set PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder when unset) and empty it of an earlier run's files."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="pql-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    if not given:
        os.environ["PQL_OWN_METRICS_DIR"] = str(folder)
    return folder


def on_starting(server) -> None:
    """In the master, before any worker is forked: refuse bad settings in one line each, then set metrics up."""
    from crm_app.config import load_settings
    from crm_app.errors import ConfigError
    try:
        load_settings()
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    prepare_metrics_dir()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    own = os.environ.get("PQL_OWN_METRICS_DIR")
    if own:
        shutil.rmtree(own, ignore_errors=True)

