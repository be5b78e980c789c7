"""Frozen legacy step 1: the core tables (people, accounts, events, scoring results, ingest ledger).

Written out once from the schema as legacy migration 1 built it; never edit. Every create is if-not-exists,
because stores made by older code may hold some of these already (see legacy.py).
"""
from __future__ import annotations

import sqlalchemy as sa


def step_1(op) -> None:
    op.create_table('accounts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('external_id', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('domain', sa.String(length=255), nullable=True),
        sa.Column('attributes', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('external_id'),
        if_not_exists=True)
    op.create_index(op.f('ix_accounts_domain'), 'accounts', ['domain'], unique=False, if_not_exists=True)
    op.create_table('aliases',
        sa.Column('anonymous_id', sa.String(length=255), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('anonymous_id'),
        if_not_exists=True)
    op.create_table('dirty_people',
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('person_id'),
        if_not_exists=True)
    op.create_table('event_types',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
        if_not_exists=True)
    op.create_table('events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('message_id', sa.String(length=255), nullable=True),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('anonymous_id', sa.String(length=255), nullable=True),
        sa.Column('type_id', sa.Integer(), nullable=False),
        sa.Column('ts', sa.BigInteger(), nullable=False),
        sa.Column('properties', sa.JSON(), nullable=True),
        sa.Column('received_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id'),
        if_not_exists=True)
    op.create_index('ix_events_anonymous', 'events', ['anonymous_id'], unique=False, if_not_exists=True)
    op.create_table('ingest_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('received_at', sa.BigInteger(), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('accepted', sa.Integer(), nullable=False),
        sa.Column('duplicates', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_table('ingest_rejects',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('log_id', sa.Integer(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('payload', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_index(op.f('ix_ingest_rejects_log_id'), 'ingest_rejects', ['log_id'], unique=False, if_not_exists=True)
    op.create_table('meta',
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('value', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('key'),
        if_not_exists=True)
    op.create_table('metrics',
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('as_of', sa.BigInteger(), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('person_id', 'name', 'as_of'),
        if_not_exists=True)
    op.create_table('people',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('external_id', sa.String(length=255), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('attributes', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=True),
        sa.Column('updated_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('external_id'),
        if_not_exists=True)
    op.create_index(op.f('ix_people_account_id'), 'people', ['account_id'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_people_email'), 'people', ['email'], unique=False, if_not_exists=True)
    op.create_table('results',
        sa.Column('model', sa.String(length=64), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.BigInteger(), nullable=False),
        sa.Column('fit', sa.Integer(), nullable=True),
        sa.Column('fit_raw', sa.Integer(), nullable=True),
        sa.Column('behaviour', sa.Integer(), nullable=True),
        sa.Column('behaviour_before_decay', sa.Integer(), nullable=True),
        sa.Column('decay', sa.Integer(), nullable=True),
        sa.Column('combined', sa.Integer(), nullable=True),
        sa.Column('band', sa.String(length=16), nullable=True),
        sa.Column('pql', sa.Boolean(), nullable=True),
        sa.Column('pql_since', sa.BigInteger(), nullable=True),
        sa.Column('pql_first_at', sa.BigInteger(), nullable=True),
        sa.Column('activation', sa.String(length=32), nullable=True),
        sa.Column('milestones', sa.Integer(), nullable=True),
        sa.Column('last_activity', sa.BigInteger(), nullable=True),
        sa.Column('days_inactive', sa.Integer(), nullable=True),
        sa.Column('reasons', sa.JSON(), nullable=True),
        sa.Column('digest', sa.String(length=32), nullable=True),
        sa.Column('rules_hash', sa.String(length=32), nullable=True),
        sa.Column('segment', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('model', 'subject_id'),
        if_not_exists=True)
    op.create_index(op.f('ix_results_band'), 'results', ['band'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_results_combined'), 'results', ['combined'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_results_pql'), 'results', ['pql'], unique=False, if_not_exists=True)
    op.create_table('rule_sets',
        sa.Column('hash', sa.String(length=32), nullable=False),
        sa.Column('applied_at', sa.BigInteger(), nullable=False),
        sa.Column('files', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('hash'),
        if_not_exists=True)
    op.create_table('score_history',
        sa.Column('model', sa.String(length=64), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.BigInteger(), nullable=False),
        sa.Column('fit', sa.Integer(), nullable=True),
        sa.Column('behaviour', sa.Integer(), nullable=True),
        sa.Column('combined', sa.Integer(), nullable=True),
        sa.Column('band', sa.String(length=16), nullable=True),
        sa.Column('pql', sa.Boolean(), nullable=True),
        sa.Column('rules_hash', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('model', 'subject_id', 'as_of'),
        if_not_exists=True)
    op.create_table('score_runs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('started_at', sa.BigInteger(), nullable=True),
        sa.Column('finished_at', sa.BigInteger(), nullable=True),
        sa.Column('as_of', sa.BigInteger(), nullable=True),
        sa.Column('mode', sa.String(length=16), nullable=True),
        sa.Column('dry_run', sa.Boolean(), nullable=True),
        sa.Column('scored', sa.Integer(), nullable=True),
        sa.Column('changed', sa.Integer(), nullable=True),
        sa.Column('new_pqls', sa.Integer(), nullable=True),
        sa.Column('rules_hash', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    # Events in person order carrying every column scoring reads; SQLite has no INCLUDE, so properties become a
    # trailing key column there.
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_events_person_cover", "events", ["person_id", "ts", "type_id"],
                        postgresql_include=["properties"], if_not_exists=True)
    else:
        op.create_index("ix_events_person_cover", "events", ["person_id", "ts", "type_id", "properties"],
                        if_not_exists=True)
