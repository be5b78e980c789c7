"""copy_handoff: people the per-person engine scored, for the DuckDB copy to re-read.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "copy_handoff",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("copy_handoff")
