"""Dashboard logins: admin and manager credentials from the environment, or a one-time admin password."""
from __future__ import annotations

import hmac
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from crm_app.config import Config
from crm_app.store import Store, get_meta, set_meta

OTP_KEY = "dashboard_one_time_password"
ROLES = ("admin", "manager")


def issue_one_time_password(store: Store) -> str:
    """A fresh admin password that works for one login; only its hash is kept."""
    password = secrets.token_urlsafe(12)
    with store.begin() as conn:
        set_meta(conn, OTP_KEY, generate_password_hash(password))
    return password


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def authenticate(config: Config, store: Store, user: str, password: str) -> str | None:
    """The role of a valid login, else None; a one-time password is spent by the login that uses it."""
    if not password:
        return None
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


def shared_session_key(store: Store) -> str:
    """A session key every web process of this store shares, made once, when SECRET_KEY is not set.

    A per-process random key would sign a user out whenever gunicorn routes them to another worker.
    """
    from crm_app.store.dashboard.queries import meta_once
    with store.begin() as conn:
        return meta_once(conn, "dashboard_session_key", secrets.token_hex(32))
