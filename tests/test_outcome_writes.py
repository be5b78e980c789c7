"""Changed results written from the copy: those whose keyed columns (the ones the dashboard's indexes carry) did
not move are written by an UPDATE of their other columns, which no index sees; anything else is upserted. The
stored results are the per-person engine's either way, even when the mirror is wrong about a keyed value."""
from __future__ import annotations

import json
import re

import pytest

from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar import outcome
from crm_app.store.reindex import secondary_indexes
from crm_app.store.scoring import results as results_store
from tests.helpers import AS_OF, DAY
from tests.test_duckdb_engine import seed, stored, stored_history


def _row(subject_id: int, **values) -> tuple:
    base = {"model": "conversion", "subject_id": subject_id, "as_of": AS_OF, "fit": 10, "fit_raw": 10,
            "behaviour": 20, "behaviour_before_decay": 20, "decay": 0, "combined": 30, "band": "warm", "pql": False,
            "pql_since": None, "pql_first_at": None, "activation": "Started", "milestones": 1,
            "last_activity": AS_OF, "days_inactive": 0, "reasons": '[["a","A",10]]', "digest": "d0",
            "rules_hash": "r0"}
    return tuple((base | values)[c] for c in results_store.RESULT_ROW)


@pytest.mark.parametrize("written, expected", [
    ([_row(1, reasons='[["b","B",10]]', digest="d1", days_inactive=3)], 1),  # keyed values as stored
    ([_row(1, combined=31)], 0),  # a keyed value moved: left for the upsert
    ([_row(1, pql_since=None, band="warm", digest="d2")], 1),  # NULLs compare equal
    ([_row(2, digest="d3")], 0),  # not stored
    ([_row(1, digest="d4"), _row(2, digest="d5")], 1),  # a short count: the caller upserts the batch
])
def test_only_rows_holding_their_keyed_values_are_updated(sqlite_store, written, expected):
    with sqlite_store.begin() as conn:
        results_store.save_rows(conn, [_row(1)], [])
    with sqlite_store.begin() as conn:
        assert results_store.update_unkeyed(conn, written) == expected
    with sqlite_store.read() as conn:
        row = conn.execute(schema.results.select().where(schema.results.c.subject_id == 1)).one()._mapping
    first = dict(zip(results_store.RESULT_ROW, written[0]))
    if expected and first["subject_id"] == 1:
        assert row["digest"] == first["digest"] and row["reasons"] == json.loads(first["reasons"])
    else:
        assert row["digest"] == "d0" and row["combined"] == 30


def test_the_keyed_columns_are_every_column_an_index_of_results_holds(store):
    with store.read() as conn:
        indexed = {c.strip().strip('"') for _, ddl in secondary_indexes(conn, "results")
                   for c in re.search(r"\((.*)\)", ddl).group(1).split(",")}
    assert indexed - {"model", "subject_id"} <= set(results_store.KEYED)


def test_a_later_full_run_writes_what_the_per_person_engine_writes(store, default_rules, monkeypatch):
    seed(store, people=60)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    unkeyed = []
    real = results_store.update_unkeyed
    monkeypatch.setattr(results_store, "update_unkeyed", lambda conn, rows: unkeyed.append(len(rows)) or
                        real(conn, rows))
    later = score(store, default_rules, AS_OF + 9 * DAY, engine="duckdb", workers=1)
    assert later.models["conversion"].changed > 0
    duck, history = stored(store), stored_history(store)
    if store.backend == "sqlite":
        assert sum(unkeyed) > 0  # some results kept their keyed values: written by the UPDATE
    with store.begin() as conn:
        conn.execute(schema.results.delete())
        conn.execute(schema.score_history.delete())
    score(store, default_rules, AS_OF, engine="store", workers=1)
    score(store, default_rules, AS_OF + 9 * DAY, engine="store", workers=1)
    assert stored(store) == duck and stored_history(store) == history


def test_a_mirror_wrong_about_every_keyed_value_still_stores_the_right_results(sqlite_store, default_rules,
                                                                              monkeypatch):
    """The mirror says no keyed column moved: every changed result goes to the UPDATE first, whose guard on the
    stored keyed values leaves the batch short, and the batch is upserted."""
    seed(sqlite_store, people=40)
    score(sqlite_store, default_rules, AS_OF, engine="duckdb", workers=1)
    monkeypatch.setattr(outcome, "keyed_moved", lambda columns: "FALSE")
    counts = []
    real = results_store.update_unkeyed
    monkeypatch.setattr(results_store, "update_unkeyed", lambda conn, rows: counts.append((real(conn, rows),
                                                                                           len(rows)))
                        or counts[-1][0])
    score(sqlite_store, default_rules, AS_OF + 9 * DAY, engine="duckdb", workers=1)
    assert any(written < offered for written, offered in counts)  # some keyed values had moved after all
    duck, history = stored(sqlite_store), stored_history(sqlite_store)
    with sqlite_store.begin() as conn:
        conn.execute(schema.results.delete())
        conn.execute(schema.score_history.delete())
    score(sqlite_store, default_rules, AS_OF, engine="store", workers=1)
    score(sqlite_store, default_rules, AS_OF + 9 * DAY, engine="store", workers=1)
    assert stored(sqlite_store) == duck and stored_history(sqlite_store) == history
