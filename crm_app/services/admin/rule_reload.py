"""Admin files edited while the service runs: notice, validate the whole set, switch atomically or refuse."""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from dataclasses import dataclass

from crm_app.errors import SpecSetInvalid
from crm_app.specs.loader import SpecDirs, SpecSet, display_path, load_spec_set, yaml_files
from crm_app.store import Store
from crm_app.store import ops as ops_store
from crm_app.store.playbooks.merge import save_account_subjects

log = logging.getLogger("crm_app.rules")


def fingerprint(dirs: SpecDirs) -> str:
    """Names, sizes and modification times of every admin file: cheap to poll, changes on any edit."""
    digest = hashlib.sha256()
    for directory in (dirs.rules, dirs.field_specs, dirs.playbooks, dirs.lifecycle):
        for path in yaml_files(directory) if directory is not None else []:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


@dataclass
class ReloadOutcome:
    changed: bool  # the files differ from what was last looked at
    applied: bool  # a new set is now active
    set_hash: str | None
    errors: list


class RuleHolder:
    """The last good spec set. Readers take `specs` once per run, so a run never mixes two sets."""

    def __init__(self, store: Store, dirs: SpecDirs):
        self.store, self.dirs = store, dirs
        self._specs: SpecSet | None = None
        self._seen: str | None = None
        self.refused: list = []  # errors of the files on disk while they are refused
        self._lock = threading.Lock()
        self.on_applied = None  # called with the new SpecSet after a switch (the worker wakes a full rescore)

    @property
    def specs(self) -> SpecSet | None:
        return self._specs

    def require(self) -> SpecSet:
        """The active set, loading it now if none is active; raises SpecSetInvalid when there is none."""
        if self._specs is None:
            self.check()
        if self._specs is None:
            raise SpecSetInvalid(load_errors(self.dirs))
        return self._specs

    def check(self) -> ReloadOutcome:
        """Look at the files; on a change, validate the whole set and switch to it, or refuse it."""
        with self._lock:
            seen = fingerprint(self.dirs)
            if seen == self._seen:
                return ReloadOutcome(False, False, self._specs.hash if self._specs else None, self.refused)
            self._seen = seen
            try:
                specs = load_spec_set(self.dirs)
            except SpecSetInvalid as exc:
                errors = self.refused = [str(e) for e in exc.errors]
                with self.store.begin() as conn:
                    ops_store.record_refused(conn, seen, errors)
                log.error("rule set refused: %d error(s); still scoring with %s", len(errors),
                          self._specs.hash if self._specs else "no set", extra={"errors": errors})
                return ReloadOutcome(True, False, self._specs.hash if self._specs else None, errors)
            self.refused = []
            if self._specs is not None and specs.hash == self._specs.hash:
                with self.store.begin() as conn:  # an edit reverted to the active set: clear the refusal
                    _record(conn, specs)
                return ReloadOutcome(True, False, specs.hash, [])
            with self.store.begin() as conn:
                _record(conn, specs)
            first = self._specs is None
            self._specs = specs  # one reference assignment: the switch is atomic for every reader
            log.info("rule set %s applied", specs.hash)
        if self.on_applied is not None and not first:
            self.on_applied(specs)
        return ReloadOutcome(True, True, specs.hash, [])


def _record(conn, specs: SpecSet) -> None:
    ops_store.record_rule_set(conn, specs.hash, list(_files(specs)), specs.rules.hash, list(specs.rules.files))
    accounts = {m.name for m in specs.rules.models if m.subject == "account"}
    playbooks = specs.playbooks.playbooks if specs.playbooks else ()
    save_account_subjects(conn, sorted(accounts), [p.name for p in playbooks if p.model in accounts])


def _files(specs: SpecSet) -> tuple:
    playbooks = tuple(display_path(p) if isinstance(p, Path) else str(p[0]) for p in specs.playbook_files)
    return tuple(specs.rules.files) + playbooks + tuple(sorted({f.source.rsplit(":", 1)[0] for f in specs.fields}))


def load_errors(dirs: SpecDirs) -> list:
    """The errors of the set on disk (empty when it is valid)."""
    try:
        load_spec_set(dirs)
    except SpecSetInvalid as exc:
        return exc.errors
    return []
