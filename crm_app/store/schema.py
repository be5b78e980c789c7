"""Tables of the store (SQLAlchemy Core). Changes to them are Alembic revisions in store/migrations/versions/."""
from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

metadata = MetaData()

accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("external_id", String(255), nullable=False, unique=True),  # workspace / group id
    Column("name", String(255)),
    Column("domain", String(255), index=True),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("updated_at", BigInteger),
)

people = Table(
    "people", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("external_id", String(255), nullable=False, unique=True),  # product user id
    Column("email", String(320), index=True),
    Column("account_id", Integer, index=True),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("created_at", BigInteger),
    Column("updated_at", BigInteger),
)

event_types = Table(
    "event_types", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),  # lower-cased name, what rules match on
    Column("name", String(255), nullable=False),  # as first seen, for display
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(255), unique=True),
    Column("person_id", Integer),  # NULL until the sender is known (anonymous id not yet identified)
    Column("anonymous_id", String(255)),
    Column("type_id", Integer, nullable=False),
    Column("ts", BigInteger, nullable=False),  # epoch seconds, UTC
    Column("properties", JSON),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_events_anonymous", "anonymous_id"),
    # The person-ordered covering index is created per dialect by the migrations (frozen_core.py).
    sqlite_autoincrement=True,  # an id is never given twice: see revision 0005
)

aliases = Table(
    "aliases", metadata,
    Column("anonymous_id", String(255), primary_key=True),  # a pre-sign-up id later tied to a person
    Column("person_id", Integer, nullable=False),
)

metrics = Table(
    "metrics", metadata,
    Column("person_id", Integer, primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("as_of", BigInteger, primary_key=True),
    Column("value", Float),
)

dirty = Table(
    "dirty_people", metadata,
    Column("person_id", Integer, primary_key=True),
    Column("version", Integer, nullable=False, default=1),
)

# People the per-person engine scored since the DuckDB copy last looked: the copy re-reads them (their
# attributes, their events' person, the results mirror) instead of everyone. `seq` orders the hand-offs, so a
# run acknowledges only those it read.
copy_handoff = Table(
    "copy_handoff", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("person_id", Integer, nullable=False),
)

# Events whose person changed or that were deleted, logged by triggers on events (revision 0004): the DuckDB copy
# follows them, then deletes the rows it read.
event_moves = Table(
    "event_moves", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, nullable=False),
)

results = Table(
    "results", metadata,
    Column("model", String(64), primary_key=True),
    Column("subject_id", Integer, primary_key=True),
    Column("as_of", BigInteger, nullable=False),
    Column("fit", Integer), Column("fit_raw", Integer), Column("behaviour", Integer),
    Column("behaviour_before_decay", Integer), Column("decay", Integer), Column("combined", Integer),
    Column("band", String(16)),
    Column("pql", Boolean),
    Column("pql_since", BigInteger), Column("pql_first_at", BigInteger),
    Column("activation", String(32)), Column("milestones", Integer),
    Column("last_activity", BigInteger), Column("days_inactive", Integer),
    Column("reasons", JSON),
    Column("digest", String(32)),  # hash of every compared value: "changed?" without reading reasons back
    Column("rules_hash", String(32)),
    Column("segment", String(64)),  # primary customer-health segment (migration 42), written to the CRM
)

score_history = Table(
    "score_history", metadata,
    Column("model", String(64), primary_key=True),
    Column("subject_id", Integer, primary_key=True),
    Column("as_of", BigInteger, primary_key=True),
    Column("fit", Integer), Column("behaviour", Integer), Column("combined", Integer),
    Column("band", String(16)), Column("pql", Boolean),
    Column("rules_hash", String(32)),
)

score_runs = Table(
    "score_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", BigInteger), Column("finished_at", BigInteger), Column("as_of", BigInteger),
    Column("mode", String(16)), Column("dry_run", Boolean),
    Column("scored", Integer), Column("changed", Integer), Column("new_pqls", Integer),
    Column("rules_hash", String(32)),
)

rule_sets = Table(
    "rule_sets", metadata,
    Column("hash", String(32), primary_key=True),
    Column("applied_at", BigInteger, nullable=False),
    Column("files", JSON),
)

ingest_log = Table(
    "ingest_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", BigInteger, nullable=False),
    Column("source", String(64), nullable=False),
    Column("accepted", Integer, nullable=False), Column("duplicates", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
)

ingest_rejects = Table(
    "ingest_rejects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("log_id", Integer, index=True),
    Column("position", Integer),
    Column("reason", Text, nullable=False),
    Column("payload", Text),
)

meta = Table(
    "meta", metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text),
)

__all__ = ["metadata", "accounts", "people", "event_types", "events", "aliases", "metrics", "dirty", "copy_handoff",
           "results", "score_history", "score_runs", "rule_sets", "ingest_log", "ingest_rejects", "meta",
           "UniqueConstraint"]
