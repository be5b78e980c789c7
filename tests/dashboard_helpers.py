"""Shared by the dashboard tests: a demo workspace in a temporary folder, and a live server on loopback."""
from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

from werkzeug.serving import make_server

from tests.conftest import ROOT


def demo_workspace(tmp: Path, people: int = 400, **settings):
    """A copy of the shipped admin files plus a scored demo store; returns (config, one-time password)."""
    from crm_app.config import Config
    from crm_app.services.demo import run_demo
    for name in ("rules", "field_specs", "playbooks"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, tmp / name)
    config = Config.from_env({}, database_url=f"sqlite:///{tmp}/var/pql.db", specs_root=str(tmp),
                             secret_key="test-secret", **settings)
    lines: list[str] = []
    run_demo(config, people=people, seed=11, out=lines.append)
    password = re.search(r"one-time password (\S+)", "\n".join(lines)).group(1)
    return config, password


def scored_as_of(store) -> int:
    """The moment the demo scored at: the dashboard explains as of the same moment."""
    from crm_app.store.results import last_run
    with store.read() as conn:
        return last_run(conn)["as_of"]


class LiveServer:
    """The real WSGI app served by werkzeug on 127.0.0.1 in a thread, for the browser."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(5)
