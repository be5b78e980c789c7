"""key_bounds: the lowest and highest id of a table, read from the key's index ends on both backends."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from crm_app.store import schema
from crm_app.store.dialect import key_bounds
from crm_app.store.people import ensure_people, person_id_bounds
from crm_app.store.scoring.rollups import account_id_bounds


@pytest.mark.parametrize("people, bounds", [([], (0, -1)), (["a"], (1, 1)), (["a", "b", "c"], (1, 3))])
def test_bounds_of_the_people_held(store, people, bounds):
    with store.begin() as conn:
        ensure_people(conn, people)
        assert person_id_bounds(conn) == bounds == key_bounds(conn, schema.people.c.id)
        assert account_id_bounds(conn) == (0, -1)


def test_sqlite_reads_each_bound_from_the_index_without_a_scan(sqlite_store):
    statements = []
    with sqlite_store.read() as conn:
        def seen(_conn, _cursor, statement, *_):
            statements.append(statement)
        event.listen(conn, "before_cursor_execute", seen)
        key_bounds(conn, schema.people.c.id)
        plans = [conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s).all() for s in list(statements)]
    assert len(plans) == 2
    assert not any("SCAN" in str(row) for plan in plans for row in plan)
