"""Lifecycle (propensity) models in the scoring loop: each model's live version is loaded once per run, and
each chunk of people is scored with one prediction per model, with reasons, change detection and history
exactly like the rule models' results."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from crm_app.engine.conditions import compile_condition
from crm_app.engine.plan import score_key
from crm_app.models import artifact
from crm_app.models.dataset import condition_plan, event_plan
from crm_app.models.propensity import layout_columns, score_columns
from crm_app.models.train import Fitted
from crm_app.services.scoring.diff import HISTORY_FIELDS, ModelSummary, tally, top_movers
from crm_app.specs.lifecycle import LifecycleModel
from crm_app.store import Store
from crm_app.store import lifecycle as lifecycle_store
from crm_app.store.scoring import results as results_store
from crm_app.store.scoring.features import compute_features

EMPTY = {c: None for c in results_store.RESULT_COLUMNS}


@dataclass
class LiveModel:
    """A lifecycle model's live version, ready to score: the fitted model and what its columns read."""

    spec: LifecycleModel
    version: int
    fitted: Fitted
    plan: tuple  # aggregates: the model's event columns, plus what its goal and filter read
    metrics: tuple
    scores: tuple  # other models' scores the goal or filter read

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tag(self) -> str:
        return f"{self.spec.name}@v{self.version}"


def load_live(store: Store, specs) -> tuple[list[LiveModel], dict]:
    """(live models, {model: why it is not scored}) for the lifecycle specs that have a live version."""
    live, refused = [], {}
    with store.read() as conn:
        rows = {spec.name: lifecycle_store.live_model(conn, spec.name) for spec in specs}
    for spec in specs:
        row = rows[spec.name]
        if row is None:
            continue
        try:
            fitted = artifact.load(row["artifact"])
        except artifact.ArtifactRefused as exc:
            refused[spec.name] = f"version {row['version']}: {exc}"
            continue
        goal_plan, metrics, scores = condition_plan([c for c in (spec.goal, spec.filter) if c is not None])
        inputs = fitted.inputs
        plan = {a.key: a for a in goal_plan + event_plan(list(inputs.get("events", [])),
                                                          tuple(inputs.get("windows", ())))}
        live.append(LiveModel(spec, int(row["version"]), fitted, tuple(plan.values()),
                              tuple(sorted(set(metrics) | set(inputs.get("metrics", [])))), scores))
    return live, refused


def score_chunk(conn, live: list[LiveModel], records: dict, as_of: int, lo: int, hi: int, only, outcome,
                rule_features: dict) -> None:
    """Score one chunk of people with every live person model; rows, departures and tallies go into the outcome.

    Fresh scores are also put into the rule models' features, so a hybrid rule reads this run's value.
    """
    for model in (m for m in live if m.spec.subject == "person"):
        features = compute_features(conn, model.plan, model.metrics, model.scores, as_of, lo, hi, only)
        model_tally = outcome.tallies.setdefault(model.name, ModelSummary(model.name))
        scored = score_subjects(conn, model, records, features, as_of, lo, hi, only, model_tally)
        outcome.rows.extend(scored.rows)
        outcome.history.extend(scored.history)
        outcome.removed.extend((model.name, pid) for pid in scored.removed)
        for pid in scored.removed:
            rule_features.setdefault(pid, {})[score_key(model.name)] = None
        for pid, combined in scored.scores.items():
            rule_features.setdefault(pid, {})[score_key(model.name)] = combined


@dataclass
class Scored:
    rows: list  # changed result rows
    history: list
    removed: list  # subject ids that left the population or reached the goal
    scores: dict  # subject id -> 1-100 score of this run


def score_subjects(conn, model: LiveModel, records: dict, features: dict, as_of: int, lo: int, hi: int, only,
                   model_tally: ModelSummary) -> Scored:
    """Score the subjects (people or accounts) of one chunk that the filter admits and have not reached the goal:
    one prediction for all of them; keep what changed."""
    goal, admitted = compile_condition(model.spec.goal), _admits(model.spec)
    ids = sorted(sid for sid, record in records.items()
                 if admitted(record, features.get(sid, {}), as_of) and not goal(record, features.get(sid, {}),
                                                                                 as_of))
    previous = results_store.previous_results(conn, model.name, lo, hi, only)
    chosen = set(ids)
    out = Scored([], [], [sid for sid in previous if sid not in chosen and sid in records], {})
    if not ids:
        return out
    scores, reasons = score_columns(model.fitted, layout_columns(model.fitted, ids, records, features, as_of))
    for sid, score, why in zip(ids, scores.tolist(), reasons):
        row = result_row(model, sid, as_of, int(score), why)
        before = previous.get(sid)
        tally(model_tally, row, before, records[sid].get("external_id"))
        out.scores[sid] = row["combined"]
        if before is None or row["digest"] != before["digest"]:
            out.rows.append(row)
            if before is None or any(row[c] != before.get(c) for c in HISTORY_FIELDS):
                out.history.append(row)
    model_tally.movers = top_movers(model_tally.movers)
    return out


def _admits(spec: LifecycleModel):
    if spec.filter is None:
        return lambda record, features, as_of: True
    return compile_condition(spec.filter)


def result_row(model: LiveModel, subject_id: int, as_of: int, score: int, reasons: list) -> dict:
    """A propensity result in the rule models' row shape: combined is the 1-100 score, no fit or behaviour."""
    row = dict(EMPTY, model=model.name, subject_id=subject_id, as_of=as_of, combined=score,
               band=lifecycle_store.band_of(score), pql=False, reasons=reasons, rules_hash=model.tag)
    compared = [row[c] for c in results_store.COMPARED]
    row["digest"] = hashlib.blake2b(repr(compared).encode(), digest_size=12).hexdigest()
    return row
