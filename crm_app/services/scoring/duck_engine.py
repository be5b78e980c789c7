"""Scoring run on the set-wise plan in DuckDB: catch the copy up, run the one query, render the candidates'
stored rows in SQL and save only what changed. Unchanged results (same hash, or same digest, as the mirror's)
cost no Python and no write; changed ones reach Python only as tuples on their way to the store."""
from __future__ import annotations

import hashlib
import os
import time
from contextlib import nullcontext

import duckdb

from crm_app.config import setting
from crm_app.engine.setwise.fields import field_column
from crm_app.engine.setwise.metrics import at_column, metric_points, value_column
from crm_app.engine.setwise.plan import feature_column
from crm_app.engine.setwise.reasons import result_of
from crm_app.engine.setwise.scores import model_column
from crm_app.engine.setwise.stored import digest_sql, reasons_sql, value_fields, value_text
from crm_app.services.scoring.diff import HISTORY_FIELDS, MOVERS_KEPT, ModelSummary, result_row, tally, top_movers
from crm_app.services.scoring.setwise import plan_over
from crm_app.store import Store
from crm_app.store.columnar import clustering, copy, event_moves, mirror, outcome, relations, scoped
from crm_app.store.columnar.metric_points import load_points, read_points
from crm_app.store.columnar.partitions import create_in_parts, plan_parts
from crm_app.store.columnar.relations import ident
from crm_app.store.db import streaming_cache
from crm_app.store.scoring import results as results_store
from crm_app.store.scoring.outcome_writes import write_outcome

FETCH = 5_000  # rows rendered in Python per batch (the Spark engine)


class CopyBusy(RuntimeError):
    """Another process holds the DuckDB copy (DuckDB allows one writer process per file)."""


def copy_path(store_url: str) -> str:
    """COLUMNAR_PATH, else beside a SQLite store, else under var/ named after the store's URL."""
    if os.environ.get("COLUMNAR_PATH"):
        return os.environ["COLUMNAR_PATH"]
    if store_url.endswith(":memory:"):
        return ":memory:"
    if store_url.startswith("sqlite:///"):
        return store_url[len("sqlite:///"):] + ".columnar.duckdb"
    os.makedirs("var", exist_ok=True)
    return os.path.join("var", f"columnar-{hashlib.sha1(store_url.encode()).hexdigest()[:12]}.duckdb")


def lag_seconds() -> int:
    """How long an ingest transaction may stay open: events are re-read that far back (COLUMNAR_LAG_SECONDS)."""
    return int(os.environ.get("COLUMNAR_LAG_SECONDS") or 300)


def _hashed(plan, model, columns: set) -> str:
    """The hash of everything a stored result of this model is made of (days_inactive aside)."""
    out = plan.outputs[model.name]
    cols = [n for what, n in out["result"].items() if what not in ("days_inactive",)]
    for names in out["rules"].values():
        cols += [names["fired"], names["points"]]
    ages = [names["age"] for names in out["rules"].values() if names["age"] in columns]
    parts = [ident(c) for c in cols if c in columns] + [f"({ident(a)} // 604800)" for a in ages]
    parts += [ident(feature_column(i)) for i in range(len(plan.aggregates))]
    parts += [ident(c) for i in range(len(plan.points)) for c in (value_column(i), at_column(i))]
    parts += [ident(field_column(f)) for f in plan.fields]
    return f"hash({', '.join(parts)})"


def open_bound(store: Store):
    """The store's columnar copy, opened with the configured memory and threads and bound to this store.
    Raises CopyBusy when another process holds it."""
    path = copy_path(store.url)
    try:
        con = mirror.open_copy(path, setting("DUCKDB_MEMORY_LIMIT"),
                               int(os.environ.get("DUCKDB_THREADS") or 0) or None)
    except duckdb.IOException as exc:
        raise CopyBusy(f"the columnar copy {path} is in use by another process ({exc})") from exc
    try:
        with store.begin() as conn:
            mirror.bind_to_store(con, conn)
    except BaseException:
        con.close()
        raise
    return con


def with_hand_offs(store: Store, scope_ids, claimed) -> tuple[list, list, list | None, list]:
    """(the hand-offs read, the people handed off, scope and claimed widened by them): people the per-person
    engine scored since the copy's last run are re-read and scored again like people queued as changed (their
    unchanged results cost no write). The run acknowledges the hand-offs it read."""
    with store.read() as conn:
        read, handed = results_store.handed_off(conn)
    if not handed:
        return [], [], scope_ids, list(claimed)
    more = set(handed)
    scope = None if scope_ids is None else sorted(set(scope_ids) | more)
    return read, handed, scope, sorted(set(claimed) | more)


