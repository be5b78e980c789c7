"""Backtest on the set-wise plan against the per-person path, on SQLite and PostgreSQL: the same samples
(subjects, dates, scores, outcomes) for the shipped rules and random rule sets, goals on fields and events,
a filter, and person fields that change over time (field history)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from crm_app.models import backtest as figures
from crm_app.services.lifecycle import backtest
from crm_app.store.people import upsert_people
from tests.helpers import AS_OF, DAY, model_from_yaml
from tests.test_duckdb_engine import seed
from tests.test_propensity_scoring import lifecycle_spec
from tests.test_setwise_plan import rule_sets

DATES = [AS_OF - d * DAY for d in (50, 40, 30, 20, 10)]
WINDOW = 14 * DAY
GOALS = {
    "field": "model: g\nstage: conversion\ngoal: {field: plan, equals: paid}\n",
    "event": "model: g\nstage: conversion\ngoal: {event: Upgrade Started, count: {at_least: 1}}\n",
    "filtered": ("model: g\nstage: conversion\ngoal: {any: [{field: plan, equals: paid}, {event: Upgrade Started, "
                 "within: 7d, count: {at_least: 1}}]}\nfilter: {not: {field: region, in: [LATAM]}}\n"),
}


def seed_with_history(store, people: int = 60) -> None:
    """The DuckDB test's people and events, then field changes at known moments inside the backtest's range."""
    seed(store, people)
    rng = random.Random(11)
    with store.begin() as conn:
        for i in range(0, people, 2):
            changed_at = AS_OF - rng.randrange(5, 55) * DAY
            attributes = {"plan": rng.choice(["trial", "paid", "free"]), "region": rng.choice(["Europe", "LATAM", None]),
                          "title": rng.choice(["VP Sales", "Student"])}
            upsert_people(conn, [{"external_id": f"u{i}", "changed_at": changed_at,
                                  "attributes": {k: v for k, v in attributes.items() if v is not None}}])


def both(store, models, goal, dates=DATES, window=WINDOW) -> tuple[list, list]:
    plan, used, why = backtest.collect_with_engine(store, models, goal, dates, window, engine="duckdb")
    assert (used, why) == ("duckdb", None)
    return plan, backtest.collect_per_person(store, models, goal, dates, window)


def assert_same(plan, reference) -> None:
    assert len(plan) == len(reference)
    for got, want in zip(plan, reference):
        order = np.lexsort((want.subject, want.as_of))
        assert got.subject.tolist() == want.subject[order].tolist()
        assert got.as_of.tolist() == want.as_of[order].tolist()
        assert got.score.tolist() == want.score[order].tolist()
        assert got.converted.tolist() == want.converted[order].tolist()


@pytest.mark.parametrize("goal", sorted(GOALS))
def test_shipped_rules_backtest_on_the_plan_as_on_the_per_person_engine(store, default_rules, goal):
    seed_with_history(store)
    models = [default_rules.model("conversion")]
    plan, reference = both(store, models, lifecycle_spec(GOALS[goal]))
    assert_same(plan, reference)
    assert len(reference[0].score) > 0 and reference[0].converted.any()


def assert_same_tally(got, want) -> None:
    for name in ("score", "samples", "converted", "best", "first"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name
    assert got.dates == want.dates


def test_thirty_dates_roll_on_the_plan_as_on_the_per_person_engine(store, default_rules):
    # Thirty dates two days apart, given out of order: each date's features roll on from the one before.
    seed_with_history(store)
    dates = [AS_OF - d * DAY for d in range(60, 0, -2)]
    dates = dates[1::2] + dates[::2]
    models, goal = [default_rules.model("conversion")], lifecycle_spec(GOALS["filtered"])
    plan, reference = both(store, models, goal, dates)
    assert_same(plan, reference)
    assert len(set(reference[0].as_of.tolist())) == 30
    tallies = backtest.collect_with_engine(store, models, goal, dates, WINDOW, engine="duckdb", tally=True)[0]
    assert_same_tally(tallies[0], figures.tally(reference[0]))


def test_a_field_change_reaches_the_plan_at_its_moment(store):
    seed_with_history(store)
    fit = model_from_yaml("model: fit\nfit:\n  - {id: paid, label: Paid, points: 50, when: {field: plan, "
                          "equals: paid}}\n")
    with store.begin() as conn:
        pid = upsert_people(conn, [{"external_id": "new", "created_at": AS_OF - 100 * DAY,
                                    "attributes": {"plan": "trial"}}])["new"]
        upsert_people(conn, [{"external_id": "new", "changed_at": AS_OF - 25 * DAY, "attributes": {"plan": "paid"}}])
        upsert_people(conn, [{"external_id": "new", "changed_at": AS_OF - 15 * DAY, "attributes": {"plan": "trial"}}])
    goal = lifecycle_spec("model: g\nstage: conversion\ngoal: {event: Upgrade Started, count: {at_least: 9}}\n")
    plan, reference = both(store, [fit], goal)
    assert_same(plan, reference)
    new = plan[0].subject == pid
    assert dict(zip(plan[0].as_of[new].tolist(), plan[0].score[new].tolist())) == {
        DATES[0]: 0, DATES[1]: 0, DATES[2]: 0, DATES[3]: 50, DATES[4]: 0}


def test_the_edited_rules_of_a_comparison_go_through_the_plan_too(store, default_rules):
    seed_with_history(store)
    live = default_rules.model("conversion")
    edited = model_from_yaml("model: conversion\nbehaviour:\n  - {id: any, label: Any, points: 30, when: "
                             "{event: Logged In, within: 7d, count: {at_least: 1}}}\n")
    plan, reference = both(store, [live, edited], lifecycle_spec(GOALS["filtered"]))
    assert_same(plan, reference)
    assert plan[0].score.tolist() != plan[1].score.tolist()


@pytest.mark.parametrize("engine, expected", [("store", "store"), ("duckdb", "duckdb"), ("auto", "duckdb")])
def test_the_engine_a_backtest_uses(store, default_rules, engine, expected, monkeypatch):
    monkeypatch.delenv("SCORE_ENGINE", raising=False)
    seed_with_history(store, 10)
    out = backtest.run(store, [default_rules.model("conversion")], lifecycle_spec(GOALS["event"]), DATES[0],
                       DATES[-1], WINDOW, 10 * DAY, save=False, engine=engine)
    assert out["engine"] == expected


def test_a_goal_the_plan_cannot_express_goes_per_person(store, default_rules):
    goal = lifecycle_spec("model: g\nstage: conversion\ngoal: {metric: seats_used, at_least: 3}\n")
    used, why = backtest.chosen_engine("duckdb", store, [default_rules.model("conversion")], goal)
    assert used == "store" and "the goal of g" in why


SEEDED: set = set()


@settings(phases=[Phase.explicit, Phase.reuse, Phase.generate], max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(model=rule_sets())
def test_random_rule_sets_backtest_on_the_plan_as_on_the_per_person_engine(store, model):
    if store.url not in SEEDED:
        seed_with_history(store, 30)
        SEEDED.add(store.url)
    plan, reference = both(store, [model], lifecycle_spec(GOALS["filtered"]), DATES[::2])
    assert_same(plan, reference)
