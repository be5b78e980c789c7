"""results: drop the single-column indexes on band, combined and pql.

Every query on results names its model, and the dashboard's keyset indexes (model first) answer them; these three
only cost a B-tree insert per written result and a rebuild after every bulk write.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("band", "combined", "pql")


def upgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_results_{column}", table_name="results", if_exists=True)


def downgrade() -> None:
    for column in COLUMNS:
        op.create_index(f"ix_results_{column}", "results", [column], if_not_exists=True)
