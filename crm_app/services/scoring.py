"""Score people: records + features from the store, the pure engine, changed results back to the store."""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

from crm_app.engine import evaluate
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


@dataclass
class ModelSummary:
    model: str
    scored: int = 0
    changed: int = 0
    bands: dict = field(default_factory=dict)  # everyone's band after the run
    run_bands: dict = field(default_factory=dict)  # bands of the people scored in this run
    new_pqls: list = field(default_factory=list)  # (person external id, combined)
    movers: list = field(default_factory=list)  # (delta, external id, old, new)


@dataclass
class ScoreSummary:
    as_of: int
    mode: str
    dry_run: bool
    rules_hash: str
    people: int = 0
    seconds: float = 0.0
    models: dict = field(default_factory=dict)


def result_row(result: ScoreResult, subject_id: int, rules_hash: str) -> dict:
    """A result as a store row; reasons compact as [rule, text, points] lists."""
    row = {c: getattr(result, c) for c in COMPARED if c != "reasons"}
    row.update(model=result.model, subject_id=subject_id, as_of=result.as_of, days_inactive=result.days_inactive,
               rules_hash=rules_hash, reasons=[[r.rule, r.text, r.points] for r in result.reasons])
    return row


def _changed(row: dict, before: dict | None) -> bool:
    return before is None or any(row[c] != before.get(c) for c in COMPARED)


def _history_row(row: dict) -> dict:
    return {k: row[k] for k in ("model", "subject_id", "as_of", "fit", "behaviour", "combined", "band", "pql",
                                "rules_hash")}


def ordered_models(ruleset: RuleSet) -> list:
    """Person models, those that read another model's score after it."""
    models = [m for m in ruleset.models if m.subject == "person"]
    done, ordered = set(), []
    while models:
        ready = [m for m in models if set(score_inputs([m])) <= done | {x.name for x in ordered}
                 or not set(score_inputs([m])) & {x.name for x in models}]
        ready = ready or models[:1]
        for m in ready:
            ordered.append(m)
            done.add(m.name)
            models.remove(m)
    return ordered


def score_chunk(conn, ruleset: RuleSet, models: list, as_of: int, lo: int, hi: int, only=None):
    """Evaluate every model for one range of people; return (rows per model, previous per model, records)."""
    plan = feature_plan(models)
    records = people_store.flat_records(conn, lo, hi, only)
    if not records:
        return {}, {}, records
    ids = list(records)
    scope_only = only if only is not None else None
    features = compute_features(conn, plan, metric_names(models), score_inputs(models), as_of, lo, hi, scope_only)
    rows, previous = {}, {}
    for model in models:
        prev = results_store.previous_results(conn, model.name, lo, hi, scope_only)
        out = []
        for pid in ids:
            feats = features.setdefault(pid, {})
            result = evaluate(model, records[pid], feats, as_of, prev.get(pid))
            feats[score_key(model.name)] = result.combined
            out.append(result_row(result, pid, ruleset.hash))
        rows[model.name], previous[model.name] = out, prev
    return rows, previous, records


def score(store: Store, ruleset: RuleSet, as_of: int, mode: str = "full", dry_run: bool = False,
          chunk: int = CHUNK, progress=None) -> ScoreSummary:
    """Score everyone (mode 'full') or only people whose data changed (mode 'changed')."""
    started = time.time()
    summary = ScoreSummary(as_of=as_of, mode=mode, dry_run=dry_run, rules_hash=ruleset.hash)
    models = ordered_models(ruleset)
    summary.models = {m.name: ModelSummary(m.name) for m in models}
    with store.read() as conn:
        claimed = results_store.claim_dirty(conn) if mode == "changed" else []
        lo, hi = people_store.person_id_bounds(conn)
    batches = _batches(mode, claimed, lo, hi, chunk)
    for batch_lo, batch_hi, only in batches:
        with store.begin() as conn:
            rows, previous, records = score_chunk(conn, ruleset, models, as_of, batch_lo, batch_hi, only)
            summary.people += len(records)
            for name, model_rows in rows.items():
                changed = _tally(summary.models[name], model_rows, previous[name], records)
                if not dry_run:
                    results_store.save_results(conn, changed, [_history_row(r) for r in changed
                                                               if _history_changed(r, previous[name])])
        if progress:
            progress(len(records))
    with store.begin() as conn:
        for name, ms in summary.models.items():
            ms.bands = ms.run_bands if dry_run else results_store.band_counts(conn, name)
        if not dry_run:
            if mode == "changed":
                results_store.release_dirty(conn, claimed)
            elif mode == "full":
                results_store.clear_dirty(conn)
        summary.seconds = time.time() - started
        first = next(iter(summary.models.values()), ModelSummary(""))
        results_store.record_run(conn, {
            "started_at": int(started), "finished_at": int(time.time()), "as_of": as_of, "mode": mode,
            "dry_run": dry_run, "scored": summary.people, "changed": first.changed,
            "new_pqls": len(first.new_pqls), "rules_hash": ruleset.hash})
    return summary


def _batches(mode: str, claimed: list, lo: int, hi: int, chunk: int):
    if mode == "changed":
        ids = [pid for pid, _ in claimed]
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            yield part[0], part[-1], part
        return
    for start in range(lo, hi + 1, chunk):
        yield start, min(hi, start + chunk - 1), None


def _history_changed(row: dict, previous: dict) -> bool:
    before = previous.get(row["subject_id"])
    return before is None or any(row[k] != before.get(k) for k in ("fit", "behaviour", "combined", "band", "pql"))


def _tally(ms: ModelSummary, rows: list, previous: dict, records: dict) -> list:
    """Count what changed; collect new PQLs and movers; return the rows to save."""
    changed = []
    for row in rows:
        before = previous.get(row["subject_id"])
        ms.scored += 1
        ms.run_bands[row["band"]] = ms.run_bands.get(row["band"], 0) + 1
        if not _changed(row, before):
            continue
        changed.append(row)
        ms.changed += 1
        external = records[row["subject_id"]].get("external_id")
        if row["pql"] and not (before and before.get("pql")):
            ms.new_pqls.append((external, row["combined"]))
        old = before["combined"] if before else 0
        if row["combined"] != old:
            ms.movers.append((row["combined"] - old, external, old, row["combined"]))
    ms.movers = heapq.nsmallest(MOVERS_KEPT, ms.movers, key=lambda m: (-abs(m[0]), m[1]))
    return changed
