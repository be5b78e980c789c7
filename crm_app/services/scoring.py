"""Score people: records + features from the store, the pure engine, changed results back to the store.

Work is split into ranges of people. Each range is one set-wise feature query plus one engine pass; with
several workers, ranges are computed in parallel processes while this process writes the results.
"""
from __future__ import annotations

import hashlib
import heapq
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from crm_app.engine import evaluate, in_population
from crm_app.engine.plan import feature_plan, metric_names, score_inputs, score_key
from crm_app.engine.result import ScoreResult
from crm_app.specs.rules import RuleSet
from crm_app.store import Store
from crm_app.store import people as people_store
from crm_app.store import results as results_store
from crm_app.store.features import compute_features
from crm_app.store.results import COMPARED

CHUNK = 20_000
MOVERS_KEPT = 10
HISTORY_FIELDS = ("fit", "behaviour", "combined", "band", "pql")


@dataclass
class ModelSummary:
    model: str
    scored: int = 0
    changed: int = 0
    bands: dict = field(default_factory=dict)  # everyone's band after the run
    run_bands: dict = field(default_factory=dict)  # bands of the people scored in this run
    new_pqls: list = field(default_factory=list)  # (person external id, combined)
    movers: list = field(default_factory=list)  # (delta, external id, old, new)

    def merge(self, other: "ModelSummary") -> None:
        self.scored += other.scored
        self.changed += other.changed
        for band, n in other.run_bands.items():
            self.run_bands[band] = self.run_bands.get(band, 0) + n
        self.new_pqls.extend(other.new_pqls)
        self.movers = _top_movers(self.movers + other.movers)


@dataclass
class ScoreSummary:
    as_of: int
    mode: str
    dry_run: bool
    rules_hash: str
    people: int = 0
    seconds: float = 0.0
    models: dict = field(default_factory=dict)
    accounts: object = None  # account_scoring.AccountRunSummary when the set has account models
    segments: dict = field(default_factory=dict)  # model -> segment -> (entered, left, members)


@dataclass
class ChunkOutcome:
    """What one range of people produced: rows to save and the tallies of the run."""

    people: int
    rows: list  # changed result rows, all models
    history: list
    tallies: dict  # model -> ModelSummary of this chunk
    removed: list = field(default_factory=list)  # (model, subject id) that left a model's population


def result_row(result: ScoreResult, subject_id: int, rules_hash: str) -> dict:
    """A result as a store row; reasons compact as [rule, text, points] lists; digest of what is compared."""
    row = {c: getattr(result, c) for c in COMPARED if c != "reasons"}
    row.update(model=result.model, subject_id=subject_id, as_of=result.as_of, days_inactive=result.days_inactive,
               rules_hash=rules_hash, reasons=[[r.rule, r.text, r.points] for r in result.reasons])
    row["digest"] = hashlib.blake2b(repr([row[c] for c in COMPARED]).encode(), digest_size=12).hexdigest()
    return row


def _top_movers(movers: list) -> list:
    return heapq.nsmallest(MOVERS_KEPT, movers, key=lambda m: (-abs(m[0]), str(m[1])))


def ordered_models(ruleset: RuleSet) -> list:
    """Person models, each after the models whose scores it reads."""
    pending = [m for m in ruleset.models if m.subject == "person"]
    names = {m.name for m in pending}
    ordered: list = []
    while pending:
        placed = {m.name for m in ordered}
        ready = [m for m in pending if set(score_inputs([m])) & names <= placed] or pending[:1]
        ordered.extend(ready)
        pending = [m for m in pending if m not in ready]
    return ordered


def score_range(conn, ruleset: RuleSet, as_of: int, lo: int, hi: int, only=None) -> ChunkOutcome:
    """Evaluate every person model for one range of people; keep only results that changed."""
    models = ordered_models(ruleset)
    records = people_store.flat_records(conn, lo, hi, only)
    outcome = ChunkOutcome(len(records), [], [], {m.name: ModelSummary(m.name) for m in models})
    if not records:
        return outcome
    features = compute_features(conn, feature_plan(models), metric_names(models), score_inputs(models), as_of,
                                lo, hi, only)
    for model in models:
        previous = results_store.previous_results(conn, model.name, lo, hi, only)
        tally = outcome.tallies[model.name]
        for pid, record in records.items():
            feats = features.setdefault(pid, {})
            before = previous.get(pid)
            if not in_population(model, record, feats, as_of):
                if before is not None:
                    outcome.removed.append((model.name, pid))
                continue
            result = evaluate(model, record, feats, as_of, before)
            feats[score_key(model.name)] = result.combined
            row = result_row(result, pid, ruleset.hash)
            _tally(tally, row, before, record.get("external_id"))
            if before is None or row["digest"] != before["digest"]:
                outcome.rows.append(row)
                if before is None or any(row[c] != before.get(c) for c in HISTORY_FIELDS):
                    outcome.history.append(row)
        tally.movers = _top_movers(tally.movers)
    return outcome