def open_caught_up(store: Store, models: list, scope_ids=None, claimed=(), events=None, handed=()):
    """The columnar copy, bound to this store and caught up for a run: events (unless another source gives
    them), their moves between people, people and the results mirror; for everyone's run, the events in person
    order again when the tail copied since asks for it (clustering). Raises CopyBusy when another process
    holds it. handed: people the per-person engine scored since the copy's last run (with_hand_offs), whose
    mirrored results are reloaded."""
    con = open_bound(store)
    try:
        # A full run streams people (and a new copy every event) through the store's connection once: a small
        # cache for it. An incremental run reads a few pages, likely cached from its last run: left as it is.
        with store.read() as conn, (streaming_cache(conn) if scope_ids is None else nullcontext()):
            # A new copy reads every event with its person of now: there is nothing to follow yet.
            fresh = con.execute("SELECT count(*) FROM catch_ups").fetchall()[0][0] == 0
            now, lag = int(time.time()), lag_seconds()
            if events is None:
                copy.catch_up_events(con, conn, now, lag)
            mirror.sync_previous(con, conn, [m.name for m in models], handed)
            # Another engine consumed the queue of changed people, the copy's only news of who changed, since
            # our last run: every person is read again.
            foreign = mirror.queue_foreign(con, conn) and not fresh
            if scope_ids is not None and not foreign:
                scoped.refresh_people(con, conn, scope_ids)
            else:
                copy.refresh_people(con, conn, scope_ids, claimed, everyone=foreign, now=now, lag=lag)
            followed = event_moves.follow(con, conn, fresh)
        forget_followed(store, followed)
        if scope_ids is None and events is None:
            clustering.keep_clustered(con)
    except BaseException:
        con.close()
        raise
    return con


def forget_followed(store: Store, followed: list) -> None:
    """Drop the moves log's rows the copy has followed (committed in the copy already)."""
    if followed:
        with store.begin() as conn:
            event_moves.forget(conn, followed)


