"""event_moves: a log of events whose person changed or that were deleted, written by triggers on events.

The DuckDB copy follows these events from the log instead of re-reading every event of the people it scores.
Triggers, not the code that moves events, write it: no path that changes an event's person can forget to.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    "CREATE TRIGGER events_person_moved AFTER UPDATE OF person_id ON events "
    "WHEN OLD.person_id IS NOT NEW.person_id BEGIN INSERT INTO event_moves (event_id) VALUES (NEW.id); END",
    "CREATE TRIGGER events_deleted AFTER DELETE ON events "
    "BEGIN INSERT INTO event_moves (event_id) VALUES (OLD.id); END",
)
POSTGRESQL_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION note_event_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO event_moves (event_id) VALUES (OLD.id);
    RETURN OLD;
  END IF;
  IF OLD.person_id IS DISTINCT FROM NEW.person_id THEN
    INSERT INTO event_moves (event_id) VALUES (NEW.id);
  END IF;
  RETURN NEW;
END $$""",
    "CREATE TRIGGER events_person_moved AFTER UPDATE OF person_id OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION note_event_move()",
)


def upgrade() -> None:
    op.create_table(
        "event_moves",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_person_moved ON events")
        op.execute("DROP FUNCTION IF EXISTS note_event_move()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_person_moved")
        op.execute("DROP TRIGGER IF EXISTS events_deleted")
    op.drop_table("event_moves")
