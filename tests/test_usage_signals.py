"""Usage-shape signals: SQL equals the reference, quota percent and days to limit, readable errors."""
from __future__ import annotations

import random

import pytest

from crm_app.engine import evaluate
from crm_app.engine.plan import feature_plan
from crm_app.store import events as event_store
from crm_app.store import people as people_store
from crm_app.store.scoring.features import compute_features
from tests.helpers import AS_OF, DAY, errors_of, model_from_yaml, reference_features
from tests.test_store_features import load, random_events

SHAPES = """
model: shapes
behaviour:
  - {id: weeks, label: W, points: 1, when: {event: any, within: 28d, active_weeks: {at_least: 2}}}
  - {id: grow, label: G, points: 1, when: {event: Login, within: 10d, growth: {at_least: 20}}}
  - {id: spike, label: S, points: 1, when: {event: [Report, Page], within: 2d, spike: {at_least: 2}}}
  - id: soph
    label: L
    points: 1
    when: {event: Feature, within: 30d, sophistication: {of: feature, intermediate: [b], advanced: [c], at_least: 2}}
  - {id: quota, label: Q, points: 1, when: {quota: api_calls, limit: account.api_limit, percent: {at_least: 80}}}
"""


def test_usage_shape_sql_equals_the_reference(store):
    rng = random.Random(11)
    model = model_from_yaml(SHAPES)
    people_events = {f"p{i}": random_events(rng, rng.randint(0, 60)) for i in range(40)}
    ids = load(store, people_events)
    plan = feature_plan([model])
    assert {a.measure for a in plan} >= {"prior", "active_weeks", "sophistication", "count", "quota"}
    for as_of in (AS_OF, AS_OF - 9 * DAY):
        with store.read() as conn:
            got = compute_features(conn, plan, (), (), as_of, 0, 10_000)
        for person, evs in people_events.items():
            expected = reference_features([model], evs, as_of)
            actual = {k: v for k, v in got.get(ids[person], {}).items() if not k.startswith("quota:")}
            if ids[person] not in got:  # no event up to as_of: SQL has no row, the reference has zeros
                assert not any(expected.values()), person
                continue
            assert set(actual) == set(expected), person
            for key, value in expected.items():
                assert actual[key] == pytest.approx(value), (person, key)


QUOTA_MODEL = """
model: q
behaviour:
  - {id: at_80, label: At 80% of the plan limit, points: 15,
     when: {quota: api_calls, limit: account.api_limit, percent: {at_least: 80}}}
  - id: near_in_time
    label: Reaching the plan limit within 30 days
    points: 10
    when:
      all:
        - {quota: api_calls, limit: account.api_limit, percent: {at_least: 80}}
        - {quota: api_calls, limit: account.api_limit, days_to_limit: {at_most: 30}}
"""


@pytest.mark.parametrize("before,now,limit,points,why", [
    (None, 500, 1000, 0, "at 50%: neither"),
    (700, 850, 1000, 25, "85% and +150 in 30 days: 30 days to go, near in time"),
    (840, 850, 1000, 15, "85% but barely growing: 450 days to the limit, so not near in time"),
    (900, 850, 1000, 15, "85% and falling: never reaches it"),
    (600, 900, 1000, 25, "90% and +300 a month: 10 days to go"),
    (800, 1000, 1000, 25, "at the limit already: 0 days"),
    (None, 900, None, 0, "no limit on the account: no quota signal"),
])
def test_quota_percent_and_projected_days(store, before, now, limit, points, why):
    model = model_from_yaml(QUOTA_MODEL)
    with store.begin() as conn:
        account = people_store.upsert_accounts(conn, [{"external_id": "a", "attributes":
                                                      {"api_limit": limit} if limit else {}}])["a"]
        pid = people_store.upsert_people(conn, [{"external_id": "u", "account_id": account}])["u"]
        rows = [{"person_id": pid, "name": "api_calls", "as_of": AS_OF - DAY, "value": now}]
        if before is not None:
            rows.append({"person_id": pid, "name": "api_calls", "as_of": AS_OF - 31 * DAY, "value": before})
        event_store.upsert_metrics(conn, rows)
    with store.read() as conn:
        feats = compute_features(conn, feature_plan([model]), (), (), AS_OF, 0, 100).get(pid, {})
        record = people_store.flat_records(conn, 0, 100)[pid]
    assert evaluate(model, record, feats, AS_OF).behaviour == points, why


@pytest.mark.parametrize("when,message", [
    ("{event: Login, growth: {at_least: 10}}", "'growth' needs 'within:'"),
    ("{event: Login, active_weeks: {at_least: 1}}", "'active_weeks' needs 'within:'"),
    ("{event: F, sophistication: {of: feature, advanced: [api], at_least: 2}}", "needs 'intermediate:'"),
    ("{quota: api_calls, limit: account.api_limit, percnt: {at_least: 80}}", "exactly one of: percent"),
    ("{quota: api_calls, percent: {at_least: 80}}", "limit"),
])
def test_usage_errors_name_the_file_line_and_fix(when, message):
    errors = errors_of(f"""
        model: t
        behaviour:
          - {{id: r, label: R, points: 1, when: {when}}}
    """)
    assert errors and any(message in e for e in errors), errors
    assert all(e.startswith("test.yaml:") for e in errors)