def score_setwise(store: Store, models: list, rules_hash: str, as_of: int, scope_ids=None,
                  dry_run: bool = False, claimed=(), events=None, progress=None) -> tuple[int, dict]:
    """(people scored, model -> ModelSummary) for the plannable person models.

    claimed: the people queued as changed; a full run re-reads them into the copy. progress(n): called as each
    model's results are written, with its share of the people (the shares add up to the people scored).
    """
    read, handed, scope_ids, claimed = with_hand_offs(store, scope_ids, claimed)
    con = open_caught_up(store, models, scope_ids, claimed, events, handed=handed)
    try:
        points = metric_points(models)
        if points:
            with store.read() as conn:
                rows = read_points(conn, [(p.name, as_of - p.back) for p in points], scope_ids)
            load_points(con, [(value_column(i), at_column(i)) for i in range(len(points))], rows)
        everyone = scope_ids is None and events is None
        plan = plan_over(con, models, as_of, scope_ids, events, metrics=True, materialise=everyone)
        hashes = {m.name: _hashed(plan, m, set(plan.columns)) for m in models}
        _candidates_only(con, plan, models, hashes, plan_parts(con, len(plan.aggregates)) if everyone else 1)
        people = con.execute("SELECT count(*) FROM subj" + (" WHERE person_id IN (SELECT person_id FROM scope)"
                                                             if scope_ids is not None else "")).fetchall()[0][0]
        summaries = {}
        for i, m in enumerate(models):
            summaries[m.name] = _score_model(store, con, plan, m, rules_hash, dry_run, scope_ids is not None)
            if progress:
                progress(people * (i + 1) // len(models) - people * i // len(models))
        if not dry_run:
            with store.begin() as conn:
                mirror.new_epoch(con, conn)
                results_store.acknowledge_hand_off(conn, read)
        return people, summaries
    finally:
        con.close()


def _hash_column(model) -> str:
    return f"@h:{model.name}"


def _candidates_only(con, plan, models, hashes: dict, parts: int = 1) -> None:
    """The temp table `scored`: the plan's rows of the subjects some model must look at again (hash moved, or
    left the population holding a result), each with its hash per model. Unchanged subjects are never
    materialised: their band is the mirror's. parts > 1 (everyone's run): the plan runs over that many
    partitions of the people in turn (see partitions), whose rows are appended."""
    inner = ", ".join(f"{h} AS {ident(_hash_column(m))}" for m, h in zip(models, hashes.values()))
    joins, moved = [], []
    for i, model in enumerate(models):
        inpop, h = f"s.{ident(model_column(model, 'in_population'))}", _hash_column(model)
        joins.append(f" LEFT JOIN prev q{i} ON q{i}.model = {_lit(model.name)} AND q{i}.subject_id = s.person_id")
        moved.append(f"({inpop} AND (q{i}.h IS NULL OR q{i}.h <> s.{ident(h)})) "
                     f"OR (NOT {inpop} AND q{i}.subject_id IS NOT NULL)")
    where = " OR ".join(moved) if moved else "FALSE"
    query = f"SELECT s.* FROM (SELECT *, {inner} FROM ({plan.sql})) s{''.join(joins)} WHERE {where}"
    create_in_parts(con, "scored", query, parts, plan.fields, plan.properties,
                    subjects=relations.SUBJECTS if parts > 1 else None)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _bands(con, model, scope: bool) -> dict:
    """Band -> subjects in the population: the candidates' new bands, the mirror's for everyone else."""
    band = ident(model_column(model, "band"))
    only = " AND p.subject_id IN (SELECT person_id FROM scope)" if scope else ""
    rows = con.execute(
        f"SELECT band, count(*) FROM (SELECT s.{band} AS band FROM scored s JOIN cand c USING (person_id) "
        f"WHERE c.inpop UNION ALL SELECT p.band FROM prev p SEMI JOIN subj ON subj.person_id = p.subject_id "
        f"WHERE p.model = ?{only} AND p.subject_id NOT IN (SELECT person_id FROM cand)) GROUP BY band",
        [model.name]).fetchall()
    return {b: n for b, n in rows}


def _score_model(store: Store, con, plan, model, rules_hash: str, dry_run: bool, in_scope: bool) -> ModelSummary:
    """Render the candidates in SQL, write those whose digest moved set-wise, tally from the same table."""
    summary = ModelSummary(model.name)
    inpop = model_column(model, "in_population")
    outcome.candidates(con, model.name, ident(_hash_column(model)), inpop)
    values = [(f, raw, value_text(raw)) for f in value_fields(plan, model)
              for raw in outcome.distinct_values(con, field_column(f))]
    reasons = reasons_sql(plan, model)
    result = {what: plan.outputs[model.name]["result"][what] for what in outcome.RESULT}
    outcome.stage(con, model.name, result, reasons, digest_sql(plan, model, '"@reasons"'), values)
    summary.rendered = con.execute("SELECT count(*) FROM cand").fetchone()[0]
    if not dry_run:
        write_outcome(store, con, model.name, plan.as_of, rules_hash)
    summary.changed, summary.new_pqls, movers = outcome.tallies(con, MOVERS_KEPT)
    summary.movers = top_movers(movers)
    summary.run_bands = _bands(con, model, in_scope)
    summary.scored = sum(summary.run_bands.values())
    if not dry_run:
        mirror.remember(con, model.name)
        summary.bands = mirror.band_totals(con, model.name)
    return summary


def _save(store: Store, plan, model, batch: list, rules_hash: str, summary: ModelSummary, dry_run: bool) -> list:
    """Render, compare and write one batch of candidates; return (person id, digest) of their results."""
    if not batch:
        return []
    ids = [r["person_id"] for r in batch]
    digests = []
    with store.read() as conn:
        previous = results_store.previous_results(conn, model.name, 0, 0, ids)
    changed, history, removed = [], [], []
    for row in batch:
        pid, before = row["person_id"], previous.get(row["person_id"])
        result = result_of(plan, model, row)
        if result is None:
            if before is not None:
                removed.append((model.name, pid))
            continue
        stored = result_row(result, pid, rules_hash)
        digests.append((pid, stored["digest"]))
        tally(summary, stored, before, row["@external_id"])
        if before is None or stored["digest"] != before["digest"]:
            changed.append(stored)
            if before is None or any(stored[c] != before.get(c) for c in HISTORY_FIELDS):
                history.append(stored)
    if not dry_run and (changed or removed):
        with store.begin() as conn:
            results_store.save_results(conn, changed, history)
            results_store.delete_results(conn, removed)
    return digests
