"""Tables of playbooks: trigger state, the action ledger, routing counters, Slack alerts and feedback."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from crm_app.store.schema import metadata

# What each playbook last saw of each subject: the "previous" side of the trigger diff, and hysteresis.
pb_state = Table(
    "pb_state", metadata,
    Column("playbook", String(64), primary_key=True),
    Column("subject_id", Integer, primary_key=True),
    Column("combined", Integer), Column("band", String(16)), Column("pql", Boolean),
    Column("segments", JSON), Column("armed", JSON),
    Column("marker", BigInteger),  # inactive: the last activity a quiet stretch already fired for
    Column("as_of", BigInteger),
)

# Every action, written before it is dispatched: the key makes a second run find it instead of redoing it.
pb_ledger = Table(
    "pb_ledger", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("playbook", String(64), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("occurrence", String(128), nullable=False),
    Column("step", Integer, nullable=False),
    Column("action", String(32), nullable=False),
    # pending | dispatching | sent | failed | dead | suppressed | digest | skipped
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", BigInteger, nullable=False, default=0),
    Column("owner", String(320)),
    Column("payload", JSON),
    Column("result", JSON),
    Column("error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("playbook", "subject_id", "occurrence", "step", name="uq_pb_ledger_key"),
    Index("ix_pb_ledger_status_next", "status", "next_at"),
    Index("ix_pb_ledger_owner", "owner", "action", "updated_at"),
)

# Round-robin position per pool: persistent, so fairness survives restarts.
rr_cursor = Table(
    "rr_cursor", metadata,
    Column("pool", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)

# Assignments per rep per ISO week, for the weekly cap.
rep_week = Table(
    "rep_week", metadata,
    Column("rep", String(320), primary_key=True),
    Column("week", Integer, primary_key=True),
    Column("assigned", Integer, nullable=False),
)

slack_alerts = Table(
    "slack_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ledger_id", Integer, unique=True),
    Column("playbook", String(64)), Column("subject_id", Integer), Column("model", String(64)),
    Column("channel", String(255)), Column("ts", String(64)),
    Column("owner", String(320)),
    Column("context", JSON),  # what the blocks were built from, to rebuild them on update
    Column("handled_action", String(32)), Column("handled_by", String(320)), Column("handled_at", BigInteger),
    Column("detail", Text),
    Column("snoozed_until", BigInteger), Column("realerted", Boolean, default=False),
    Column("created_at", BigInteger, nullable=False),
)

# Embedded mode: without a Slack token, messages land here and the dashboard shows them.
slack_outbox = Table(
    "slack_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(255), nullable=False),
    Column("ts", String(64), nullable=False, unique=True),
    Column("text", Text), Column("blocks", JSON), Column("ref", String(128), index=True),
    Column("created_at", BigInteger, nullable=False), Column("updated_at", BigInteger, nullable=False),
)

pql_feedback = Table(
    "pql_feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # false_positive
    Column("model", String(64)), Column("subject_id", Integer, index=True), Column("alert_id", Integer),
    Column("reason", Text), Column("by", String(320)), Column("at", BigInteger, nullable=False),
)

TABLES = [pb_state, pb_ledger, rr_cursor, rep_week, slack_alerts, slack_outbox, pql_feedback]


def create_playbook_tables(conn) -> None:
    """Migration 30: create just these tables."""
    metadata.create_all(conn, tables=TABLES)
