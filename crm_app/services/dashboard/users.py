"""Dashboard users kept in the store (add, set-password, set-role, remove) and the audit log."""
from __future__ import annotations

import re
import time

from werkzeug.security import generate_password_hash

from crm_app.services.dashboard.auth import ROLES
from crm_app.store import Store
from crm_app.store.dashboard import security as db

NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,255}$")
MIN_PASSWORD = 10


class UserError(ValueError):
    """A users command that cannot be done, with the reason."""


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


def add_user(store: Store, user: str, password: str, role: str, actor: str = "cli") -> None:
    if not NAME.match(user):
        raise UserError("a user name is 1-255 letters, digits or . _ @ + -")
    _check_role(role)
    _check_password(password)
    with store.begin() as conn:
        if db.get_user(conn, user) is not None:
            raise UserError(f"user {user!r} exists; use set-password or set-role")
        db.add_user(conn, user, generate_password_hash(password), role, time.time())
        db.audit(conn, time.time(), actor, "user_added", user, {"role": role})


def set_password(store: Store, user: str, password: str, actor: str = "cli") -> int:
    """A new password; every session of the user ends. Returns the sessions ended."""
    _check_password(password)
    with store.begin() as conn:
        if not db.update_user(conn, user, password_hash=generate_password_hash(password)):
            raise UserError(f"no user {user!r}")
        ended = db.end_user_sessions(conn, user)
        db.audit(conn, time.time(), actor, "password_changed", user, {"sessions_ended": ended})
    return ended


def set_role(store: Store, user: str, role: str, actor: str = "cli") -> int:
    """A new role; every session of the user ends (the next sign-in gets the new role)."""
    _check_role(role)
    with store.begin() as conn:
        old = db.get_user(conn, user)
        if old is None:
            raise UserError(f"no user {user!r}")
        db.update_user(conn, user, role=role)
        ended = db.end_user_sessions(conn, user)
        db.audit(conn, time.time(), actor, "role_changed", user, {"role": [old.role, role], "sessions_ended": ended})
    return ended


def remove_user(store: Store, user: str, actor: str = "cli") -> None:
    with store.begin() as conn:
        if not db.remove_user(conn, user):
            raise UserError(f"no user {user!r}")
        ended = db.end_user_sessions(conn, user)
        db.audit(conn, time.time(), actor, "user_removed", user, {"sessions_ended": ended})


def list_users(store: Store) -> list[dict]:
    with store.read() as conn:
        return db.list_users(conn)


def record(store: Store, actor: str, action: str, target: str | None = None, detail: dict | None = None) -> None:
    """One audit log entry: who did what to which thing, with the details (a diff for edits)."""
    with store.begin() as conn:
        db.audit(conn, time.time(), actor, action, target, detail)


def audit_entries(store: Store, limit: int = 100, action: str | None = None) -> list[dict]:
    with store.read() as conn:
        return db.audit_entries(conn, limit, action)


def text_diff(before: str, after: str, name: str) -> str:
    """A unified diff of an edited file, as the audit log keeps it."""
    import difflib
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"a/{name}", f"b/{name}"))
