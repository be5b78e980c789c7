"""A bulk write with the secondary indexes dropped: every index comes back as it was, and a failure inside the
write leaves the table with all of them (the drops roll back with the rows)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_app.store import schema
from crm_app.store.reindex import indexes_rebuilt, secondary_indexes

ROW = {"model": "conversion", "as_of": 1, "combined": 5, "band": "low", "pql": False}


def index_names(store) -> set:
    with store.read() as conn:
        return {name for name, _ in secondary_indexes(conn, "results")}


def test_every_index_the_migrations_made_is_listed_the_key_aside(store):
    names = index_names(store)
    assert {"ix_results_model_combined", "ix_results_model_pql_since"} <= names  # outside the metadata
    assert not {"ix_results_band", "ix_results_combined", "ix_results_pql"} & names  # revision 0003 dropped them
    assert not any(n.startswith("sqlite_autoindex") or n.endswith("_pkey") for n in names)


def test_the_indexes_are_dropped_inside_and_built_again_the_same_after(store):
    with store.read() as conn:
        before = secondary_indexes(conn, "results")
    with store.begin() as conn, indexes_rebuilt(conn, "results"):
        assert secondary_indexes(conn, "results") == []
        conn.execute(schema.results.insert(), [dict(ROW, subject_id=i) for i in range(1, 501)])
    with store.read() as conn:
        assert secondary_indexes(conn, "results") == before
        assert conn.execute(select(func.count()).select_from(schema.results)).scalar() == 500


def test_a_failed_write_keeps_every_index_and_no_row(store):
    before = index_names(store)
    with pytest.raises(RuntimeError, match="write failed"):
        with store.begin() as conn, indexes_rebuilt(conn, "results"):
            conn.execute(schema.results.insert(), [dict(ROW, subject_id=1)])
            raise RuntimeError("write failed")
    assert index_names(store) == before
    with store.read() as conn:
        assert conn.execute(schema.results.select()).all() == []
