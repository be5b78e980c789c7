"""The admin file set the dashboard shows: reloaded when a file changes, last good set kept when the new one fails."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from crm_app.errors import SpecSetInvalid
from crm_app.specs.loader import SpecDirs, SpecSet, load_spec_set, yaml_files


@dataclass(frozen=True)
class LoadedSpecs:
    specs: SpecSet | None  # the last good set (None when no set has ever loaded)
    loaded_at: float  # when that set was loaded
    errors: tuple  # errors of the newest files, when they were refused
    checked_at: float


class SpecCache:
    """Reload on change only: a stat of each admin file per request, a parse only when one changed."""

    def __init__(self, dirs: SpecDirs):
        self.dirs = dirs
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._state = LoadedSpecs(None, 0.0, (), 0.0)

    def _fingerprint(self) -> tuple:
        files = yaml_files(self.dirs.rules) + yaml_files(self.dirs.field_specs) + yaml_files(self.dirs.playbooks)
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)

    def get(self) -> LoadedSpecs:
        """The current state, reloading first when any admin file changed."""
        key = self._fingerprint()
        with self._lock:
            if key != self._key:
                now = time.time()
                try:
                    self._state = LoadedSpecs(load_spec_set(self.dirs), now, (), now)
                except SpecSetInvalid as exc:
                    self._state = LoadedSpecs(self._state.specs, self._state.loaded_at, tuple(exc.errors), now)
                self._key = key
            return self._state
