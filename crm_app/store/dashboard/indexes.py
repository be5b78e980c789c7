"""Indexes the dashboard's people list needs to answer any page of a million people by keyset (migration 50)."""
from __future__ import annotations

from sqlalchemy import Connection, Index, func, literal_column
from sqlalchemy.schema import CreateIndex

from crm_app.store import schema

r = schema.results

# One index per (filter, sort) shape the people list offers, each ending with subject_id for a stable keyset and
# carrying the other filter columns, so a filtered walk and the counts read the index alone, never the table.
DASHBOARD_INDEXES = (
    Index("ix_results_model_combined", r.c.model, r.c.combined, r.c.subject_id, r.c.fit_raw, r.c.band, r.c.pql),
    Index("ix_results_model_band_combined", r.c.model, r.c.band, r.c.combined, r.c.subject_id, r.c.pql),
    Index("ix_results_model_pql_combined", r.c.model, r.c.pql, r.c.combined, r.c.subject_id, r.c.band),
    Index("ix_results_model_fit", r.c.model, r.c.fit, r.c.subject_id, r.c.band, r.c.pql),
    Index("ix_results_model_behaviour", r.c.model, r.c.behaviour, r.c.subject_id, r.c.band, r.c.pql),
    Index("ix_results_model_pql_since", r.c.model, r.c.pql_since),
)
for _index in DASHBOARD_INDEXES:  # created by migration 50 only, not by whoever runs create_all on the metadata
    r.indexes.discard(_index)


def owner_expr(dialect: str):
    """The person's `owner` field (mapped from the CRM owner), written with a literal JSON path.

    SQLite matches an expression index only against the same expression with the same literal; a bound
    path parameter (what SQLAlchemy's JSON indexing emits) never matches, and the query scans everyone.
    """
    a = schema.people.c.attributes
    if dialect == "postgresql":
        return a.op("->>")(literal_column("'owner'"))
    return func.json_extract(a, literal_column("'$.owner'"))


def create_owner_index(conn: Connection) -> None:
    """The owner list and owner filter read this index only (migration 51)."""
    index = Index("ix_people_owner", owner_expr(conn.dialect.name))
    schema.people.indexes.discard(index)  # built for one dialect: keep it out of the shared metadata
    conn.execute(CreateIndex(index, if_not_exists=True))  # expression indexes cannot be reflected for checkfirst


def create_dashboard_indexes(conn: Connection) -> None:
    """Create the indexes that are missing; safe to run twice."""
    for index in DASHBOARD_INDEXES:
        conn.execute(CreateIndex(index, if_not_exists=True))  # expression indexes cannot be reflected for checkfirst


def create_person_actions_index(conn: Connection) -> None:
    """The person page reads one person's playbook ledger entries (migration 52)."""
    from crm_app.store.playbooks.schema import pb_ledger
    index = Index("ix_pb_ledger_subject", pb_ledger.c.subject_id)
    pb_ledger.indexes.discard(index)
    index.create(conn, checkfirst=True)
