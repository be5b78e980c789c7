"""A backtest's samples summed up inside the copy: counts per (model, score) and each subject's best score so
far, so dates of a million people never leave DuckDB row by row.

A day is a query of person_id, one score column s<i> per model and `reached`.
"""
from __future__ import annotations


def start(con, models: int) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE bt_hist (model INTEGER, score DOUBLE, samples BIGINT, "
                "converted BIGINT, first BIGINT)")
    best = "".join(f", b{i} DOUBLE" for i in range(models))
    con.execute(f"CREATE OR REPLACE TEMP TABLE bt_best (person_id BIGINT{best})")


def add(con, day: str, models: int, first: bool) -> int:
    """Fold one day in (first: the day's samples are also counted as the first date's); its sample count."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE bt_day AS {day}")
    n = con.execute("SELECT count(*) FROM bt_day").fetchall()[0][0]
    if not n:
        return 0
    for i in range(models):
        con.execute(f"INSERT INTO bt_hist SELECT {i}, s{i}, count(*), count_if(reached), {int(first)} * count(*) "
                    f"FROM bt_day GROUP BY s{i}")
    best = ", ".join(f"greatest(b.b{i}, d.s{i}) AS b{i}" for i in range(models))
    con.execute(f"CREATE OR REPLACE TEMP TABLE bt_best_next AS SELECT person_id, {best} FROM bt_best b "
                "FULL JOIN bt_day d USING (person_id)")
    con.execute("DROP TABLE bt_best")
    con.execute("ALTER TABLE bt_best_next RENAME TO bt_best")
    return n


def read(con, i: int) -> dict:
    """Model i's columns by distinct score, ascending: score, samples, converted, best (subjects whose best
    score it is), first (samples of the first date)."""
    return con.execute(
        f"WITH h AS (SELECT score, sum(samples) AS n, sum(converted) AS c, sum(first) AS f FROM bt_hist "
        f"WHERE model = {i} GROUP BY score), b AS (SELECT b{i} AS score, count(*) AS k FROM bt_best "
        f"GROUP BY b{i}) SELECT h.score, h.n AS samples, h.c AS converted, coalesce(b.k, 0) AS best, "
        "h.f AS first FROM h LEFT JOIN b USING (score) ORDER BY h.score").fetchnumpy()
