"""Alembic's environment: the revisions run on the connection migrate() hands over, inside its transaction."""
from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("The store migrates itself when it is opened (any pql command); alembic's own command line is "
                     "for `revision` only.")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
