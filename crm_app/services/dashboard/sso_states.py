"""The cache Authlib keeps OpenID Connect sign-in state in, backed by the store.

Kept server-side (not in the session cookie), a state is good for one callback on any web process: a replayed
callback, even with the cookie copied from before the sign-in, finds nothing.
"""
from __future__ import annotations

import time

from crm_app.store import Store
from crm_app.store.dashboard import sso_states as db


class StoreStateCache:
    """The get/set/delete cache interface Authlib's Flask client uses; `get` also spends the key."""

    def __init__(self, store: Store):
        self.store = store

    def get(self, key: str) -> str | None:
        with self.store.begin() as conn:
            return db.take(conn, key[:128], time.time())

    def set(self, key: str, value: str, expires_in: int | None = None) -> None:
        now = time.time()
        with self.store.begin() as conn:
            db.put(conn, key[:128], value, now + (expires_in or 600), now)

    def delete(self, key: str) -> None:
        with self.store.begin() as conn:
            db.discard(conn, key[:128])
