"""Field history: person field changes are kept with the moment they became known, and backtests and horizon
training read fields as they were then."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.lifecycle.backtest import collect_with_engine
from crm_app.store import field_history
from crm_app.store import people as people_store
from tests.helpers import AS_OF, DAY, model_from_yaml
from tests.test_propensity_scoring import lifecycle_spec

FIT = """
model: fit_only
fit:
  - {id: enterprise, label: Enterprise plan, points: 50, when: {field: plan, equals: enterprise}}
pql: {threshold: 40}
"""
GOAL = """
model: bought
stage: conversion
goal: {field: bought, equals: true}
"""
CHANGED_AT = AS_OF - 10 * DAY


@pytest.mark.parametrize("old, new, initial, changed", [
    (None, {"plan": "trial"}, [("plan", "trial", 100, True)], []),
    ({"plan": "trial"}, {"plan": "trial"}, [], []),
    ({"plan": "trial"}, {"plan": "paid"}, [("plan", "trial", 100, True)], [("plan", "paid", 500, False)]),
    ({}, {"seats": 5}, [("seats", None, 100, True)], [("seats", 5, 500, False)]),
    ({"seats": 5}, {}, [("seats", 5, 100, True)], [("seats", None, 500, False)]),
])
def test_changes_between_two_attribute_maps(old, new, initial, changed):
    assert field_history.changes(old, new, 100, 500) == (initial, changed)


def history_world(store) -> int:
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": "p1", "created_at": AS_OF - 60 * DAY,
                                                 "attributes": {"plan": "trial", "bought": False}}])
        people_store.upsert_people(conn, [{"external_id": "p1", "changed_at": CHANGED_AT,
                                           "attributes": {"plan": "enterprise", "seats": 5}}])
    return ids["p1"]


@pytest.mark.parametrize("when, plan, seats", [
    (AS_OF - 100 * DAY, "trial", None),  # before the record existed: its first known value
    (CHANGED_AT - 1, "trial", None),
    (CHANGED_AT, "enterprise", 5),
    (AS_OF, "enterprise", 5),
])
def test_fields_read_as_of_a_moment(store, when, plan, seats):
    pid = history_world(store)
    with store.read() as conn:
        fields = field_history.values_as_of(conn, "person", pid, pid, None, when)[pid]
    assert fields["plan"] == plan and fields.get("seats") == seats


def test_a_backtest_scores_the_old_value_before_the_change_and_the_new_after(store):
    pid = history_world(store)
    dates = [CHANGED_AT - 5 * DAY, CHANGED_AT - DAY, CHANGED_AT + DAY, CHANGED_AT + 5 * DAY]
    samples = collect_with_engine(store, [model_from_yaml(FIT)], lifecycle_spec(GOAL), dates, 3 * DAY)[0][0]
    by_date = dict(zip(samples.as_of.tolist(), samples.score.tolist()))
    assert list(samples.subject) == [pid] * 4
    assert [by_date[d] for d in dates] == [0, 0, 50, 50]


def test_ingest_records_trait_changes(store):
    def identify(plan, n):
        return {"type": "identify", "userId": "u1", "messageId": f"m{n}", "timestamp": AS_OF,
                "traits": {"plan": plan}}
    ingest_messages(store, [identify("trial", 1)], "test", received_at=AS_OF)
    ingest_messages(store, [identify("trial", 2)], "test", received_at=AS_OF)  # unchanged: nothing new
    ingest_messages(store, [identify("paid", 3)], "test", received_at=AS_OF)
    h = field_history.field_history
    with store.read() as conn:
        rows = conn.execute(select(h.c.field, h.c.value, h.c.initial).where(h.c.field == "plan")
                            .order_by(h.c.valid_from)).all()
        total = conn.execute(select(func.count()).select_from(h)).scalar()
    assert [tuple(r) for r in rows] == [("plan", "trial", True), ("plan", "paid", False)] and total == 2


def test_a_field_filled_in_only_after_the_goal_is_flagged_by_its_timing(sqlite_store):
    """Its values and its presence say nothing (both outcomes end up with the same values): only the moment it
    was filled in, after the goal, gives it away."""
    import numpy as np
    from crm_app.services.lifecycle.training import train
    rng = np.random.default_rng(11)
    store, created = sqlite_store, AS_OF - 90 * DAY
    converted = rng.random(200) < 0.4
    with store.begin() as conn:
        people_store.upsert_people(conn, [
            {"external_id": f"p{i}", "created_at": created, "attributes": {
                "bought": False, "region": str(rng.choice(["eu", "us"])),
                **({} if won else {"c9": str(rng.choice(["call", "email", "sms"]))})}}
            for i, won in enumerate(converted)])
    for i in np.flatnonzero(converted):
        reached = created + int(rng.integers(5, 60)) * DAY
        with store.begin() as conn:
            people_store.upsert_people(conn, [{"external_id": f"p{i}", "changed_at": reached,
                                               "attributes": {"bought": True}}])
            people_store.upsert_people(conn, [{"external_id": f"p{i}", "changed_at": reached + DAY,
                                               "attributes": {"c9": str(rng.choice(["call", "email", "sms"]))}}])
    report = train(store, lifecycle_spec(GOAL + "min_positives: 20\nalgorithm: logistic\n"), AS_OF)
    leaks = {a["indicator"]: a["message"] for a in report["advice"] if a["kind"] == "leak"}
    assert "field history shows it filled in only after the goal" in leaks["c9"]
    assert "region" not in leaks


ACCOUNT_FIT = """
model: account_fit
fit:
  - {id: enterprise, label: Enterprise account, points: 50, when: {field: account.tier, equals: enterprise}}
