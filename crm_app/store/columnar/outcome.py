"""One model's outcome of a run inside the copy: the candidates (results whose hash moved) rendered to stored
rows in SQL and compared with the mirror by digest, so only results that changed ever reach Python, as tuples
ready for the store's executemany; the tallies of a run are queries over the same table."""
from __future__ import annotations

import numpy as np

from crm_app.store.columnar.relations import ident

RESULT = ("fit", "fit_raw", "behaviour", "behaviour_before_decay", "decay", "combined", "band", "pql", "pql_since",
          "pql_first_at", "activation", "milestones", "last_activity", "days_inactive")
HISTORY = ("fit", "behaviour", "combined", "band", "pql")
CHANGED = "inpop AND p_digest IS DISTINCT FROM digest"


def candidates(con, model: str, h: str, inpop: str) -> None:
    """The temp table `cand`: subjects of the run's `scored` table whose result hash moved (h: the hash
    expression) or who left the population (inpop: its column) while holding a result."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE cand AS SELECT s.person_id, {h} AS h, s.{ident(inpop)} AS inpop "
                f"FROM scored s LEFT JOIN prev p ON p.model = ? AND p.subject_id = s.person_id "
                f"WHERE (s.{ident(inpop)} AND (p.h IS NULL OR p.h <> {h})) "
                f"OR (NOT s.{ident(inpop)} AND p.subject_id IS NOT NULL)", [model])


def stage(con, model: str, result: dict, reasons: str, digest: str, values: list) -> None:
    """The temp table `outcome`: the candidates rendered to stored rows, beside their mirrored previous result.

    result: stored column -> plan column; reasons and digest: SQL over the plan row (digest reads the reasons
    as column "@reasons"); values: (field, JSON, text) rows of reason_values, where `{value}` is looked up.
    """
    con.register("reason_values_in", {"field": np.array([v[0] for v in values], dtype=object),
                                      "json": np.array([v[1] for v in values], dtype=object),
                                      "text": np.array([v[2] for v in values], dtype=object)})
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE reason_values AS SELECT field::VARCHAR AS field, "
                    "json::VARCHAR AS json, text::VARCHAR AS text FROM reason_values_in")
    finally:
        con.unregister("reason_values_in")
    cols = ", ".join(f"r.{ident(column)} AS {name}" for name, column in result.items())
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE outcome AS SELECT r.person_id, r.h, r.inpop, {cols}, "
        f"CASE WHEN r.inpop THEN r.\"@reasons\" END AS reasons, CASE WHEN r.inpop THEN {digest} END AS digest, "
        "pe.external_id, p.subject_id IS NOT NULL AS p_exists, p.digest AS p_digest, p.fit AS p_fit, "
        "p.behaviour AS p_behaviour, p.combined AS p_combined, p.band AS p_band, p.pql AS p_pql, "
        "p.fit_raw AS p_fit_raw, p.pql_since AS p_pql_since "
        f"FROM (SELECT s.*, c.h, c.inpop, CASE WHEN c.inpop THEN {reasons} END AS \"@reasons\" "
        "FROM scored s JOIN cand c USING (person_id)) r "
        "LEFT JOIN prev p ON p.model = ? AND p.subject_id = r.person_id "
        "LEFT JOIN people pe ON pe.id = r.person_id", [model])


def changed_rows(con, model: str, as_of: int, rules_hash: str, batch: int, where: str = "TRUE"):
    """Result rows (results.RESULT_ROW order) of the results that changed (and meet `where`), in batches."""
    cols = ", ".join(RESULT)
    yield from _batches(con, f"SELECT ?, person_id, ?, {cols}, reasons, digest, ? FROM outcome WHERE {CHANGED} "
                             f"AND ({where}) ORDER BY person_id", [model, as_of, rules_hash], batch)


def keyed_moved(columns) -> str:
    """SQL over `outcome`: the result is new, or one of these columns moved from the mirror's value (a value the
    mirror does not hold, NULL, counts as moved)."""
    return "NOT p_exists OR " + " OR ".join(f"{c} IS DISTINCT FROM p_{c}" for c in columns)


def history_rows(con, model: str, as_of: int, rules_hash: str, batch: int):
    """History rows (results.HISTORY_ROW order) of the changed results whose scores, band or PQL moved."""
    moved = " OR ".join(f"{c} IS DISTINCT FROM p_{c}" for c in HISTORY)
    yield from _batches(con, f"SELECT ?, person_id, ?, {', '.join(HISTORY)}, ? FROM outcome "
                             f"WHERE {CHANGED} AND (NOT p_exists OR {moved}) ORDER BY person_id",
                        [model, as_of, rules_hash], batch)


def removed(con) -> list:
    """People who left the model's population and had a result."""
    return [r[0] for r in con.execute("SELECT person_id FROM outcome WHERE NOT inpop AND p_exists "
                                      "ORDER BY person_id").fetchall()]


def _batches(con, sql: str, params: list, batch: int):
    cursor = con.execute(sql, params)
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        yield rows


def tallies(con, movers: int) -> tuple[int, list, list]:
    """(results changed, (external id, combined) of new PQLs, the largest score moves as
    (delta, external id, old, new))."""
    changed = con.execute(f"SELECT count(*) FROM outcome WHERE {CHANGED}").fetchall()[0][0]
    new_pqls = [tuple(r) for r in con.execute(
        f"SELECT external_id, combined FROM outcome WHERE {CHANGED} AND pql AND NOT coalesce(p_pql, FALSE) "
        "ORDER BY person_id").fetchall()]
    moves = [tuple(r) for r in con.execute(
        f"SELECT combined - coalesce(p_combined, 0) AS delta, external_id, coalesce(p_combined, 0), combined "
        f"FROM outcome WHERE {CHANGED} AND combined <> coalesce(p_combined, 0) "
        f"ORDER BY abs(delta) DESC, coalesce(external_id, 'None') LIMIT ?", [movers]).fetchall()]
    return changed, new_pqls, moves


def distinct_values(con, column: str) -> list:
    """The distinct JSON texts of a field among the candidates of `outcome`'s source (for reason_values)."""
    return [r[0] for r in con.execute(f"SELECT DISTINCT s.{ident(column)} FROM scored s JOIN cand c "
                                      f"USING (person_id) WHERE c.inpop AND s.{ident(column)} IS NOT NULL")
            .fetchall()]
