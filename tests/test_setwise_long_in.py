"""A long IN list renders as a hash lookup in DuckDB and decides exactly as the plain list does."""
from __future__ import annotations

import duckdb
import pytest

from crm_app.engine.setwise import ir


@pytest.mark.parametrize("values", [3, ir.LONG_IN, ir.LONG_IN + 1, 2500])
def test_a_long_in_list_decides_as_a_short_one(values):
    accepted = [str(v) for v in range(0, 2 * values, 2)]
    node = ir.isin(ir.col("v"), accepted)
    sql = ir.render(node)
    assert ("SELECT unnest" in sql) == (values > ir.LONG_IN)
    con = duckdb.connect()
    got = con.execute(f"SELECT v, {sql} FROM (SELECT CAST(i AS VARCHAR) AS v FROM range(-1, {2 * values + 2}) r(i) "
                      "UNION ALL SELECT NULL) ORDER BY v NULLS LAST").fetchall()
    assert got == sorted([(str(i), str(i) in accepted) for i in range(-1, 2 * values + 2)]) + [(None, None)]
    assert "SELECT unnest" not in ir.render(node, ir.SPARK)
