"""Where a backtest's daily samples go: fetched row by row (Samples, for comparing paths), or summed up inside
DuckDB (Tally), so 30 dates of a million people never reach Python as rows.

A day is a query of person_id, one score column s<i> per rule model and `reached`, run in rising date order.
"""
from __future__ import annotations

import numpy as np

from crm_app.models import backtest as figures


class Rows:
    """Every sample fetched: figures.Samples per model."""

    def __init__(self, con, models: int):
        self.con, self.parts = con, [[] for _ in range(models)]

    def add(self, day: str, as_of: int) -> int:
        got = self.con.execute(f"SELECT * FROM ({day}) d ORDER BY person_id").fetchnumpy()
        for i, parts in enumerate(self.parts):
            parts.append((got["person_id"], got[f"s{i}"], got["reached"], as_of))
        return len(got["person_id"])

    def result(self) -> list:
        return [_samples(p) for p in self.parts]


def _samples(parts: list) -> figures.Samples:
    if not parts:
        return figures.Samples(np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([], dtype=float),
                               np.array([], dtype=bool))
    subject = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts])
    when = np.concatenate([np.full(len(p[0]), p[3], dtype=np.int64) for p in parts])
    score = np.concatenate([np.asarray(p[1], dtype=float) for p in parts])
    converted = np.concatenate([np.asarray(p[2], dtype=bool) for p in parts])
    return figures.Samples(subject, when, score, converted)


class Tallies:
    """Samples summed up in DuckDB: counts per (model, score) and each subject's best score so far."""

    def __init__(self, con, models: int):
        self.con, self.models, self.dates = con, models, 0
        con.execute("CREATE OR REPLACE TEMP TABLE bt_hist (model INTEGER, score DOUBLE, samples BIGINT, "
                    "converted BIGINT, first BIGINT)")
        best = "".join(f", b{i} DOUBLE" for i in range(models))
        con.execute(f"CREATE OR REPLACE TEMP TABLE bt_best (person_id BIGINT{best})")

    def add(self, day: str, as_of: int) -> int:
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE bt_day AS {day}")
        n = con.execute("SELECT count(*) FROM bt_day").fetchall()[0][0]
        if not n:
            return 0
        first = int(self.dates == 0)  # the first date with samples: figures.weekly_volume's warm-up
        self.dates += 1
        for i in range(self.models):
            con.execute(f"INSERT INTO bt_hist SELECT {i}, s{i}, count(*), count_if(reached), {first} * count(*) "
                        f"FROM bt_day GROUP BY s{i}")
        best = ", ".join(f"greatest(b.b{i}, d.s{i}) AS b{i}" for i in range(self.models))
        con.execute(f"CREATE OR REPLACE TEMP TABLE bt_best_next AS SELECT person_id, {best} FROM bt_best b "
                    "FULL JOIN bt_day d USING (person_id)")
        con.execute("DROP TABLE bt_best")
        con.execute("ALTER TABLE bt_best_next RENAME TO bt_best")
        return n

    def result(self) -> list:
        return [self._tally(i) for i in range(self.models)]

    def _tally(self, i: int) -> figures.Tally:
        rows = self.con.execute(
            f"WITH h AS (SELECT score, sum(samples) AS n, sum(converted) AS c, sum(first) AS f FROM bt_hist "
            f"WHERE model = {i} GROUP BY score), b AS (SELECT b{i} AS score, count(*) AS k FROM bt_best "
            f"GROUP BY b{i}) SELECT h.score, h.n, h.c, coalesce(b.k, 0), h.f FROM h LEFT JOIN b USING (score) "
            "ORDER BY h.score").fetchnumpy()
        columns = list(rows.values())
        return figures.Tally(np.asarray(columns[0], dtype=float),
                             *[np.asarray(c, dtype=np.int64) for c in columns[1:]], self.dates)
