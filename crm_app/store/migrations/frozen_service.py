"""Frozen legacy steps 40-150 outside the dashboard: identity, segments, service, deletions, history. Never edit."""
from __future__ import annotations

import sqlalchemy as sa


def step_40(op) -> None:
    op.create_table('identity_account_matches',
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('method', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('person_id'),
        if_not_exists=True)
    op.create_table('identity_crm_people',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('product_user_id', sa.String(length=255), nullable=True),
        sa.Column('seen_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('key'),
        if_not_exists=True)
    op.create_index(op.f('ix_identity_crm_people_email'), 'identity_crm_people', ['email'],
                    unique=False, if_not_exists=True)
    op.create_index(op.f('ix_identity_crm_people_product_user_id'), 'identity_crm_people', ['product_user_id'],
                    unique=False, if_not_exists=True)
    op.create_table('identity_links',
        sa.Column('crm_key', sa.String(length=200), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=32), nullable=False),
        sa.Column('linked_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('crm_key'),
        if_not_exists=True)
    op.create_index(op.f('ix_identity_links_person_id'), 'identity_links', ['person_id'],
                    unique=False, if_not_exists=True)


def step_41(op) -> None:
    op.create_table('segment_members',
        sa.Column('model', sa.String(length=64), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('segment', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=16), nullable=False),
        sa.Column('since', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('model', 'subject_id', 'segment'),
        if_not_exists=True)
    op.create_index('ix_segment_members_subject', 'segment_members', ['subject', 'subject_id'],
                    unique=False, if_not_exists=True)


def step_60(op) -> None:
    op.create_table('job_runs',
        sa.Column('job', sa.String(length=64), nullable=False),
        sa.Column('started_at', sa.Float(), nullable=True),
        sa.Column('finished_at', sa.Float(), nullable=True),
        sa.Column('seconds', sa.Float(), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('api_calls', sa.Integer(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint('job'),
        if_not_exists=True)
    op.create_table('scheduler_lease',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('holder', sa.String(length=255), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('acquired_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
        if_not_exists=True)
    op.create_table('score_snapshots',
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('model', sa.String(length=64), nullable=False),
        sa.Column('band', sa.String(length=16), nullable=False),
        sa.Column('people', sa.Integer(), nullable=False),
        sa.Column('pqls', sa.Integer(), nullable=False),
        sa.Column('avg_combined', sa.Float(), nullable=True),
        sa.Column('rules_hash', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('day', 'model', 'band'),
        if_not_exists=True)


def step_85(op) -> None:
    op.create_table('crm_deleted',
        sa.Column('crm', sa.String(length=32), nullable=False),
        sa.Column('object_type', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('deleted_at', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('crm', 'object_type', 'record_id'),
        if_not_exists=True)
    op.create_index(op.f('ix_crm_deleted_person_id'), 'crm_deleted', ['person_id'], unique=False, if_not_exists=True)


def step_91(op) -> None:
    op.create_table('field_history',
        sa.Column('subject_kind', sa.String(length=8), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=128), nullable=False),
        sa.Column('valid_from', sa.BigInteger(), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.Column('initial', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('subject_kind', 'subject_id', 'field', 'valid_from'),
        if_not_exists=True)


def step_100(op) -> None:
    op.create_table('rule_version_files',
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('path', sa.String(length=255), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('version', 'path'),
        if_not_exists=True)
    op.create_table('rule_versions',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('set_hash', sa.String(length=64), nullable=False),
        sa.Column('rules_hash', sa.String(length=32), nullable=True),
        sa.Column('spec_hash', sa.String(length=32), nullable=True),
        sa.Column('author', sa.String(length=255), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('replaces', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('version'),
        if_not_exists=True)


def step_150(op) -> None:
    op.create_table('job_requests',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('job', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('requested_by', sa.String(length=320), nullable=True),
        sa.Column('requested_at', sa.Float(), nullable=False),
        sa.Column('started_at', sa.Float(), nullable=True),
        sa.Column('finished_at', sa.Float(), nullable=True),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True)
    op.create_index('ix_job_requests_job_state', 'job_requests', ['job', 'state'], unique=False, if_not_exists=True)


def _columns(op, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def step_42(op) -> None:
    """results.segment, unless step 1 of a newer store made the table with it."""
    if "segment" not in _columns(op, "results"):
        op.add_column("results", sa.Column("segment", sa.String(length=64), nullable=True))


def step_90(op) -> None:
    """lifecycle_models.live, with the newest trained version of each model made live."""
    if "live" not in _columns(op, "lifecycle_models"):
        op.add_column("lifecycle_models", sa.Column("live", sa.Boolean(), nullable=True))
    t = sa.table("lifecycle_models", sa.column("name"), sa.column("version"), sa.column("status"), sa.column("live"))
    conn = op.get_bind()
    newest = sa.select(t.c.name, sa.func.max(t.c.version)).where(t.c.status == "trained").group_by(t.c.name)
    for name, version in conn.execute(newest).all():
        conn.execute(sa.update(t).where(t.c.name == name).values(live=t.c.version == version))
