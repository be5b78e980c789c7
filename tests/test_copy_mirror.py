"""The copy's mirror of the stored results keeps no key: it holds one row a stored result through full,
incremental and later runs, whether a run deletes and inserts its rows or rewrites it, and a copy made while it
had a key gets it rewritten, rows kept."""
from __future__ import annotations

import duckdb
import pytest

from crm_app.services.scoring.duck_engine import copy_path
from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar import mirror
from crm_app.store.people import mark_dirty
from tests.helpers import AS_OF, DAY
from tests.test_duckdb_engine import seed


def mirrored(store) -> list:
    con = duckdb.connect(copy_path(store.url), read_only=True)
    try:
        return sorted(con.execute("SELECT model, subject_id, digest FROM prev").fetchall())
    finally:
        con.close()


def held(store) -> list:
    r = schema.results
    with store.read() as conn:
        return sorted(tuple(row) for row in conn.execute(r.select().with_only_columns(r.c.model, r.c.subject_id,
                                                                                         r.c.digest)))


# Rows are deleted and inserted again (0: only an empty mirror is rewritten), the mirror rewritten when the
# candidates are many (the default), or rewritten every run.
@pytest.mark.parametrize("share", [0, mirror.REWRITE_SHARE, 10**9])
def test_the_mirror_holds_one_row_a_stored_result_through_every_kind_of_run(store, default_rules, monkeypatch,
                                                                              share):
    monkeypatch.setattr(mirror, "REWRITE_SHARE", share)
    seed(store)
    runs = [(AS_OF, None), (AS_OF + 3600, [3, 4, 5, 40]), (AS_OF + DAY, None), (AS_OF + DAY + 60, [4, 41]),
            (AS_OF + 30 * DAY, None)]
    for as_of, changed in runs:
        if changed:
            with store.begin() as conn:
                mark_dirty(conn, changed)
        score(store, default_rules, as_of, engine="duckdb", mode="changed" if changed else "full", workers=1)
        mirror_rows = mirrored(store)
        models = {m for m, _, _ in mirror_rows}  # the person models the plan scores; the others are not mirrored
        assert "conversion" in models
        assert mirror_rows == [r for r in held(store) if r[0] in models], (as_of, changed)


def test_a_copy_made_with_a_keyed_mirror_gets_it_rewritten_without_the_key(tmp_path):
    path = str(tmp_path / "c.duckdb")
    mirror.open_copy(path).close()
    old = duckdb.connect(path)
    columns = [r[0] for r in old.execute("SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'prev' ORDER BY ordinal_position").fetchall()]
    kinds = dict(old.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'prev'").fetchall())
    old.execute("DROP TABLE prev")
    old.execute(f"CREATE TABLE prev ({', '.join(f'{c} {kinds[c]}' for c in columns)}, "
                "PRIMARY KEY (model, subject_id))")
    old.execute("INSERT INTO prev (model, subject_id, digest) VALUES ('conversion', 2, 'b'), ('conversion', 1, 'a'), "
                "('health', 1, 'c')")
    old.close()
    con = mirror.open_copy(path)
    try:
        keys = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'prev'").fetchall()[0][0]
        rows = con.execute("SELECT model, subject_id, digest FROM prev ORDER BY ALL").fetchall()
        assert keys == 0
        assert rows == [("conversion", 1, "a"), ("conversion", 2, "b"), ("health", 1, "c")]
        assert [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = "
                                          "'prev' ORDER BY ordinal_position").fetchall()] == columns
    finally:
        con.close()
