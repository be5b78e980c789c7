"""The relation `mp` of the set-wise plan's metric and quota conditions: per person, the latest value of each
metric point (a metric at or before a moment), with the moment it was recorded, read from the store's metrics
by the per-person engine's own query, so both engines see the very same numbers."""
from __future__ import annotations

import numpy as np
from sqlalchemy import true

from crm_app.store import schema
from crm_app.store.columnar.relations import ident
from crm_app.store.dialect import chunks
from crm_app.store.scoring.usage_features import point_at


def _everyone(column, lo, hi, only):
    return column.in_(only) if only is not None else true()


def read_points(conn, points: list, scope_ids=None) -> dict:
    """person id -> [value, moment, value, moment, ...] of the (metric, moment) points, in their order (None
    where a person has no value of a point); everyone, or the people in scope_ids."""
    rows: dict = {}
    parts = [None] if scope_ids is None else list(chunks(sorted(set(scope_ids)), 5000))
    for i, (name, moment) in enumerate(points):
        for only in parts:
            found = point_at(conn, schema.metrics, name, moment, _everyone, 0, 0, only)
            for pid, (value, at) in found.items():
                row = rows.setdefault(pid, [None] * (2 * len(points)))
                row[2 * i], row[2 * i + 1] = value, at
    return rows


def load_points(con, names: list, rows: dict) -> int:
    """Make the temp table `mp` of read_points' rows, each point's (value, moment) under its pair of column
    names; return how many people hold a point."""
    columns = "".join(f", {ident(value)} DOUBLE, {ident(at)} BIGINT" for value, at in names)
    con.execute(f"CREATE OR REPLACE TEMP TABLE mp (person_id BIGINT{columns})")
    if not rows:
        return 0
    ids = sorted(rows)
    staged = {"person_id": np.array(ids, dtype=np.int64)}
    for i in range(len(names)):
        staged[f"v{i}"] = np.array([rows[p][2 * i] for p in ids], dtype=object)
        staged[f"a{i}"] = np.array([rows[p][2 * i + 1] for p in ids], dtype=object)
    con.register("points_in", staged)
    try:
        casts = "".join(f", CAST(v{i} AS DOUBLE), CAST(a{i} AS BIGINT)" for i in range(len(names)))
        con.execute(f"INSERT INTO mp SELECT person_id{casts} FROM points_in")
    finally:
        con.unregister("points_in")
    return len(ids)
