"""OpenID Connect sign-ins under way: each state's data (nonce, PKCE verifier) kept server-side until used once."""
from __future__ import annotations

from sqlalchemy import Column, Connection, Float, String, Table, Text, delete, insert, select

from crm_app.store import schema

sso_states = Table(
    "sso_states", schema.metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)


def create_tables(conn: Connection) -> None:
    sso_states.create(conn, checkfirst=True)


def put(conn: Connection, key: str, value: str, expires_at: float, now: float) -> None:
    conn.execute(delete(sso_states).where(sso_states.c.expires_at < now))
    conn.execute(delete(sso_states).where(sso_states.c.key == key))
    conn.execute(insert(sso_states).values(key=key, value=value, expires_at=expires_at))


def take(conn: Connection, key: str, now: float) -> str | None:
    """The value of a live key, deleted in the same step: of two callers racing for one key, one gets it."""
    value = conn.execute(select(sso_states.c.value).where(sso_states.c.key == key,
                                                          sso_states.c.expires_at >= now)).scalar()
    if value is None:
        return None
    taken = conn.execute(delete(sso_states).where(sso_states.c.key == key)).rowcount
    return value if taken == 1 else None


def discard(conn: Connection, key: str) -> None:
    conn.execute(delete(sso_states).where(sso_states.c.key == key))
