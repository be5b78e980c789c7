"""Published admin-file sets: every version's files, author, message and what it replaced; the newest is active.

Versions are append-only and numbered 1, 2, 3...: a rollback publishes an old version's files again as a new
version, so the active set is always the highest number and the history never loses a step. Two publishers
racing for the same number collide on the primary key; the loser is told, never silently overwritten.
"""
from __future__ import annotations

from sqlalchemy import (Column, Connection, Float, Integer, LargeBinary, String, Table, Text, func, insert,
                        select)
from sqlalchemy.exc import IntegrityError

from crm_app.store import schema

rule_versions = Table(
    "rule_versions", schema.metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("set_hash", String(64), nullable=False),  # sha256 of every file's path and bytes
    Column("rules_hash", String(32)),  # the hash results carry (results.rules_hash): rules/ alone
    Column("spec_hash", String(32)),  # the hash the loaded set reports (rules, field specs, playbooks, lifecycle)
    Column("author", String(255), nullable=False),
    Column("message", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # seed | publish | edit | rollback
    Column("created_at", Float, nullable=False),
    Column("replaces", Integer),  # the version that was active when this one was made
)

rule_version_files = Table(
    "rule_version_files", schema.metadata,
    Column("version", Integer, primary_key=True),
    Column("path", String(255), primary_key=True),  # relative to the admin root: rules/conversion.yaml
    Column("content", LargeBinary, nullable=False),  # bytes, as on disk: the loader judges the encoding
)

TABLES = (rule_versions, rule_version_files)


class VersionConflict(Exception):
    """Another version was published after the one this change was based on."""


def create_tables(conn: Connection) -> None:
    """Migration 100: versioned admin-file sets."""
    schema.metadata.create_all(conn, tables=list(TABLES))


def latest_version(conn: Connection) -> int | None:
    """The active version's number (the highest), or None before the first publish: one index lookup."""
    return conn.execute(select(func.max(rule_versions.c.version))).scalar()


def add_version(conn: Connection, files: dict[str, bytes], hashes: dict, author: str, message: str, kind: str,
                now: float, base: int | None) -> int:
    """Store a new active version made on top of `base` (the version its author saw); VersionConflict when
    another version was published meanwhile."""
    current = latest_version(conn)
    if current != base:
        raise VersionConflict(f"version {current} was published after version {base}, which this change "
                              "was based on; reload and make the change again")
    number = (current or 0) + 1
    # No savepoint: on SQLite, a SAVEPOINT opened before the transaction's first write is that transaction, and
    # releasing it commits, so another process would see the version before its files. A conflict aborts the
    # caller's whole transaction instead.
    try:
        conn.execute(insert(rule_versions).values(
            version=number, author=author[:255], message=message, kind=kind, created_at=now,
            replaces=current, **hashes))
    except IntegrityError:
        raise VersionConflict(f"version {number} was published by someone else at the same moment; "
                              "reload and make the change again") from None
    conn.execute(insert(rule_version_files),
                 [{"version": number, "path": path, "content": content} for path, content in sorted(files.items())])
    return number


def version_row(conn: Connection, number: int) -> dict | None:
    row = conn.execute(select(rule_versions).where(rule_versions.c.version == number)).first()
    return dict(row._mapping) if row else None


def version_files(conn: Connection, number: int) -> dict[str, bytes]:
    """path -> bytes of one version's files."""
    t = rule_version_files
    return {p: bytes(c) for p, c in conn.execute(select(t.c.path, t.c.content).where(t.c.version == number)
                                                 .order_by(t.c.path))}


def history(conn: Connection, limit: int = 50) -> list[dict]:
    """The newest versions first."""
    query = select(rule_versions).order_by(rule_versions.c.version.desc()).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]


def versions_of_rules_hash(conn: Connection, rules_hash: str) -> list[int]:
    """The versions whose rules produce results with this hash (a rollback repeats an older one's)."""
    query = select(rule_versions.c.version).where(rule_versions.c.rules_hash == rules_hash)
    return list(conn.execute(query.order_by(rule_versions.c.version)).scalars())