def _tally(tally: ModelSummary, row: dict, before: dict | None, external_id) -> None:
    tally.scored += 1
    tally.run_bands[row["band"]] = tally.run_bands.get(row["band"], 0) + 1
    if before is not None and row["digest"] == before["digest"]:
        return
    tally.changed += 1
    if row["pql"] and not (before and before.get("pql")):
        tally.new_pqls.append((external_id, row["combined"]))
    old = before["combined"] if before else 0
    if row["combined"] != old:
        tally.movers.append((row["combined"] - old, external_id, old, row["combined"]))


_WORKER: dict = {}


def _worker_init(url: str, ruleset: RuleSet, dry_run: bool) -> None:
    _WORKER.update(store=Store(url), rules=ruleset, dry_run=dry_run)


def _worker_score(as_of: int, lo: int, hi: int, only) -> ChunkOutcome:
    """Score one range in a worker process and save it there: only the tallies travel back."""
    store = _WORKER["store"]
    with store.read() as conn:
        outcome = score_range(conn, _WORKER["rules"], as_of, lo, hi, only)
    _save(store, outcome, _WORKER["dry_run"])
    outcome.rows, outcome.history = [], []
    return outcome


def _save(store: Store, outcome: ChunkOutcome, dry_run: bool) -> None:
    if not dry_run and (outcome.rows or outcome.removed):
        with store.begin() as conn:
            results_store.save_results(conn, outcome.rows, outcome.history)
            results_store.delete_results(conn, outcome.removed)


def default_workers() -> int:
    """Worker processes for a large run: SCORE_WORKERS, else one per core, at most 4."""
    return int(os.environ.get("SCORE_WORKERS") or min(4, os.cpu_count() or 1))


def score(store: Store, ruleset: RuleSet, as_of: int, mode: str = "full", dry_run: bool = False,
          chunk: int = CHUNK, progress=None, workers: int | None = None) -> ScoreSummary:
    """Score everyone (mode 'full') or only people whose data changed (mode 'changed')."""
    started = time.time()
    summary = ScoreSummary(as_of=as_of, mode=mode, dry_run=dry_run, rules_hash=ruleset.hash)
    summary.models = {m.name: ModelSummary(m.name) for m in ordered_models(ruleset)}
    with store.read() as conn:
        # Full runs claim the queue too: someone marked after this point (new events mid-run) stays queued.
        claimed = results_store.claim_dirty(conn)
        lo, hi = people_store.person_id_bounds(conn)
    batches = list(_batches(mode, claimed, lo, hi, chunk))
    workers = default_workers() if workers is None else workers
    for outcome in _outcomes(store, ruleset, as_of, batches, workers, dry_run):
        summary.people += outcome.people
        for name, tally in outcome.tallies.items():
            summary.models[name].merge(tally)
        if progress:
            progress(outcome.people)
    changed_people = [pid for pid, _ in claimed] if mode == "changed" else None
    _after_people(store, ruleset, as_of, dry_run, summary, changed_people)
    with store.begin() as conn:
        for name, ms in summary.models.items():
            ms.bands = ms.run_bands if dry_run else results_store.band_counts(conn, name)
        if not dry_run:
            results_store.release_dirty(conn, claimed)
        summary.seconds = time.time() - started
        first = next(iter(summary.models.values()), ModelSummary(""))
        results_store.record_run(conn, {
            "started_at": int(started), "finished_at": int(time.time()), "as_of": as_of, "mode": mode,
            "dry_run": dry_run, "scored": summary.people, "changed": first.changed,
            "new_pqls": len(first.new_pqls), "rules_hash": ruleset.hash})
    return summary


def _after_people(store: Store, ruleset: RuleSet, as_of: int, dry_run: bool, summary: ScoreSummary,
                  people: list | None) -> None:
    """Account models roll up the fresh person results; then segments are recomputed from the scores.

    An incremental run (people given) revisits only those people and their accounts.
    """
    from crm_app.services.account_scoring import account_batches, score_accounts
    from crm_app.services.segments import update_segments
    summary.accounts = score_accounts(store, ruleset, as_of, dry_run=dry_run, people=people)
    accounts = None if people is None else [a for b in account_batches(store, 5000, people) for a in b[2]]
    # Segments read stored scores; a dry run stored none, so it reports no segment changes.
    summary.segments = {} if dry_run else update_segments(store, ruleset, as_of, people=people,
                                                          accounts=accounts)


def _outcomes(store: Store, ruleset: RuleSet, as_of: int, batches: list, workers: int, dry_run: bool):
    """Saved chunk outcomes: in this process for small runs, else from a pool of processes."""
    if workers <= 1 or len(batches) <= 1 or store.url.endswith(":memory:"):
        for lo, hi, only in batches:
            with store.read() as conn:
                outcome = score_range(conn, ruleset, as_of, lo, hi, only)
            _save(store, outcome, dry_run)
            yield outcome
        return
    # spawn, not fork: the parent may run scheduler threads, and forked database connections are unsafe.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                             initargs=(store.url, ruleset, dry_run)) as pool:
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
