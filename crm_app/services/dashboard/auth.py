"""Dashboard logins: users in the store, admin and manager credentials from the environment, a one-time admin
password; revocable sessions and sign-in throttling kept in the store, so every web process agrees."""
from __future__ import annotations

import hmac
import secrets
import time

from werkzeug.security import check_password_hash, generate_password_hash

from crm_app.config import Config
from crm_app.store import Store, get_meta, set_meta
from crm_app.store.dashboard import security as db

OTP_KEY = "dashboard_one_time_password"
ROLES = ("admin", "manager", "viewer")
WINDOW_SECONDS = 15 * 60  # failed sign-ins count for this long (a sliding window)
# Failures within the window before a scope is locked. A stranger's wrong passwords lock only the stranger:
# the pair (this user, this address) after 5, the address after 20 over every user name. The user name itself
# is locked past a ceiling that one address cannot reach alone (it is stopped at 5), which bounds guessing
# from many addresses; even then the user still signs in from an address they signed in from before.
KNOWN_ADDRESS_SECONDS = 30 * 86400  # a successful sign-in makes its address known to that user this long
MAX_PER_PAIR = 5
MAX_PER_ADDRESS = 20
MAX_PER_USER = 100
LIMITS = {"pair": MAX_PER_PAIR, "address": MAX_PER_ADDRESS, "user": MAX_PER_USER}
SESSION_SECONDS = 12 * 3600  # a session ends this long after sign-in


def issue_one_time_password(store: Store) -> str:
    """A fresh admin password that works for one login; only its hash is kept."""
    password = secrets.token_urlsafe(12)
    with store.begin() as conn:
        set_meta(conn, OTP_KEY, generate_password_hash(password))
    return password


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def authenticate(config: Config, store: Store, user: str, password: str) -> str | None:
    """The role of a valid login, else None; a one-time password is spent by the login that uses it.

    A user kept in the store wins over the environment logins of the same name.
    """
    if not password:
        return None
    with store.read() as conn:
        stored_user = db.get_user(conn, user)
    if stored_user is not None:
        return stored_user.role if check_password_hash(stored_user.password_hash, password) else None
    if config.dashboard_admin_password and _same(user, config.dashboard_admin_user) \
            and _same(password, config.dashboard_admin_password):
        return "admin"
    if config.dashboard_manager_password and _same(user, config.dashboard_manager_user) \
            and _same(password, config.dashboard_manager_password):
        return "manager"
    if _same(user, config.dashboard_admin_user):
        with store.begin() as conn:
            stored = get_meta(conn, OTP_KEY)
            if stored and check_password_hash(stored, password):
                set_meta(conn, OTP_KEY, "")
                return "admin"
    return None


def locked_for(store: Store, user: str, address: str, now: float | None = None) -> int:
    """Seconds until this user name may try again from this address (0: now). A locked scope opens again
    when enough of its failures have slid out of the window to bring it under its limit."""
    now = time.time() if now is None else now
    since = now - WINDOW_SECONDS
    with store.read() as conn:
        counts = db.recent_failures(conn, user, address, since)
        locked = [scope for scope in LIMITS if counts[scope] >= LIMITS[scope]]
        if "user" in locked and db.is_known_address(conn, user, address, now - KNOWN_ADDRESS_SECONDS):
            locked.remove("user")
        reopen = [db.nth_failure_at(conn, user, address, scope, since, counts[scope] - LIMITS[scope])
                  for scope in locked]
    if not reopen:
        return 0
    return max(1, int(max(at or now for at in reopen) + WINDOW_SECONDS - now))


def record_failure(store: Store, user: str, address: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    with store.begin() as conn:
        db.record_failure(conn, user, address, now)
        db.forget_failures(conn, now - 2 * WINDOW_SECONDS)


def remember_address(store: Store, user: str, address: str, now: float | None = None) -> None:
    """A password sign-in succeeded from this address: it stays open to this user past the user-wide lock."""
    with store.begin() as conn:
        db.remember_address(conn, user, address, time.time() if now is None else now)


def open_session(store: Store, user: str, role: str, now: float | None = None) -> str:
    """A new session id for a signed-in user (kept in the store, so it can be ended server-side)."""
    now = time.time() if now is None else now
    sid = secrets.token_urlsafe(32)
    with store.begin() as conn:
        db.end_stale_sessions(conn, now - SESSION_SECONDS)
        db.open_session(conn, sid, user, role, now)
    return sid


def session_user(store: Store, sid: str | None) -> tuple[str, str] | None:
    """(user, role) of a live session id, else None (ended, revoked or never issued)."""
    if not sid or not isinstance(sid, str) or len(sid) > 64:
        return None
    with store.read() as conn:
        return db.session_role(conn, sid, time.time() - SESSION_SECONDS)


def end_session(store: Store, sid: str | None) -> None:
    if sid:
        with store.begin() as conn:
            db.end_session(conn, sid)


def shared_session_key(store: Store) -> str:
    """A session key every web process of this store shares, made once, when SECRET_KEY is not set.

    A per-process random key would sign a user out whenever gunicorn routes them to another worker.
    """
    from crm_app.store.dashboard.queries import meta_once
    with store.begin() as conn:
        return meta_once(conn, "dashboard_session_key", secrets.token_hex(32))
