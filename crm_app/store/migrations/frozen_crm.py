"""Frozen legacy steps 10 (CRM links and ledgers), 20 (lifecycle models, backtests), 30 (playbooks). Never edit."""
from __future__ import annotations

import sqlalchemy as sa


def step_10(op) -> None:
    op.create_table('crm_api_calls',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.BigInteger(), nullable=False),
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('operation', sa.String(length=32), nullable=False),
        sa.Column('family', sa.String(length=64), nullable=False),
        sa.Column('calls', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_table('crm_links',
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('object_type', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('input_hash', sa.String(length=32), nullable=True),
        sa.Column('synced_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('crm', 'object_type', 'record_id'),
        if_not_exists=True)
    op.create_index(op.f('ix_crm_links_account_id'), 'crm_links', ['account_id'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_crm_links_person_id'), 'crm_links', ['person_id'], unique=False, if_not_exists=True)
    op.create_table('crm_watermarks',
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('object_type', sa.String(length=64), nullable=False),
        sa.Column('watermark', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('crm', 'object_type'),
        if_not_exists=True)
    op.create_table('crm_write_failures',
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('object_type', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('crm', 'object_type', 'record_id'),
        if_not_exists=True)
    op.create_table('crm_written',
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('object_type', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=128), nullable=False),
        sa.Column('value', sa.Text(), nullable=True),
        sa.Column('written_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('crm', 'object_type', 'record_id', 'field'),
        if_not_exists=True)


def step_20(op) -> None:
    op.create_table('backtest_runs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('model', sa.String(length=64), nullable=True),
        sa.Column('params', sa.JSON(), nullable=True),
        sa.Column('report', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_table('lifecycle_models',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('stage', sa.String(length=32), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('trained_at', sa.BigInteger(), nullable=False),
        sa.Column('as_of', sa.BigInteger(), nullable=True),
        sa.Column('data_from', sa.BigInteger(), nullable=True),
        sa.Column('data_to', sa.BigInteger(), nullable=True),
        sa.Column('metrics', sa.JSON(), nullable=True),
        sa.Column('report', sa.JSON(), nullable=True),
        sa.Column('artifact', sa.LargeBinary(), nullable=True),
        sa.Column('live', sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_index(op.f('ix_lifecycle_models_name'), 'lifecycle_models', ['name'], unique=False, if_not_exists=True)


def step_30(op) -> None:
    op.create_table('pb_ledger',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('playbook', sa.String(length=64), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('occurrence', sa.String(length=128), nullable=False),
        sa.Column('step', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_at', sa.BigInteger(), nullable=False),
        sa.Column('owner', sa.String(length=320), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('playbook', 'subject_id', 'occurrence', 'step', name='uq_pb_ledger_key'),
        if_not_exists=True)
    op.create_index('ix_pb_ledger_owner', 'pb_ledger', ['owner', 'action', 'updated_at'],
                    unique=False, if_not_exists=True)
    op.create_index('ix_pb_ledger_status_next', 'pb_ledger', ['status', 'next_at'], unique=False, if_not_exists=True)
    op.create_table('pb_state',
        sa.Column('playbook', sa.String(length=64), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('combined', sa.Integer(), nullable=True),
        sa.Column('band', sa.String(length=16), nullable=True),
        sa.Column('pql', sa.Boolean(), nullable=True),
        sa.Column('segments', sa.JSON(), nullable=True),
        sa.Column('armed', sa.JSON(), nullable=True),
        sa.Column('marker', sa.BigInteger(), nullable=True),
        sa.Column('as_of', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('playbook', 'subject_id'),
        if_not_exists=True)
    op.create_table('pql_feedback',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('model', sa.String(length=64), nullable=True),
        sa.Column('subject_id', sa.Integer(), nullable=True),
        sa.Column('alert_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('by', sa.String(length=320), nullable=True),
        sa.Column('at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_index(op.f('ix_pql_feedback_subject_id'), 'pql_feedback', ['subject_id'],
                    unique=False, if_not_exists=True)
    op.create_table('rep_week',
        sa.Column('rep', sa.String(length=320), nullable=False),
        sa.Column('week', sa.Integer(), nullable=False),
        sa.Column('assigned', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('rep', 'week'),
        if_not_exists=True)
    op.create_table('rr_cursor',
        sa.Column('pool', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('pool'),
        if_not_exists=True)
    op.create_table('slack_alerts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('ledger_id', sa.Integer(), nullable=True),
        sa.Column('playbook', sa.String(length=64), nullable=True),
        sa.Column('subject_id', sa.Integer(), nullable=True),
        sa.Column('model', sa.String(length=64), nullable=True),
        sa.Column('channel', sa.String(length=255), nullable=True),
        sa.Column('ts', sa.String(length=64), nullable=True),
        sa.Column('owner', sa.String(length=320), nullable=True),
        sa.Column('context', sa.JSON(), nullable=True),
        sa.Column('handled_action', sa.String(length=32), nullable=True),
        sa.Column('handled_by', sa.String(length=320), nullable=True),
        sa.Column('handled_at', sa.BigInteger(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('snoozed_until', sa.BigInteger(), nullable=True),
        sa.Column('realerted', sa.Boolean(), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ledger_id'),
        if_not_exists=True)
    op.create_table('slack_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('channel', sa.String(length=255), nullable=False),
        sa.Column('ts', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('blocks', sa.JSON(), nullable=True),
        sa.Column('ref', sa.String(length=128), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ts'),
        if_not_exists=True)
    op.create_index(op.f('ix_slack_outbox_ref'), 'slack_outbox', ['ref'], unique=False, if_not_exists=True)
