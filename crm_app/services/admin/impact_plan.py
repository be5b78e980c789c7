"""Rule-impact samples on the set-wise plan, the same results as rule_impact.evaluate_sample.

The models the plan expresses are scored in one query over the sample's people, their populations set aside
(the preview scores everyone); the rest (rules reading another model's score) go through the per-person
engine, reading the scores of the models before them as scoring does.
"""
from __future__ import annotations

import dataclasses
import os

from sqlalchemy import select

from crm_app.engine import evaluate
from crm_app.engine.plan import feature_plan, metric_names, score_inputs, score_key
from crm_app.services.scoring.duck_engine import CopyBusy
from crm_app.services.scoring.duck_reader import open_current
from crm_app.services.scoring.people import ordered_models
from crm_app.services.scoring.setwise import plannable, plan_over, results
from crm_app.store import Store, schema
from crm_app.store import people as people_store
from crm_app.store.scoring.features import compute_features


def use_plan(store: Store, engine: str) -> bool:
    """'duckdb' or 'auto' (unless SCORE_ENGINE says store, or the store is in memory): the plan."""
    if engine == "auto":
        forced = os.environ.get("SCORE_ENGINE", "").strip().lower()
        return forced != "store" and not store.url.endswith(":memory:")
    return engine == "duckdb"


def evaluate_samples(store: Store, rulesets: list, as_of: int, lo: int, hi: int) -> list[dict] | None:
    """Per rule set: (model, person id) -> ScoreResult for people lo..hi; None when the copy is busy."""
    try:
        con = open_current(store)
    except CopyBusy:
        return None
    try:
        with store.read() as conn:
            return [_evaluate(con, conn, ruleset, as_of, lo, hi) for ruleset in rulesets]
    finally:
        con.close()


def _evaluate(con, conn, ruleset, as_of: int, lo: int, hi: int) -> dict:
    models = ordered_models(ruleset)
    planned, rest = plannable(models)
    p = schema.people
    ids = conn.execute(select(p.c.id).where(p.c.id.between(lo, hi))).scalars().all()
    out: dict = {}
    if planned and ids:
        # Own names: no stored PQL state applies (the preview scores without one), and populations go.
        renamed = [dataclasses.replace(m, name=f"@{i}", population=None) for i, m in enumerate(planned)]
        plan = plan_over(con, renamed, as_of, ids)
        for pid, got in results(con, plan):
            for model, alias in zip(planned, renamed):
                out[(model.name, pid)] = dataclasses.replace(got[alias.name], model=model.name)
    if rest:
        _per_person(conn, models, [m for m, _ in rest], as_of, lo, hi, out)
    return out


def _per_person(conn, models: list, rest: list, as_of: int, lo: int, hi: int, out: dict) -> None:
    """The models the plan cannot express, in scoring order, each reading the scores before it."""
    records = people_store.flat_records(conn, lo, hi)
    features = compute_features(conn, feature_plan(rest), metric_names(rest), score_inputs(rest), as_of, lo, hi)
    for model in models:
        for pid, record in records.items():
            feats = features.setdefault(pid, {})
            if model in rest:
                out[(model.name, pid)] = evaluate(model, record, feats, as_of, None)
            feats[score_key(model.name)] = out[(model.name, pid)].combined
