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


def _unkeyed_counts(monkeypatch) -> list:
    """(rows written, rows offered) of every update_unkeyed call."""
    counts = []
    real = results_store.update_unkeyed

    def spy(conn, rows):
        counts.append((real(conn, rows), len(rows)))
        return counts[-1][0]
    monkeypatch.setattr(results_store, "update_unkeyed", spy)
    return counts


def _two_dates_agree_with_the_per_person_engine(store, rules) -> None:
    """What the DuckDB runs stored at AS_OF and nine days later equals what the per-person engine stores."""
    duck, history = stored(store), stored_history(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
        conn.execute(schema.score_history.delete())
    score(store, rules, AS_OF, engine="store", workers=1)
    score(store, rules, AS_OF + 9 * DAY, engine="store", workers=1)
    assert stored(store) == duck and stored_history(store) == history


def test_a_later_full_run_writes_what_the_per_person_engine_writes(store, default_rules, monkeypatch):
    seed(store, people=60)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    counts = _unkeyed_counts(monkeypatch)
    later = score(store, default_rules, AS_OF + 9 * DAY, engine="duckdb", workers=1)
    assert later.models["conversion"].changed > 0
    if store.backend == "sqlite":
        assert sum(written for written, _ in counts) > 0  # some results kept their keyed values: the UPDATE's
    _two_dates_agree_with_the_per_person_engine(store, default_rules)


def test_a_mirror_wrong_about_every_keyed_value_still_stores_the_right_results(sqlite_store, default_rules,
                                                                              monkeypatch):
    """The mirror says no keyed column moved: every changed result goes to the UPDATE first, whose guard on the
    stored keyed values leaves the batch short, and the batch is upserted."""
    seed(sqlite_store, people=40)
    score(sqlite_store, default_rules, AS_OF, engine="duckdb", workers=1)
    monkeypatch.setattr(outcome, "keyed_moved", lambda columns: "FALSE")
    counts = _unkeyed_counts(monkeypatch)
    score(sqlite_store, default_rules, AS_OF + 9 * DAY, engine="duckdb", workers=1)
    assert any(written < offered for written, offered in counts)  # some keyed values had moved after all
    _two_dates_agree_with_the_per_person_engine(sqlite_store, default_rules)
