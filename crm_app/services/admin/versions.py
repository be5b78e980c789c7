"""The admin-file set as published versions in the store: read, validate, publish, diff and roll back.

A version is the whole set (rules/, field_specs/, playbooks/, lifecycle/, mapping/) as bytes. It is judged by
`check_admin_root` on a private copy of exactly those bytes, so `check`, `rules publish`, the dashboard and
every worker accept and refuse the same sets.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from crm_app.errors import SpecError
from crm_app.services.admin.validate import Validation, check_admin_root
from crm_app.specs.loader import display_path, yaml_files
from crm_app.store import Store
from crm_app.store import rule_versions as db
from crm_app.store.dashboard.security import audit

ADMIN_FOLDERS = ("rules", "field_specs", "playbooks", "lifecycle", "mapping")
SEED_AUTHOR = "files on disk"


@dataclass(frozen=True)
class Published:
    version: int | None  # None when refused
    errors: list  # SpecError (or one conflict message) when refused
    validation: Validation | None = None


def read_admin_files(root: Path) -> dict[str, bytes]:
    """path (relative to root) -> bytes of every YAML file the loader reads, directly in the admin folders."""
    root = Path(root)
    return {f"{folder}/{path.name}": path.read_bytes()
            for folder in ADMIN_FOLDERS for path in yaml_files(root / folder)}


def set_hash(files: dict[str, bytes]) -> str:
    """sha256 over every path and its bytes, in path order: the identity of a published set."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path] + b"\0")
    return digest.hexdigest()


def materialize(files: dict[str, bytes], root: Path) -> Path:
    """Write a set's files under root (created), so the loader reads them as it reads a checkout."""
    for path, content in files.items():
        rel = Path(path)
        if rel.is_absolute() or ".." in rel.parts or len(rel.parts) != 2 or rel.parts[0] not in ADMIN_FOLDERS:
            raise ValueError(f"{path!r} is not a file directly in one of {', '.join(ADMIN_FOLDERS)}")
        target = Path(root) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for folder in ("rules", "field_specs", "playbooks"):
        (Path(root) / folder).mkdir(parents=True, exist_ok=True)
    return Path(root)


def renamer(private: Path, shown: Path | None):
    """A function that names files of a private copy as `check` names them under `shown` (or by their relative
    paths, rules/x.yaml, without it), in an error's file and in its message. The loader names files relative to
    the working directory and the CRM files as joined paths; each form maps to the same form under `shown`."""
    def prefix(text: str) -> str:
        return "" if text == "." else text + os.sep
    pairs = [(prefix(display_path(private)), prefix(display_path(shown)) if shown is not None else ""),
             (prefix(str(private)), prefix(str(shown)) if shown is not None else "")]
    pairs.sort(key=lambda pair: len(pair[0]), reverse=True)

    def rename(text: str) -> str:
        for old, new in pairs:  # the folder itself first ("no model found" names rules/)
            if text == old.rstrip(os.sep):
                return new.rstrip(os.sep) or "."
        for old, new in pairs:
            text = text.replace(old, new)
        return text
    return rename


def rename_errors(errors: list, rename) -> list:
    return [replace(e, file=rename(e.file), message=rename(e.message)) if isinstance(e, SpecError) else e
            for e in errors]


def validate_files(files: dict[str, bytes], shown: Path | None = None, env: dict | None = None) -> Validation:
    """Every error of a set (named as under `shown`, else by their relative paths); the set when valid."""
    with tempfile.TemporaryDirectory(prefix="pql-candidate-") as tmp:
        try:
            materialize(files, Path(tmp))
        except ValueError as exc:
            return Validation(None, [SpecError(".", 1, "", str(exc))])
        checked = check_admin_root(Path(tmp), env)
        return Validation(checked.specs, rename_errors(checked.errors, renamer(Path(tmp), shown)))


def active_version(store: Store) -> tuple[int | None, dict[str, bytes]]:
    """(number, files) of the active version; (None, {}) before the first publish."""
    with store.read() as conn:
        number = db.latest_version(conn)
        return number, db.version_files(conn, number) if number else {}


