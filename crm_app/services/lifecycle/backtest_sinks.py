"""Where a backtest's daily samples go: fetched row by row (Samples, for comparing paths), or summed up inside
DuckDB (Tally), so 30 dates of a million people never reach Python as rows.

A day is a query of person_id, one score column s<i> per rule model and `reached`, run in rising date order.
"""
from __future__ import annotations

import numpy as np

from crm_app.models import backtest as figures
from crm_app.store.columnar import tally


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
    """Samples summed up in DuckDB (store.columnar.tally): figures.Tally per model."""

    def __init__(self, con, models: int):
        self.con, self.models, self.dates = con, models, 0
        tally.start(con, models)

    def add(self, day: str, as_of: int) -> int:
        n = tally.add(self.con, day, self.models, first=self.dates == 0)  # figures.weekly_volume's warm-up date
        self.dates += bool(n)
        return n

    def result(self) -> list:
        out = []
        for i in range(self.models):
            got = tally.read(self.con, i)
            out.append(figures.Tally(np.asarray(got["score"], dtype=float),
                                     *[np.asarray(got[c], dtype=np.int64) for c in ("samples", "converted", "best",
                                                                                    "first")], self.dates))
        return out
