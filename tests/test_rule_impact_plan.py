"""The rule-impact preview on the set-wise plan against the per-person engine, on SQLite and PostgreSQL: the
same results per (model, person), reasons included, for the shipped rules, random edits, and a hybrid rule
reading another model's score (scored per person on the plan's scores)."""
from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, Phase, given, settings

from crm_app.services.admin import impact_plan
from crm_app.services.admin.rule_impact import compare_rule_sets, evaluate_sample
from crm_app.store import people as people_store
from tests.helpers import AS_OF, model_from_yaml
from tests.test_backtest_plan import seed_with_history
from tests.test_setwise_plan import rule_sets

HYBRID = """
model: hybrid
behaviour:
  - {id: warm, label: Warm lead, points: 40, when: {score: conversion, at_least: 30}}
  - {id: active, label: Active, points: 10, when: {event: Logged In, within: 7d, count: {at_least: 1}}}
"""


def both(store, ruleset, sample: int = 40) -> tuple[dict, dict]:
    with store.read() as conn:
        lo, hi = people_store.person_id_bounds(conn)
        hi = min(hi, lo + sample - 1)
        reference = evaluate_sample(conn, ruleset, AS_OF, lo, hi)
    plan = impact_plan.evaluate_samples(store, [ruleset], AS_OF, lo, hi)[0]
    return plan, reference


def with_models(ruleset, *models):
    return dataclasses.replace(ruleset, models=tuple(ruleset.models) + models)


def test_shipped_rules_and_a_hybrid_model_preview_on_the_plan_as_per_person(store, default_rules):
    seed_with_history(store)
    ruleset = with_models(default_rules, model_from_yaml(HYBRID))
    plan, reference = both(store, ruleset)
    assert plan == reference
    assert {m for m, _ in plan} >= {"conversion", "hybrid"}
    assert any(r.reasons for r in plan.values())


def test_the_preview_report_is_the_same_on_both_engines(store, default_rules):
    seed_with_history(store)
    edited = with_models(default_rules, model_from_yaml(HYBRID))
    assert compare_rule_sets(store, default_rules, edited, AS_OF, 30, engine="duckdb") == \
        compare_rule_sets(store, default_rules, edited, AS_OF, 30, engine="store")


SEEDED: set = set()


@settings(phases=[Phase.explicit, Phase.reuse, Phase.generate], max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(model=rule_sets())
def test_random_rule_sets_preview_on_the_plan_as_per_person(store, default_rules, model):
    if store.url not in SEEDED:
        seed_with_history(store, 30)
        SEEDED.add(store.url)
    plan, reference = both(store, with_models(default_rules, model))
    assert plan == reference
