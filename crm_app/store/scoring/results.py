"""Latest results, score history, score runs, the dirty queue and the hand-offs to the DuckDB copy."""
from __future__ import annotations

from operator import itemgetter

from sqlalchemy import Connection, and_, delete, func, insert, select, tuple_

from crm_app.store import schema
from crm_app.store.bulk import bulk_upsert, delete_versions
from crm_app.store.dialect import chunks

RESULT_COLUMNS = ("fit", "fit_raw", "behaviour", "behaviour_before_decay", "decay", "combined", "band", "pql",
                  "pql_since", "pql_first_at", "activation", "milestones", "last_activity", "days_inactive",
                  "reasons")
# Columns whose change makes a result "changed" (as_of alone does not).
COMPARED = tuple(c for c in RESULT_COLUMNS if c not in ("days_inactive",))


PREVIOUS = ("subject_id", "digest", "fit", "behaviour", "combined", "band", "pql", "pql_since", "pql_first_at")


def previous_results(conn: Connection, model: str, lo: int, hi: int, only=None) -> dict:
    """subject id -> what scoring needs of the stored result: digest, scores, band and PQL dates."""
    r = schema.results
    scope = r.c.subject_id.in_(only) if only is not None else r.c.subject_id.between(lo, hi)
    rows = conn.execute(select(*[r.c[c] for c in PREVIOUS]).where(r.c.model == model, scope))
    return {row[0]: dict(zip(PREVIOUS, row)) for row in rows}


def stored_result(conn: Connection, model: str, subject_id: int) -> dict | None:
    """The whole stored result of one subject, reasons included."""
    r = schema.results
    row = conn.execute(select(r).where(r.c.model == model, r.c.subject_id == subject_id)).first()
    return dict(row._mapping) if row else None


RESULT_ROW = ("model", "subject_id", "as_of", *RESULT_COLUMNS, "digest", "rules_hash")
HISTORY_ROW = ("model", "subject_id", "as_of", "fit", "behaviour", "combined", "band", "pql", "rules_hash")


def save_results(conn: Connection, rows: list[dict], history: list[dict]) -> None:
    """Upsert result rows and append history rows through the driver (these are the hot writes)."""
    bulk_upsert(conn, "results", list(RESULT_ROW), ["model", "subject_id"],
                [tuple(r[c] for c in RESULT_ROW) for r in rows], json_columns=("reasons",))
    bulk_upsert(conn, "score_history", list(HISTORY_ROW), ["model", "subject_id", "as_of"],
                [tuple(r[c] for c in HISTORY_ROW) for r in history])


def save_rows(conn: Connection, results: list[tuple], history: list[tuple]) -> None:
    """save_results for rows already in RESULT_ROW / HISTORY_ROW order, reasons already JSON text."""
    bulk_upsert(conn, "results", list(RESULT_ROW), ["model", "subject_id"], results)
    bulk_upsert(conn, "score_history", list(HISTORY_ROW), ["model", "subject_id", "as_of"], history)


# The result columns the dashboard's indexes carry (dashboard/indexes.py): a write that sets none of them
# touches no index.
KEYED = ("fit", "fit_raw", "behaviour", "combined", "band", "pql", "pql_since")
_UNKEYED = tuple(c for c in RESULT_ROW if c not in KEYED and c not in ("model", "subject_id"))


def update_unkeyed(conn: Connection, rows: list[tuple]) -> int:
    """Write result rows (RESULT_ROW order) by setting their unkeyed columns alone, where the stored row already
    holds their keyed values; return how many rows were written (on SQLite; elsewhere none: 0).
    A row whose stored keyed values differ, or that is not stored, is left for the caller to upsert."""
    if conn.dialect.name != "sqlite" or not rows:
        return 0
    where = ["model = ?", "subject_id = ?", *[f"{c} IS ?" for c in KEYED]]
    parameters = itemgetter(*[RESULT_ROW.index(c) for c in (*_UNKEYED, "model", "subject_id", *KEYED)])
    cursor = conn.connection.driver_connection.cursor()
    cursor.executemany(f"UPDATE results SET {', '.join(f'{c} = ?' for c in _UNKEYED)} WHERE {' AND '.join(where)}",
                       map(parameters, rows))
    return cursor.rowcount


def delete_results(conn: Connection, pairs: list[tuple[str, int]]) -> None:
    """Forget results of subjects that left a model's population (their scores no longer apply)."""
    r = schema.results
    for part in chunks(pairs, 500):
        conn.execute(delete(r).where(tuple_(r.c.model, r.c.subject_id).in_(part)))


def record_run(conn: Connection, run: dict) -> None:
    conn.execute(schema.score_runs.insert().values(**run))


def last_run(conn: Connection):
    r = schema.score_runs
    row = conn.execute(select(r).order_by(r.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def claim_dirty(conn: Connection) -> list[tuple[int, int]]:
    """(person_id, version) of everyone queued for rescoring."""
    d = schema.dirty
    return [tuple(r) for r in conn.execute(select(d.c.person_id, d.c.version).order_by(d.c.person_id))]


def release_dirty(conn: Connection, claimed: list[tuple[int, int]]) -> None:
    """Dequeue what was scored, unless it was marked again meanwhile (its version moved on)."""
    delete_versions(conn, "dirty_people", "person_id", [tuple(p) for p in claimed])


def clear_dirty(conn: Connection) -> None:
    conn.execute(delete(schema.dirty))


def band_counts(conn: Connection, model: str) -> dict:
    r = schema.results
    rows = conn.execute(select(r.c.band, func.count()).where(r.c.model == model).group_by(r.c.band))
    return dict(rows.all())


def history_for(conn: Connection, model: str, subject_id: int) -> list[dict]:
    h = schema.score_history
    rows = conn.execute(select(h).where(and_(h.c.model == model, h.c.subject_id == subject_id))
                        .order_by(h.c.as_of))
    return [dict(r._mapping) for r in rows]


# Hand-offs kept at most: where the DuckDB copy never runs (SCORE_ENGINE=store), they would pile up.
HAND_OFF_CAP = 200_000


def hand_off_to_copy(conn: Connection, person_ids: list[int]) -> bool:
    """Note people the per-person engine is about to score: the DuckDB copy re-reads them on its next run.

    False (and the notes are dropped) when they would pass HAND_OFF_CAP: the caller then has the copy re-read
    everyone instead (mirror.forget_epoch)."""
    h = schema.copy_handoff
    held = conn.execute(select(func.count()).select_from(h)).scalar()
    if held + len(person_ids) > HAND_OFF_CAP:
        conn.execute(delete(h))
        return False
    if person_ids:
        conn.execute(insert(h), [{"person_id": pid} for pid in person_ids])
    return True


def handed_off(conn: Connection) -> tuple[list[int], list[int]]:
    """(the seqs of the hand-offs read, the people handed off so far); ([], []) when there are none."""
    h = schema.copy_handoff
    rows = conn.execute(select(h.c.seq, h.c.person_id)).all()
    return sorted(seq for seq, _ in rows), sorted({pid for _, pid in rows})


def acknowledge_hand_off(conn: Connection, seqs: list[int]) -> None:
    """The copy has re-read these hand-offs. Exactly these go: on PostgreSQL a hand-off with a lower seq may
    commit after the read, and stays for the copy's next run."""
    h = schema.copy_handoff
    for part in chunks(sorted(seqs), 900):
        conn.execute(delete(h).where(h.c.seq.in_(part)))
