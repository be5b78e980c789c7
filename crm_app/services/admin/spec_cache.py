"""The admin file set the dashboard shows: the active version, last good set kept when a new one is refused."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.specs.loader import SpecDirs, SpecSet
from crm_app.store import Store


@dataclass(frozen=True)
class LoadedSpecs:
    specs: SpecSet | None  # the last good set (None when no set has ever loaded)
    loaded_at: float  # when that set was loaded
    errors: tuple  # errors of the newest version, when it was refused
    checked_at: float
    version: int | None = None  # the version `specs` came from
    root: Path | None = None  # a private folder holding that version's files


class SpecCache:
    """At most one lookup of the active version's number per `interval` seconds (a page view makes several
    reads, and a busy dashboard many); a load only when it changed. A publish by this process invalidates it,
    so its author sees the new version at once; another process's publish shows within `interval`."""

    def __init__(self, store: Store, dirs: SpecDirs, env: dict | None = None, interval: float = 1.0):
        self.holder = RuleHolder(store, dirs, env)
        self.interval = interval
        self._lock = threading.Lock()
        self._state = LoadedSpecs(None, 0.0, (), 0.0)
        self._looked = float("-inf")  # monotonic time of the last lookup

    def invalidate(self) -> None:
        """Look again on the next request (this process just published a version)."""
        self._looked = float("-inf")

    def get(self) -> LoadedSpecs:
        """The current state, switching first when a new version was published."""
        with self._lock:
            if time.monotonic() - self._looked < self.interval:
                return self._state
            outcome = self.holder.check()
            self._looked = time.monotonic()
            now = time.time()
            holder = self.holder
            if outcome.changed or self._state.specs is not holder.specs:
                loaded_at = now if holder.specs is not self._state.specs else self._state.loaded_at
                self._state = LoadedSpecs(holder.specs, loaded_at, tuple(holder.refused_errors), now,
                                          holder.version, holder.root)
            return self._state
