"""Dashboard sessions (revocable), failed sign-ins (throttling), dashboard users and the audit log."""
from __future__ import annotations

import json

from sqlalchemy import (Column, Connection, Float, Integer, String, Table, Text, case, delete, func, insert, or_,
                        select, update)

from crm_app.store import schema

dashboard_sessions = Table(
    "dashboard_sessions", schema.metadata,
    Column("sid", String(64), primary_key=True),  # random, also held in the signed session cookie
    Column("user", String(255), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
)

login_failures = Table(
    "login_failures", schema.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(255), nullable=False, index=True),
    Column("address", String(64), nullable=False, index=True),
    Column("at", Float, nullable=False, index=True),
)

dashboard_users = Table(
    "dashboard_users", schema.metadata,
    Column("user", String(255), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)

audit_log = Table(
    "audit_log", schema.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255)),
    Column("detail", Text),  # JSON: what changed (a diff), from where
)

TABLES = (dashboard_sessions, login_failures, dashboard_users, audit_log)

known_addresses = Table(  # where each user signed in from with their password: exempt from the user-wide lock
    "login_known_addresses", schema.metadata,
    Column("user", String(255), primary_key=True),
    Column("address", String(64), primary_key=True),
    Column("last_at", Float, nullable=False),
)


def create_tables(conn: Connection) -> None:
    for table in TABLES:
        table.create(conn, checkfirst=True)


# --- sessions -------------------------------------------------------------------------------------------------

def open_session(conn: Connection, sid: str, user: str, role: str, now: float) -> None:
    conn.execute(insert(dashboard_sessions).values(sid=sid, user=user, role=role, created_at=now, seen_at=now))


def session_role(conn: Connection, sid: str, opened_after: float) -> tuple[str, str] | None:
    """(user, role) of a session opened after a moment and not ended, else None."""
    s = dashboard_sessions.c
    row = conn.execute(select(s.user, s.role).where(s.sid == sid, s.created_at > opened_after)).first()
    return (row.user, row.role) if row else None


def end_session(conn: Connection, sid: str) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.sid == sid))


def end_user_sessions(conn: Connection, user: str) -> int:
    return conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.user == user)).rowcount


def end_stale_sessions(conn: Connection, older_than: float) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.created_at < older_than))


# --- failed sign-ins ------------------------------------------------------------------------------------------

def record_failure(conn: Connection, user: str, address: str, now: float) -> None:
    conn.execute(insert(login_failures).values(user=user[:255], address=address[:64], at=now))


def _scopes(user: str, address: str) -> dict:
    f = login_failures.c
    return {"pair": (f.user == user[:255]) & (f.address == address[:64]), "user": f.user == user[:255],
            "address": f.address == address[:64]}


def recent_failures(conn: Connection, user: str, address: str, since: float) -> dict[str, int]:
    """Failures since a moment, per scope, in one query: this user from this address ("pair"), this user from
    anywhere ("user"), anyone from this address ("address")."""
    f, scopes = login_failures.c, _scopes(user, address)
    counts = conn.execute(select(*(func.coalesce(func.sum(case((where, 1), else_=0)), 0) for where in scopes.values()))
                          .where(or_(scopes["user"], scopes["address"]), f.at >= since)).one()
    return dict(zip(scopes, counts))


def nth_failure_at(conn: Connection, user: str, address: str, scope: str, since: float, n: int) -> float | None:
    """When the n-th oldest failure (0-based) of a scope since a moment happened."""
    f = login_failures.c
    return conn.execute(select(f.at).where(_scopes(user, address)[scope], f.at >= since)
                        .order_by(f.at).limit(1).offset(n)).scalar()


def forget_failures(conn: Connection, before: float) -> None:
    conn.execute(delete(login_failures).where(login_failures.c.at < before))


def remember_address(conn: Connection, user: str, address: str, now: float) -> None:
    k = known_addresses.c
    conn.execute(delete(known_addresses).where(k.user == user[:255], k.address == address[:64]))
    conn.execute(insert(known_addresses).values(user=user[:255], address=address[:64], last_at=now))


def is_known_address(conn: Connection, user: str, address: str, since: float) -> bool:
    k = known_addresses.c
    return conn.execute(select(k.last_at).where(k.user == user[:255], k.address == address[:64],
                                                k.last_at >= since)).first() is not None


# --- users ----------------------------------------------------------------------------------------------------

def get_user(conn: Connection, user: str):
    return conn.execute(select(dashboard_users).where(dashboard_users.c.user == user)).first()


def list_users(conn: Connection) -> list[dict]:
    rows = conn.execute(select(dashboard_users.c.user, dashboard_users.c.role, dashboard_users.c.created_at)
                        .order_by(dashboard_users.c.user))
    return [dict(r._mapping) for r in rows]


def add_user(conn: Connection, user: str, password_hash: str, role: str, now: float) -> None:
    conn.execute(insert(dashboard_users).values(user=user, password_hash=password_hash, role=role, created_at=now))


def update_user(conn: Connection, user: str, **values) -> bool:
    return conn.execute(update(dashboard_users).where(dashboard_users.c.user == user).values(**values)).rowcount > 0


def remove_user(conn: Connection, user: str) -> bool:
    return conn.execute(delete(dashboard_users).where(dashboard_users.c.user == user)).rowcount > 0


# --- audit log ------------------------------------------------------------------------------------------------

def audit(conn: Connection, now: float, actor: str, action: str, target: str | None = None,
          detail: dict | None = None) -> None:
    conn.execute(insert(audit_log).values(at=now, actor=actor[:255], action=action, target=target,
                                          detail=json.dumps(detail, sort_keys=True) if detail else None))


def audit_entries(conn: Connection, limit: int = 100, action: str | None = None) -> list[dict]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action:
        query = query.where(audit_log.c.action == action)
    return [dict(r._mapping, detail=json.loads(r.detail) if r.detail else None) for r in conn.execute(query)]
