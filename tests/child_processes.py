"""Long-running processes a test starts (workers, servers) die with the test process: a test run killed from
outside runs no teardown, and a worker left behind would keep polling the per-worker database the next run
reuses, taking its lease and its queue."""
from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A Popen preexec_fn (Linux): the child gets SIGKILL when the thread that started it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
