"""Files made once per test run and shared by every xdist worker.

Under `-n N` a module's tests are spread over workers, and a module-scoped fixture runs again in each worker that
gets one of them. For fixtures whose product is files (a demo's store), the first worker to ask makes them under a
file lock; the others wait for it and then read the same folder. Tests must copy the folder before changing it.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Callable


def made_once(tmp_path_factory, worker_id: str, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `make` filled, made by one worker of this run; `make` may raise, and the next asker retries."""
    if worker_id == "master":  # no xdist: the base temp's parent holds earlier runs too, so never share it
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    run_root = tmp_path_factory.getbasetemp().parent  # above each worker's own folder
    # Named after this run too: a --basetemp folder outlives its run, and must not hand on what an earlier run made.
    name = f"{name}-{os.environ['PYTEST_XDIST_TESTRUNUID']}"
    folder, done = run_root / name, run_root / f"{name}.done"
    with open(run_root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


def copy_into(source: Path, target: Path) -> None:
    """Every file and folder of `source`, copied into `target` (which may exist)."""
    shutil.copytree(source, target, dirs_exist_ok=True)
