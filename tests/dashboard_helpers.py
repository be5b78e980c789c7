"""Shared by the dashboard tests: a demo workspace in a temporary folder, and a live server on loopback."""
from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

from werkzeug.serving import make_server

from tests.conftest import ROOT
from tests.made_once import copy_into, made_once


def demo_workspace(tmp: Path, people: int = 400, **settings):
    """A copy of the shipped admin files plus a scored demo store; returns (config, one-time password).

    The caller sets CRM_SANDBOX_PATH inside tmp (see sandbox_env) so the demo's sandbox CRM stays there.
    """
    from crm_app.services.ops.demo import run_demo
    for name in ("rules", "field_specs", "playbooks", "mapping"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, tmp / name)
    config = workspace_config(tmp, **settings)
    lines: list[str] = []
    run_demo(config, people=people, seed=11, out=lines.append)
    password = re.search(r"one-time password (\S+)", "\n".join(lines)).group(1)
    return config, password


def copied_workspace(tmp_path_factory, worker_id: str, people: int, then=None, **settings) -> tuple:
    """A copy of demo_workspace(people, **settings), finished by then(config) if given, in a new folder of this
    worker: (config, one-time password).

    The workspace is made once per test run for every module and worker that asks for the same one
    (tests/made_once.py); each caller changes only its own copy. The caller sets sandbox_env on the config's folder.
    """
    def make(folder: Path) -> None:
        env = sandbox_env(folder)
        try:
            config, password = demo_workspace(folder, people=people, **settings)
            if then:
                then(config)
        finally:
            env.__exit__(None, None, None)
        (folder / "one-time-password").write_text(password)

    steps = [str(people)] + ([then.__name__] if then else []) + [f"{k}={v}" for k, v in sorted(settings.items())]
    name = "workspace-" + "-".join(steps)
    made = made_once(tmp_path_factory, worker_id, name, make)
    tmp = tmp_path_factory.mktemp("workspace")
    copy_into(made, tmp)
    return workspace_config(tmp, **settings), (tmp / "one-time-password").read_text()


def workspace_config(tmp: Path, **settings):
    """The configuration of a workspace demo_workspace made in tmp (or of a copy of one moved there)."""
    from crm_app.config import Config
    return Config.from_env({}, database_url=f"sqlite:///{tmp}/var/pql.db", specs_root=str(tmp),
                           secret_key="test-secret", **settings)


def scored_as_of(store) -> int:
    """The moment the demo scored at: the dashboard explains as of the same moment."""
    from crm_app.store.scoring.results import last_run
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


GOAL = "model: upgraded\nlabel: Starts an upgrade\nstage: conversion\ngoal: {event: Upgrade Started, count: {at_least: 1}}\n"


def train_and_backtest(config, store, as_of: int) -> None:
    """A lifecycle model trained on the demo history, and a stored backtest comparing two PQL thresholds."""
    from crm_app.services.lifecycle import backtest
    from crm_app.services.lifecycle import training as lifecycle
    from crm_app.specs.loader import SpecDirs, load_spec_set
    root = Path(config.specs_root)
    (root / "lifecycle").mkdir(exist_ok=True)
    (root / "lifecycle" / "upgraded.yaml").write_text(GOAL)
    specs = load_spec_set(config.spec_dirs)
    lifecycle.train(store, specs.lifecycle[0], as_of)
    edited_root = root / "edited"
    shutil.copytree(root / "rules", edited_root / "rules")
    path = edited_root / "rules" / "conversion.yaml"
    path.write_text(path.read_text().replace("pql: {threshold: 75", "pql: {threshold: 60"))
    edited = load_spec_set(SpecDirs(edited_root / "rules", root / "field_specs", root / "playbooks",
                                    root / "lifecycle")).rules
    day = 86400
    # The demo's upgrades happen in its last days: dates up to a week back with a two-week window see them.
    backtest.run(store, [specs.rules.model("conversion"), edited.model("conversion")], specs.lifecycle[0], as_of - 42 * day,
                 as_of - 7 * day, 14 * day, 7 * day)


def train_backtest_and_publish(config) -> None:
    """train_and_backtest on a demo workspace, and the lifecycle file it wrote published as `rules publish` does."""
    from crm_app import create_app
    from crm_app.services.admin import versions
    store = create_app(config).config["PQL_STORE"]
    try:
        train_and_backtest(config, store, scored_as_of(store))
        assert versions.publish(store, versions.read_admin_files(Path(config.specs_root)), "test", "lifecycle model",
                                base=versions.active_version(store)[0]).version
    finally:
        store.dispose()


def sandbox_env(tmp: Path):
    """CRM=sandbox with its file inside tmp, for as long as the returned context is open."""
    import pytest
    patch = pytest.MonkeyPatch.context()
    mp = patch.__enter__()
    mp.setenv("CRM", "sandbox")
    mp.setenv("CRM_SANDBOX_PATH", str(tmp / "var" / "crm-sandbox.db"))
    return patch
