"""Indexes the dashboard's people list needs to answer any page of a million people by keyset (migration 50)."""
from __future__ import annotations

from sqlalchemy import Connection, Index

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


def create_dashboard_indexes(conn: Connection) -> None:
    """Create the indexes that are missing; safe to run twice."""
    for index in DASHBOARD_INDEXES:
        index.create(conn, checkfirst=True)
