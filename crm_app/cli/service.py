"""`worker` and `serve`: the scheduler process, and web + scheduler in one process (embedded mode)."""
from __future__ import annotations

import sys

from crm_app.config import Config, missing_secrets

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def cmd_worker(args, config: Config) -> int:
    """Run the scheduler (sync, scoring, write-back, playbooks, rescore, snapshots) until SIGTERM."""
    from crm_app.logs import configure_logging
    from crm_app.worker import run_worker
    configure_logging(config.log_level)
    return run_worker(config)


def cmd_serve(args, config: Config) -> int:
    """Run the web service (gunicorn) and the scheduler in one worker process (the embedded single-machine mode)."""
    from crm_app.logs import configure_logging
    from crm_app.web.server import run_embedded
    embedded = args.host in LOOPBACK
    if not embedded and missing_secrets():
        print(f"error: serving on {args.host} needs {', '.join(missing_secrets())} set in the environment "
              "(only 127.0.0.1 may run without them)", file=sys.stderr)
        return 2
    configure_logging(config.log_level)

    def build_app():  # in gunicorn's worker process, after the fork
        from crm_app import create_app
        from crm_app.worker import Worker
        configure_logging(config.log_level)
        app = create_app(config, embedded=embedded)
        worker = None
        if not args.no_scheduler:
            worker = Worker(config, store=app.config["PQL_STORE"])
            app.config["PQL_ON_INGEST"] = lambda: worker.wake("score_changed")
            app.config["PQL_WAKE"] = worker.wake
            worker.start()

        def stop():
            if worker is not None:
                worker.stop()
            app.config["PQL_STORE"].dispose()
        return app, stop

    def ready(host, port):
        print(f"Serving on http://{host}:{port} (gunicorn; ingest /v1/batch, /healthz, /readyz, /metrics)"
              + ("; scheduler running in this process" if not args.no_scheduler else ""), flush=True)
    return run_embedded(build_app, args.host, args.port, args.threads, ready)


def register(subparsers) -> None:
    """Add `worker` and `serve` to the CLI."""
    subparsers.add_parser("worker", help=cmd_worker.__doc__).set_defaults(func=cmd_worker)
    p = subparsers.add_parser("serve", help=cmd_serve.__doc__)
    p.add_argument("--host", default="127.0.0.1", help="bind address; anything but loopback needs the secrets")
    p.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    p.add_argument("--no-scheduler", action="store_true", help="web only (when a separate worker runs)")
    p.add_argument("--threads", type=int, default=8, help="request threads of the gunicorn worker (default 8)")
    p.set_defaults(func=cmd_serve)
