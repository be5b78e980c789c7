"""Segments as of a moment: segment runs read fields as they were then, membership changes are kept in field
history (`segments`), and backtests read the segments a person was in at each date, on both engines."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_app.services.lifecycle.backtest import collect_with_engine
from crm_app.services.scoring.segment_membership import moved_lists
from crm_app.services.scoring.segments import update_segments
from crm_app.specs.rules import RuleSet
from crm_app.store import field_history
from crm_app.store import people as people_store
from tests.helpers import AS_OF, DAY, model_from_yaml
from tests.test_field_history import CHANGED_AT, GOAL
from tests.test_propensity_scoring import lifecycle_spec

TIERS = """
model: tiers
fit:
  - {id: any, label: Anyone, points: 1, when: {field: external_id, exists: true}}
segments:
  - {id: enterprise, label: Enterprise, when: {field: plan, equals: enterprise}}
  - {id: trial, label: Trial, when: {field: plan, equals: trial}}
"""
RULES = RuleSet(models=(model_from_yaml(TIERS),), hash="seg-history")
IN_SEGMENT = """
model: in_segment
fit:
  - {id: enterprise, label: Enterprise segment, points: 50, when: {field: segments, equals: enterprise}}
pql: {threshold: 40}
"""


def world(store) -> int:
    """p1's plan goes from trial to enterprise at CHANGED_AT."""
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": "p1", "created_at": AS_OF - 60 * DAY,
                                                 "attributes": {"plan": "trial", "bought": False}}])
        people_store.upsert_people(conn, [{"external_id": "p1", "changed_at": CHANGED_AT,
                                           "attributes": {"plan": "enterprise"}}])
    return ids["p1"]


def members(store) -> list:
    with store.read() as conn:
        return sorted(r[0] for r in conn.exec_driver_sql("SELECT segment FROM segment_members"))


@pytest.mark.parametrize("when, expected", [
    (CHANGED_AT - 5 * DAY, ["trial"]),  # a run as of a past moment reads the plan known then
    (CHANGED_AT - 1, ["trial"]),
    (CHANGED_AT, ["enterprise"]),
    (AS_OF, ["enterprise"]),
])
def test_a_segment_run_reads_fields_as_of_its_moment(store, when, expected):
    world(store)
    update_segments(store, RULES, when)
    assert members(store) == expected


def test_membership_changes_are_kept_as_field_history(store):
    pid = world(store)
    for when in (CHANGED_AT - 5 * DAY, CHANGED_AT - DAY, CHANGED_AT + DAY):  # the second run changes nothing
        update_segments(store, RULES, when)
    h = field_history.field_history
    with store.read() as conn:
        rows = conn.execute(select(h.c.valid_from, h.c.value, h.c.initial).where(
            h.c.subject_kind == "person", h.c.subject_id == pid, h.c.field == "segments").order_by(h.c.valid_from))
        assert [tuple(r) for r in rows] == [(0, None, True), (CHANGED_AT - 5 * DAY, ["trial"], False),
                                            (CHANGED_AT + DAY, ["enterprise"], False)]


@pytest.mark.parametrize("engine", ["store", "duckdb"])
def test_a_backtest_reads_the_segments_of_each_date(store, engine):
    pid = world(store)
    update_segments(store, RULES, CHANGED_AT - 5 * DAY)
    update_segments(store, RULES, CHANGED_AT + DAY)  # p1 enters `enterprise` a day after the plan changed
    cases = [(CHANGED_AT - 6 * DAY, 0), (CHANGED_AT - DAY, 0), (CHANGED_AT, 0), (CHANGED_AT + 2 * DAY, 50),
             (AS_OF - DAY, 50)]
    samples = collect_with_engine(store, [model_from_yaml(IN_SEGMENT)], lifecycle_spec(GOAL), [w for w, _ in cases],
                                  DAY, engine=engine)[0][0]
    assert list(samples.subject) == [pid] * len(cases)
    assert dict(zip(samples.as_of.tolist(), samples.score.tolist())) == dict(cases)


@pytest.mark.parametrize("before, entered, left, expected", [
    ({}, [(1, "a")], [], [(1, None, ["a"])]),
    ({1: ["a"]}, [], [(1, "a")], [(1, ["a"], None)]),
    ({1: ["a", "x"]}, [(1, "b")], [(1, "a")], [(1, ["a", "x"], ["b", "x"])]),  # x: another model's segment
    ({1: ["a"]}, [], [], []),
])
def test_moved_lists(before, entered, left, expected):
    rows = [{"subject_id": s, "segment": g, "since": 0} for s, g in entered]
    assert moved_lists([1], before, rows, left) == expected


@pytest.mark.parametrize("engine", ["store", "duckdb"])
def test_membership_from_before_the_history_reads_as_its_first_known_value(store, engine):
    """A member whose segments never changed since history began: today's list at every date, on both engines."""
    from crm_app.store.scoring import segments as segment_store
    pid = world(store)
    with store.begin() as conn:
        segment_store.save_members(conn, "tiers", "person", [{"subject_id": pid, "segment": "enterprise",
                                                              "since": AS_OF - 90 * DAY}], [])
    dates = [CHANGED_AT - 6 * DAY, AS_OF - DAY]
    samples = collect_with_engine(store, [model_from_yaml(IN_SEGMENT)], lifecycle_spec(GOAL), dates, DAY,
                                  engine=engine)[0][0]
    assert samples.score.tolist() == [50, 50]