def version_files(store: Store, number: int) -> dict[str, bytes]:
    """One version's files; LookupError naming the versions there are when it does not exist."""
    with store.read() as conn:
        if db.version_row(conn, number) is None:
            latest = db.latest_version(conn)
            raise LookupError(f"no version {number}; versions are 1 to {latest}" if latest else
                              f"no version {number}: nothing has been published yet")
        return db.version_files(conn, number)


def publish(store: Store, files: dict[str, bytes], author: str, message: str, kind: str = "publish",
            base: int | None = None, audit_action: str | None = None, audit_detail: dict | None = None,
            validation: Validation | None = None, env: dict | None = None,
            audit_target: str | None = None) -> Published:
    """Validate the set and make it the active version on top of `base`; refused with every error otherwise.

    The audit entry (when asked for) is written in the same transaction as the version."""
    validation = validation or validate_files(files, env=env)
    if validation.errors:
        return Published(None, validation.errors, validation)
    hashes = {"set_hash": set_hash(files), "rules_hash": validation.specs.rules.hash,
              "spec_hash": validation.specs.hash}
    now = time.time()
    try:
        with store.begin() as conn:
            number = db.add_version(conn, files, hashes, author, message, kind, now, base)
            if audit_action:
                audit(conn, now, author, audit_action, audit_target or f"version {number}",
                      dict(audit_detail or {}, version=number, replaces=base, message=message))
    except db.VersionConflict as exc:
        return Published(None, [str(exc)], validation)
    return Published(number, [], validation)


def seed_if_empty(store: Store, root: Path, env: dict | None = None) -> Published | None:
    """Publish the files on disk as version 1 when the store has no version; None when it already has one."""
    with store.read() as conn:
        if db.latest_version(conn) is not None:
            return None
    files = read_admin_files(root)
    outcome = publish(store, files, SEED_AUTHOR, f"seeded from {display_path(Path(root))}", "seed", None,
                      "rules_seeded", validation=validate_files(files, Path(root), env))
    if outcome.version is None and outcome.validation is not None and not outcome.validation.errors:
        return None  # another process seeded at the same moment
    return outcome


def history(store: Store, limit: int = 50) -> list[dict]:
    with store.read() as conn:
        return db.history(conn, limit)


def diff_files(before: dict[str, bytes], after: dict[str, bytes], before_name: str = "a",
               after_name: str = "b") -> str:
    """A unified diff of two sets, as `git apply` / `patch -p1` read it (a/rules/x.yaml, b/rules/x.yaml)."""
    out = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        old_lines = old.decode("utf-8", "replace").splitlines(True) if old is not None else []
        new_lines = new.decode("utf-8", "replace").splitlines(True) if new is not None else []
        old_name = f"a/{path}" if old is not None else "/dev/null"
        new_name = f"b/{path}" if new is not None else "/dev/null"
        out.append(f"diff --git a/{path} b/{path}\n")
        if old is None or new is None:  # git reads a created or deleted file only with its mode line
            out.append(f"{'new' if old is None else 'deleted'} file mode 100644\n")
        for line in difflib.unified_diff(old_lines, new_lines, old_name, new_name):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def version_patch(store: Store, number: int) -> str:
    """The change a version made to the one it replaced, as a patch a git checkout can apply."""
    with store.read() as conn:
        row = db.version_row(conn, number)
        if row is None:
            raise LookupError(f"no version {number}")
        before = db.version_files(conn, row["replaces"]) if row["replaces"] else {}
        after = db.version_files(conn, number)
    header = (f"From: {row['author']}\nSubject: [rules v{number}] {row['message']}\n"
              f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(row['created_at']))}\n\n")
    return header + diff_files(before, after)


def rollback(store: Store, number: int, author: str, base: int | None, message: str | None = None) -> Published:
    """Publish version `number`'s files again as a new version (the history keeps every step)."""
    files = version_files(store, number)
    return publish(store, files, author, message or f"rollback to version {number}", "rollback", base,
                   "rules_rolled_back", {"to": number})
