"""Segments that read only scores look only at subjects holding one of those scores (or score history, or a
current membership): the same members, primary segments and tallies as looking at everyone, at a fraction of
the reading when most people hold other models' scores only."""
from __future__ import annotations

import random

import pytest

from crm_app.services.scoring import segments
from crm_app.services.scoring.segments import update_segments
from crm_app.specs.rules import RuleSet
from crm_app.store import people as people_store
from crm_app.store import schema
from crm_app.store.scoring.results import save_results
from crm_app.store.scoring.segments import segment_members
from tests.helpers import AS_OF, DAY, model_from_yaml
from tests.test_health_segments import HEALTH, UPSELL, _row, daily, membership, primary, put_history

OTHER = """
model: other
stage: conversion
behaviour:
  - {id: any, label: Anything, points: 1, when: {field: external_id, exists: true}}
"""


def rules(extra_segment: str = "") -> RuleSet:
    health = HEALTH + (f"  - {extra_segment}\n" if extra_segment else "")
    return RuleSet(models=(model_from_yaml(health), model_from_yaml(UPSELL), model_from_yaml(OTHER)), hash="s")


def seeded(store) -> dict:
    rng = random.Random(4)
    histories = {f"h{i}": daily([rng.choice([20, 40, 60, 75, 85]) for _ in range(201)][::rng.choice([1, 50])])
                 for i in range(25)}
    ids = put_history(store, histories, {f"h{i}": rng.choice([0, 20, 30]) for i in range(25)})
    with store.begin() as conn:  # people scored by another model only: most of a real population
        others = people_store.upsert_people(conn, [{"external_id": f"o{i}"} for i in range(40)])
        save_results(conn, [_row({"model": "other", "subject_id": pid, "as_of": AS_OF, "combined": 50})
                            for pid in others.values()], [])
    return ids


def outcome(store, ruleset, monkeypatch, everyone: bool) -> tuple:
    if everyone:
        monkeypatch.setattr(segments, "_blank_subject_inside", lambda model, checks, as_of: True)
    tallies = [update_segments(store, ruleset, AS_OF + d * DAY, chunk=17) for d in (0, 3)]
    monkeypatch.undo()
    return membership(store), primary(store), tallies


@pytest.mark.parametrize("extra", ["", "{id: unscored, label: Unscored, when: {not: {score: health, at_least: 1}}}"])
def test_looking_at_score_holders_only_gives_what_looking_at_everyone_gives(store, monkeypatch, extra):
    seeded(store)
    narrowed = outcome(store, rules(extra), monkeypatch, everyone=False)
    with store.begin() as conn:
        conn.execute(segment_members.delete())
        conn.execute(schema.results.update().values(segment=None))
    assert outcome(store, rules(extra), monkeypatch, everyone=True) == narrowed
    if extra:  # a `not` segment takes in people with no health score: everyone is looked at
        assert sum("unscored" in segs for segs in narrowed[0].values()) == 40
    else:
        assert narrowed[0] and not any(ext.startswith("o") for ext in narrowed[0])


def test_a_member_whose_scores_are_gone_leaves(store):
    ids = put_history(store, {"p": daily([40] * 201)}, {})
    update_segments(store, rules(), AS_OF)
    assert membership(store) == {"p": {"at_risk"}}
    with store.begin() as conn:
        conn.execute(schema.results.delete().where(schema.results.c.subject_id == ids["p"]))
        conn.execute(schema.score_history.delete().where(schema.score_history.c.subject_id == ids["p"]))
    tally = update_segments(store, rules(), AS_OF + DAY)
    assert membership(store) == {} and tally["health"]["at_risk"] == [0, 1, 0]


def test_account_segments_roll_up_only_the_person_models_they_read(store, monkeypatch):
    from crm_app.services.scoring.run import score
    from crm_app.store.scoring import rollups
    from tests.test_account_scores import ACCOUNT, PERSON, T2, members, setup_world
    other = PERSON.replace("model: conversion", "model: other")
    ruleset = RuleSet(models=(model_from_yaml(PERSON), model_from_yaml(other), model_from_yaml(ACCOUNT)), hash="r")
    accounts = setup_world(store)
    score(store, ruleset, T2, workers=1)
    assert members(store) == {(accounts["A"], "several_ready_users")}
    rolled = []
    person_rollups = rollups.person_rollups
    monkeypatch.setattr(rollups, "person_rollups", lambda conn, model, *a, **k: rolled.append(model) or
                        person_rollups(conn, model, *a, **k))
    tally = update_segments(store, ruleset, T2)
    assert sorted(set(rolled)) == ["conversion"]  # the segment reads people.conversion.* alone
    assert members(store) == {(accounts["A"], "several_ready_users")} and tally["account"]["several_ready_users"][2] == 1
