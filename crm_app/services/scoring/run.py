"""A scoring run, as a pipeline of stages that each call downward only:

1. plan: the ranges of people to score (everyone, or the claimed queue of changed people);
2. features, evaluate and diff: each range through ``people.score_range`` (in worker processes when large);
3. save: each range's changed rows, where it was computed;
4. roll up accounts: ``accounts.score_accounts`` over the fresh person results;
5. segments: ``segments.update_segments`` from the stored scores;
6. record the run and release the queue.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from crm_app.config import setting
from crm_app.services.scoring.accounts import account_batches, score_accounts
from crm_app.services.scoring.diff import ModelSummary
from crm_app.services.scoring.duck_engine import CopyBusy, score_setwise
from crm_app.services.scoring.people import ChunkOutcome, ordered_models, save_outcome, score_range
from crm_app.services.scoring.propensity import load_live
from crm_app.services.scoring.segments import update_segments
from crm_app.services.scoring.setwise import plannable
from crm_app.services.scoring.source_changes import save_watermark, source_scope
from crm_app.specs.rules import RuleSet
from crm_app.store import Store
from crm_app.store import people as people_store
from crm_app.store.columnar import event_moves
from crm_app.store.columnar.mirror import forget_epoch
from crm_app.store.columnar.sources import event_source
from crm_app.store.scoring import results as results_store

CHUNK = 20_000


@dataclass
class ScoreSummary:
    as_of: int
    mode: str
    dry_run: bool
    rules_hash: str
    people: int = 0
    seconds: float = 0.0
    models: dict = field(default_factory=dict)
    accounts: object = None  # accounts.AccountRunSummary when the set has account models
    segments: dict = field(default_factory=dict)  # model -> segment -> (entered, left, members)
    propensity: dict = field(default_factory=dict)  # lifecycle model -> the version it scored with
    refused: dict = field(default_factory=dict)  # lifecycle model -> why its stored version was not loaded


_WORKER: dict = {}


def _worker_init(url: str, ruleset: RuleSet, dry_run: bool, live: list) -> None:
    _WORKER.update(store=Store(url), rules=ruleset, dry_run=dry_run, live=live)


def _worker_score(as_of: int, lo: int, hi: int, only) -> ChunkOutcome:
    """Score one range in a worker process and save it there: only the tallies travel back."""
    store = _WORKER["store"]
    with store.read() as conn:
        outcome = score_range(conn, _WORKER["rules"], as_of, lo, hi, only, _WORKER["live"])
    save_outcome(store, outcome, _WORKER["dry_run"])
    outcome.rows, outcome.history = [], []
    return outcome


def default_workers() -> int:
    """Worker processes for a large run: SCORE_WORKERS, else one per core, at most 4."""
    return int(os.environ.get("SCORE_WORKERS") or min(4, os.cpu_count() or 1))


ENGINES = ("store", "duckdb", "spark")
log = logging.getLogger(__name__)


def score(store: Store, ruleset: RuleSet, as_of: int, mode: str = "full", dry_run: bool = False,
          chunk: int = CHUNK, progress=None, workers: int | None = None, lifecycle=(),
          engine: str = "auto") -> ScoreSummary:
    """Score everyone (mode 'full') or only people whose data changed (mode 'changed').

    engine 'duckdb' scores the models the set-wise plan can express in one query over the DuckDB copy; the
    rest (and every model with engine 'store') go through the per-person engine over the store's SQL; 'auto'
    picks one (chosen_engine). A copy held by another process falls back to the per-person engine.
    `lifecycle` are the lifecycle model specs: each one's live version is loaded once here and scores the
    same people in the per-person stage.
    """
    if engine not in ENGINES + ("auto",):
        raise ValueError(f"unknown scoring engine {engine!r}: use one of {', '.join(ENGINES)}")
    started = time.time()
    summary = ScoreSummary(as_of=as_of, mode=mode, dry_run=dry_run, rules_hash=ruleset.hash)
    summary.models = {m.name: ModelSummary(m.name) for m in ordered_models(ruleset)}
    live, summary.refused = load_live(store, lifecycle)
    summary.propensity = {m.name: m.tag for m in live}
    summary.models.update({m.name: ModelSummary(m.name) for m in live if m.spec.subject == "person"})
    with store.read() as conn:
        # Full runs claim the queue too: someone marked after this point (new events mid-run) stays queued.
        claimed = results_store.claim_dirty(conn)
        lo, hi = people_store.person_id_bounds(conn)
    engine = chosen_engine(engine, store, mode, len(claimed))
    per_person = ruleset
    changed_people = [pid for pid, _ in claimed] if mode == "changed" else None
    reported = []  # people the set-wise stage reported as done, a model at a time
    if engine in ("duckdb", "spark"):
        per_person, changed_people = _setwise_stage(store, ruleset, as_of, mode, dry_run, claimed, summary,
                                                    engine, (lambda n: (reported.append(n), progress(n)))
                                                    if progress else None)
    if per_person is ruleset and not dry_run:
        with store.begin() as conn:
            # Before any result is written, so a crash mid-run leaves the note too.
            if changed_people is None or not results_store.hand_off_to_copy(conn, changed_people):
                forget_epoch(conn)
            event_moves.prune_unfollowed(conn)
    person_live = [m for m in live if m.spec.subject == "person"]
    batches = list(_batches(mode, claimed, lo, hi, chunk)) if ordered_models(per_person) or person_live else []
    workers = default_workers() if workers is None else workers
    counted = 0
    for outcome in _outcomes(store, per_person, as_of, batches, workers, dry_run, live):
        counted += outcome.people
        for name, tally in outcome.tallies.items():
            summary.models[name].merge(tally)
        if progress:
            progress(outcome.people)
    if progress and not batches and summary.people > sum(reported):  # the set-wise stage scored them all
        progress(summary.people - sum(reported))
    summary.people = summary.people or counted
    _after_people(store, ruleset, as_of, dry_run, summary, changed_people, live)
    with store.begin() as conn:
        for name, ms in summary.models.items():
            # A set-wise run already counted everyone's bands in its mirror of the results.
            ms.bands = ms.run_bands if dry_run else ms.bands or results_store.band_counts(conn, name)
        if not dry_run:
            results_store.release_dirty(conn, claimed)
        summary.seconds = time.time() - started
        first = next(iter(summary.models.values()), ModelSummary(""))
        results_store.record_run(conn, {
            "started_at": int(started), "finished_at": int(time.time()), "as_of": as_of, "mode": mode,
            "dry_run": dry_run, "scored": summary.people, "changed": first.changed,
            "new_pqls": len(first.new_pqls), "rules_hash": ruleset.hash})
    return summary


def chosen_engine(engine: str, store: Store, mode: str, changed: int) -> str:
    """'auto' is SCORE_ENGINE when set, else DuckDB, except for in-memory stores and incremental runs of fewer
    than SETWISE_MIN_CHANGED people. An incremental run of the per-person engine hands its people to the
    DuckDB copy (results.hand_off_to_copy), which re-reads only them; a full one makes it re-read everyone."""
    if engine != "auto":
        return engine
    forced = os.environ.get("SCORE_ENGINE", "").strip().lower()
    if forced in ENGINES:
        return forced
    if event_source().kind != "store":
        return "duckdb"  # the per-person engine reads only the store's events
    if store.url.endswith(":memory:"):
        return "store"
    large = mode == "full" or changed >= int(setting("SETWISE_MIN_CHANGED"))
    return "duckdb" if large else "store"


def _setwise_stage(store: Store, ruleset: RuleSet, as_of: int, mode: str, dry_run: bool, claimed: list,
                   summary: ScoreSummary, engine: str = "duckdb", progress=None) -> tuple[RuleSet, list | None]:
    """Score the plannable person models in DuckDB or Spark; return the rule set left for the per-person stage
    and the people the run scored (None: everyone). progress(n): DuckDB reports its people in a step a model."""
    setwise, rest = plannable(ordered_models(ruleset), metrics=engine == "duckdb")
    source = event_source()
    scope = [pid for pid, _ in claimed] if mode == "changed" else None
    if setwise:
        if source.kind != "store":  # what changed is what reached the source since the last run
            scope, newest = source_scope(store, source, scope)
        try:
            run = partial(score_setwise, progress=progress) if engine == "duckdb" else _spark_run()
            people, tallies = run(store, setwise, ruleset.hash, as_of, scope, dry_run, [pid for pid, _ in claimed],
                                  events=None if source.kind == "store" else source)
            if source.kind != "store" and not dry_run:
                save_watermark(store, source, newest)
        except CopyBusy as exc:
            if source.kind != "store":
                raise
            log.warning("scoring with the per-person engine: %s", exc)
            return ruleset, scope
        summary.people = people
        summary.models.update(tallies)
    if source.kind != "store":
        for model, why in rest:  # the per-person engine reads only the store's events
            log.warning("%s is not scored from EVENT_SOURCE=%s: %s", model.name, source.kind, why)
        rest = []
    others = [m for m in ruleset.models if m.subject != "person"] + [m for m, _ in rest]
    return dataclasses.replace(ruleset, models=tuple(others)), scope


def _spark_run():
    """The Spark engine, imported only when asked for (PySpark is a large, optional dependency)."""
    from crm_app.services.scoring.spark.engine import score_spark
    return score_spark


def _after_people(store: Store, ruleset: RuleSet, as_of: int, dry_run: bool, summary: ScoreSummary,
                  people: list | None, live: list) -> None:
    """Account models roll up the fresh person results; then segments are recomputed from the scores.

    An incremental run (people given) revisits only those people and their accounts.
    """
    summary.accounts = score_accounts(store, ruleset, as_of, dry_run=dry_run, people=people,
                                      live=[m for m in live if m.spec.subject == "account"])
    accounts = None if people is None else [a for b in account_batches(store, 5000, people) for a in b[2]]
    # Segments read stored scores; a dry run stored none, so it reports no segment changes.
    summary.segments = {} if dry_run else update_segments(store, ruleset, as_of, people=people,
                                                          accounts=accounts)


def _outcomes(store: Store, ruleset: RuleSet, as_of: int, batches: list, workers: int, dry_run: bool,
              live: list):
    """Saved chunk outcomes: in this process for small runs, else from a pool of processes."""
    if workers <= 1 or len(batches) <= 1 or store.url.endswith(":memory:"):
        for lo, hi, only in batches:
            with store.read() as conn:
                outcome = score_range(conn, ruleset, as_of, lo, hi, only, live)
            save_outcome(store, outcome, dry_run)
            yield outcome
        return
    # spawn, not fork: the parent may run scheduler threads, and forked database connections are unsafe.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                             initargs=(store.url, ruleset, dry_run, live)) as pool:
        pending: deque = deque()
        for lo, hi, only in batches:
            pending.append(pool.submit(_worker_score, as_of, lo, hi, only))
            if len(pending) > 2 * workers:  # bounded: memory stays flat however many people there are
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _batches(mode: str, claimed: list, lo: int, hi: int, chunk: int):
    if mode == "changed":
        ids = [pid for pid, _ in claimed]
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            yield part[0], part[-1], part
        return
    for start in range(lo, hi + 1, chunk):
        yield start, min(hi, start + chunk - 1), None
