"""gunicorn, run from Python: `serve` answers on a production WSGI server (gthread workers), with the
scheduler in its one worker process in embedded mode (so ingest wakes scoring in-process)."""
from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from crm_app.web import gunicorn_conf

log = logging.getLogger("crm_app.serve")


class EmbeddedServer(BaseApplication):
    """One gunicorn worker with `threads` threads; the app (and the scheduler) are built in that worker."""

    def __init__(self, build_app, options: dict, on_ready=None):
        self.build_app = build_app
        self.options = options
        self.on_ready = on_ready
        self.stop_worker = None
        super().__init__()

    def load_config(self) -> None:
        settings = {"logconfig_dict": gunicorn_conf.logconfig_dict, "control_socket_disable": True,
                    "graceful_timeout": gunicorn_conf.graceful_timeout, "child_exit": gunicorn_conf.child_exit,
                    "on_exit": gunicorn_conf.on_exit,
                    "on_starting": gunicorn_conf.on_starting, "worker_exit": self._worker_exit,
                    "post_worker_init": self._worker_ready, **self.options}
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        app, self.stop_worker = self.build_app()
        return app

    def _worker_ready(self, worker) -> None:
        """In the worker, once the app and the scheduler are built: only now does a request get a quick answer."""
        if self.on_ready is not None:
            host, port = worker.sockets[0].sock.getsockname()[:2]
            self.on_ready(host, port)

    def _worker_exit(self, server, worker) -> None:
        if self.stop_worker is not None:  # let the running job finish, give the lease up
            self.stop_worker()


def run_embedded(build_app, host: str, port: int, threads: int, on_ready) -> int:
    """Serve until SIGTERM or SIGINT (gunicorn's graceful stop); 0 on a clean stop."""
    options = {"bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "workers": 1,
               "worker_class": "gthread", "threads": threads, "timeout": 120}
    EmbeddedServer(build_app, options, on_ready).run()
    return 0


