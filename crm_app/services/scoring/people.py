"""One range of people through the person models: records and features from the store, the pure engine,
the changed rows kept for saving."""
from __future__ import annotations

from dataclasses import dataclass, field

from crm_app.engine import evaluate, in_population
from crm_app.engine.plan import feature_plan, metric_names, score_inputs, score_key
from crm_app.services.scoring.diff import HISTORY_FIELDS, ModelSummary, result_row, tally, top_movers
from crm_app.services.scoring.propensity import score_chunk
from crm_app.specs.rules import RuleSet
from crm_app.store import Store
from crm_app.store import people as people_store
from crm_app.store.scoring import results as results_store
from crm_app.store.scoring.features import compute_features


@dataclass
class ChunkOutcome:
    """What one range of people produced: rows to save and the tallies of the run."""

    people: int
    rows: list  # changed result rows, all models
    history: list
    tallies: dict  # model -> ModelSummary of this chunk
    removed: list = field(default_factory=list)  # (model, subject id) that left a model's population


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


def score_range(conn, ruleset: RuleSet, as_of: int, lo: int, hi: int, only=None, live=()) -> ChunkOutcome:
    """Evaluate the live propensity models, then every rule model, for one range of people; keep only results
    that changed. Rule models read the propensity scores of this run."""
    models = ordered_models(ruleset)
    records = people_store.flat_records(conn, lo, hi, only)
    outcome = ChunkOutcome(len(records), [], [], {m.name: ModelSummary(m.name) for m in models})
    if not records:
        return outcome
    features = compute_features(conn, feature_plan(models), metric_names(models), score_inputs(models), as_of,
                                lo, hi, only)
    score_chunk(conn, list(live), records, as_of, lo, hi, only, outcome, features)
    for model in models:
        previous = results_store.previous_results(conn, model.name, lo, hi, only)
        model_tally = outcome.tallies[model.name]
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
            tally(model_tally, row, before, record.get("external_id"))
            if before is None or row["digest"] != before["digest"]:
                outcome.rows.append(row)
                if before is None or any(row[c] != before.get(c) for c in HISTORY_FIELDS):
                    outcome.history.append(row)
        model_tally.movers = top_movers(model_tally.movers)
    return outcome


def save_outcome(store: Store, outcome: ChunkOutcome, dry_run: bool) -> None:
    if not dry_run and (outcome.rows or outcome.removed):
        with store.begin() as conn:
            results_store.save_results(conn, outcome.rows, outcome.history)
            results_store.delete_results(conn, outcome.removed)