pql: {threshold: 40}
"""


def account_world(store) -> int:
    """p1 belongs to a1, whose tier goes from smb to enterprise at CHANGED_AT (a CRM sync or an import)."""
    with store.begin() as conn:
        accounts = people_store.upsert_accounts(conn, [{"external_id": "a1", "attributes": {"tier": "smb"}}])
        ids = people_store.upsert_people(conn, [{"external_id": "p1", "created_at": AS_OF - 60 * DAY,
                                                 "account_id": accounts["a1"], "attributes": {"bought": False}}])
        people_store.upsert_accounts(conn, [{"external_id": "a1", "changed_at": CHANGED_AT,
                                             "attributes": {"tier": "enterprise", "seats": 40}}])
    return ids["p1"]


@pytest.mark.parametrize("when, tier, seats", [
    (AS_OF - 100 * DAY, "smb", None),  # before anything was recorded: its first known value
    (CHANGED_AT - 1, "smb", None),
    (CHANGED_AT, "enterprise", 40),
    (AS_OF, "enterprise", 40),
])
def test_account_fields_read_as_of_a_moment(store, when, tier, seats):
    from crm_app.services.lifecycle import training_data as data
    pid = account_world(store)
    with store.read() as conn:
        record = data.as_known_then(conn, people_store.flat_records(conn, pid, pid), pid, pid, when)[pid]
    assert record["account.tier"] == tier and record.get("account.seats") == seats
    account = data.account_snapshot(store, when, ()).records
    assert [(r["tier"], r.get("seats")) for r in account.values()] == [(tier, seats)]


def test_a_backtest_scores_the_old_account_value_before_the_change_and_the_new_after(store):
    pid = account_world(store)
    dates = [CHANGED_AT - 5 * DAY, CHANGED_AT - DAY, CHANGED_AT + DAY, CHANGED_AT + 5 * DAY]
    samples = collect_with_engine(store, [model_from_yaml(ACCOUNT_FIT)], lifecycle_spec(GOAL), dates, 3 * DAY)[0][0]
    by_date = dict(zip(samples.as_of.tolist(), samples.score.tolist()))
    assert list(samples.subject) == [pid] * 4
    assert [by_date[d] for d in dates] == [0, 0, 50, 50]


def test_ingest_records_account_trait_changes(store):
    def group(tier, n):
        return {"type": "group", "userId": "u1", "groupId": "g1", "messageId": f"g{n}", "timestamp": AS_OF,
                "traits": {"tier": tier}}
    for n, tier in enumerate(["smb", "smb", "enterprise"]):  # the second is unchanged: nothing new
        assert not ingest_messages(store, [group(tier, n)], "test", received_at=AS_OF).rejected
    h = field_history.field_history
    with store.read() as conn:
        rows = conn.execute(select(h.c.subject_kind, h.c.field, h.c.value, h.c.initial)
                            .where(h.c.field == "tier").order_by(h.c.valid_from)).all()
    assert [tuple(r) for r in rows] == [("account", "tier", "smb", True), ("account", "tier", "enterprise", False)]


def test_a_field_changed_after_the_goal_is_flagged_by_its_timing_and_a_steady_one_is_not(sqlite_store):
    """Everyone has a last-contact value from the start and the values end up alike for both outcomes; only for
    converted subjects it was changed after they reached the goal (a sales activity logged once they bought)."""
    import numpy as np
    from crm_app.services.lifecycle.training import train
    rng = np.random.default_rng(12)
    store, created = sqlite_store, AS_OF - 90 * DAY
    converted = rng.random(200) < 0.4
    choices = ["call", "email", "sms"]
    with store.begin() as conn:
        people_store.upsert_people(conn, [
            {"external_id": f"p{i}", "created_at": created, "attributes": {
                "bought": False, "region": str(rng.choice(["eu", "us"])), "c7": str(rng.choice(choices))}}
            for i in range(len(converted))])
    for i in np.flatnonzero(converted):
        reached = created + int(rng.integers(5, 60)) * DAY
        with store.begin() as conn:
            people_store.upsert_people(conn, [{"external_id": f"p{i}", "changed_at": reached,
                                               "attributes": {"bought": True}}])
            before = people_store.flat_records(conn, 0, 10**9)
            old = next(r["c7"] for r in before.values() if r["external_id"] == f"p{i}")
            people_store.upsert_people(conn, [{"external_id": f"p{i}", "changed_at": reached + DAY, "attributes": {
                "c7": str(rng.choice([c for c in choices if c != old]))}}])
    report = train(store, lifecycle_spec(GOAL + "min_positives: 20\nalgorithm: logistic\n"), AS_OF)
    leaks = {a["indicator"]: a["message"] for a in report["advice"] if a["kind"] == "leak"}
    assert "field history shows its value changed after the goal" in leaks["c7"]
    assert "region" not in leaks
