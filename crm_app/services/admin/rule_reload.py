"""The active admin-file version, applied by every process: notice a new version, validate it, switch or refuse.

The store holds the published versions (services/admin/versions.py); the highest is active. A process polls
for its number (one index lookup), and on a change writes that version's files into a private folder, judges
them with the one validator and switches atomically, or keeps its last good set and records why it refused.
When the store has no version yet, the files on disk are published first, as the seed.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from crm_app.errors import SpecSetInvalid
from crm_app.services.admin import versions
from crm_app.services.admin.validate import check_admin_root
from crm_app.specs.loader import SpecDirs, SpecSet, display_path
from crm_app.store import Store
from crm_app.store import ops as ops_store
from crm_app.store import rule_versions as versions_store
from crm_app.store.playbooks.merge import save_account_subjects

log = logging.getLogger("crm_app.rules")


@dataclass
class ReloadOutcome:
    changed: bool  # a different version is active than was last looked at
    applied: bool  # a new set is now active
    set_hash: str | None
    errors: list  # the refused version's errors, as text
    version: int | None = None  # the version now applied


class RuleHolder:
    """The last good spec set. Readers take `specs` once per run, so a run never mixes two sets."""

    def __init__(self, store: Store, dirs: SpecDirs, env: dict | None = None):
        self.store, self.dirs, self.env = store, dirs, env
        self._specs: SpecSet | None = None
        self._seen: int | None = None
        self._refused_seed: str | None = None  # hash of the files on disk last refused as the seed
        self.version: int | None = None  # the applied version
        self.root: Path | None = None  # the private folder holding the applied version's files
        self.refused: list = []  # errors of the active version while it is refused, as text
        self.refused_errors: list = []  # the same errors as SpecError
        self._lock = threading.Lock()
        self._cache = Path(tempfile.mkdtemp(prefix="pql-rules-"))
        weakref.finalize(self, shutil.rmtree, str(self._cache), True)
        self.on_applied = None  # called with the new SpecSet after a switch (the worker wakes a full rescore)

    @property
    def specs(self) -> SpecSet | None:
        return self._specs

    @property
    def seed_root(self) -> Path:
        return self.dirs.rules.parent

    def require(self) -> SpecSet:
        """The active set, loading it now if none is active; raises SpecSetInvalid when there is none."""
        if self._specs is None:
            self.check()
        if self._specs is None:
            raise SpecSetInvalid(self.refused_errors)
        return self._specs

    def check(self) -> ReloadOutcome:
        """Look at the active version; on a change, validate it and switch to it, or refuse it."""
        with self._lock:
            with self.store.read() as conn:
                number = versions_store.latest_version(conn)
            if number is None:
                on_disk = versions.set_hash(versions.read_admin_files(self.seed_root))
                if on_disk == self._refused_seed:  # still the refused files: no second validation per poll
                    return ReloadOutcome(False, False, None, self.refused, None)
                seeded = versions.seed_if_empty(self.store, self.seed_root, self.env)
                if seeded is not None and seeded.errors:
                    self._refused_seed = on_disk
                    return self._refuse("the files on disk (seed)", seeded.errors)
                with self.store.read() as conn:
                    number = versions_store.latest_version(conn)
            current = self._specs.hash if self._specs else None
            if number is None or number == self._seen:
                return ReloadOutcome(False, False, current, self.refused, self.version)
            self._seen = number
            folder = self._cache / f"v{number}"
            shutil.rmtree(folder, ignore_errors=True)
            versions.materialize(versions.version_files(self.store, number), folder)
            checked = check_admin_root(folder, self.env)
            if checked.errors:
                errors = versions.rename_errors(checked.errors, versions.renamer(folder, None))
                shutil.rmtree(folder, ignore_errors=True)
                return self._refuse(f"version {number}", errors)
            specs, previous = checked.specs, self.root
            self.refused, self.refused_errors = [], []
            with self.store.begin() as conn:
                _record(conn, specs, number, versions.renamer(folder, None))
            if self._specs is not None and specs.hash == self._specs.hash:  # e.g. a rollback to the same files
                self.version, self.root = number, folder
                self._forget(previous)
                return ReloadOutcome(True, False, specs.hash, [], number)
            first = self._specs is None
            # One reference assignment each: a reader takes `specs` once per run, so it never mixes two sets.
            self._specs, self.version, self.root = specs, number, folder
            self._forget(previous)
            log.info("rule set version %s (%s) applied", number, specs.hash)
        if self.on_applied is not None and not first:
            self.on_applied(specs)
        return ReloadOutcome(True, True, specs.hash, [], number)

    def _refuse(self, what: str, errors: list) -> ReloadOutcome:
        self.refused_errors = list(errors)
        self.refused = [str(e) for e in errors]
        with self.store.begin() as conn:
            ops_store.record_refused(conn, what, self.refused)
        log.error("rule set %s refused: %d error(s); still scoring with %s", what, len(errors),
                  self._specs.hash if self._specs else "no set", extra={"errors": self.refused})
        return ReloadOutcome(True, False, self._specs.hash if self._specs else None, self.refused, self.version)

    def _forget(self, folder: Path | None) -> None:
        """Drop the files of versions older than the previous one (a running job may still read that one)."""
        keep = {self.root, folder}
        for old in self._cache.iterdir():
            if old not in keep:
                shutil.rmtree(old, ignore_errors=True)


def _record(conn, specs: SpecSet, version: int, rename) -> None:
    """The applied set, its files named as in the version (rules/conversion.yaml), and its version number; and
    which models and playbooks are about accounts (a person merge never moves their rows)."""
    ops_store.record_rule_set(conn, specs.hash, [rename(f) for f in _files(specs)], specs.rules.hash,
                              [rename(f) for f in specs.rules.files], version=version)
    accounts = {m.name for m in specs.rules.models if m.subject == "account"}
    playbooks = specs.playbooks.playbooks if specs.playbooks else ()
    save_account_subjects(conn, sorted(accounts), [p.name for p in playbooks if p.model in accounts])


def _files(specs: SpecSet) -> tuple:
    playbooks = tuple(display_path(p) if isinstance(p, Path) else str(p[0]) for p in specs.playbook_files)
    return tuple(specs.rules.files) + playbooks + tuple(sorted({f.source.rsplit(":", 1)[0] for f in specs.fields}))
