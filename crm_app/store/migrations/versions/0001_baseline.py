"""Baseline: the whole schema as the numbered legacy steps 1-150 left it (frozen DDL in frozen_*.py).

Revision ID: 0001
Revises:
"""
from alembic import op

from crm_app.store.migrations.legacy import STEPS

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    for _version, _description, step in STEPS:
        step(op)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup to go back before it")
