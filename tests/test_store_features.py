"""The set-wise SQL features equal a plain-Python reference, on SQLite and PostgreSQL; dedupe."""
from __future__ import annotations

import random

import pytest

from sqlalchemy import func, select

from crm_app.engine.plan import feature_plan
from crm_app.store import events as event_store
from crm_app.store import people as people_store
from crm_app.store import schema
from crm_app.store.scoring.features import compute_features
from crm_app.store.scoring.results import claim_dirty, release_dirty
from tests.helpers import AS_OF, DAY, HOUR, model_from_yaml, reference_features

MODEL = """
model: f
behaviour:
  - {id: a, label: A, points: 1, when: {event: Login, within: 7d, count: {at_least: 1}}}
  - {id: b, label: B, points: 1, when: {event: [Report, Invite], within: 48h, count: {at_least: 1}}}
  - {id: c, label: C, points: 1, when: {event: Feature, distinct: {of: feature, at_least: 1}}}
  - {id: d, label: D, points: 1, when: {event: Session, average: {of: secs, at_least: 1}}}
  - {id: e, label: E, points: 1, when: {event: Seats, sum: {of: n, at_least: 1}}}
  - {id: g, label: G, points: 1, when: {event: Support, where: {property: topic, in: [billing, enterprise]},
                                        count: {at_least: 1}}}
  - {id: h, label: H, points: 1, when: {event: Page, where: [{property: path, starts_with: /pricing},
                                                            {property: ms, at_least: 100}], count: {at_least: 1}}}
  - {id: i, label: I, points: 1, when: {event: Login, days_since_last: {at_least: 1}}}
  - {id: j, label: J, points: 1, when: {event: any, distinct: {of: event, at_least: 1}}}
  - {id: k, label: K, points: 1, when: {event: Never Sent, count: {at_least: 1}}}
  - {id: l, label: L, points: 1, when: {event: Page, where: {property: path, contains: "100%_off"},
                                        count: {at_least: 1}}}
"""
NAMES = ["Login", "Report", "Invite", "Feature", "Session", "Seats", "Support", "Page", "Other"]


def random_events(rng: random.Random, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        name = rng.choice(NAMES)
        props = {"feature": rng.choice(["a", "B", "b", "c"]), "secs": rng.randint(1, 900),
                 "n": rng.randint(1, 4), "topic": rng.choice(["Billing", "bug", "enterprise"]),
                 "path": rng.choice(["/pricing", "/docs", "/Pricing/team", "/x/100%_off", "/x/100off"]),
                 "ms": rng.choice([50, 100, 150])}
        out.append({"event": name, "ts": AS_OF - rng.randint(-2 * DAY, 40 * DAY), "properties": props})
    return out


def load(store, people_events: dict) -> dict:
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": p} for p in people_events])
        types = event_store.event_type_ids(conn, NAMES)
        rows = [{"message_id": f"{p}-{i}", "person_id": ids[p], "anonymous_id": None,
                 "type_id": types[e["event"].lower()], "ts": e["ts"], "properties": e["properties"],
                 "received_at": AS_OF}
                for p, evs in people_events.items() for i, e in enumerate(evs)]
        event_store.insert_events(conn, rows)
    return ids


def test_sql_features_equal_the_reference(store):
    rng = random.Random(3)
    model = model_from_yaml(MODEL)
    people_events = {f"p{i}": random_events(rng, rng.randint(0, 60)) for i in range(40)}
    ids = load(store, people_events)
    plan = feature_plan([model])
    for as_of in (AS_OF, AS_OF - 10 * DAY, AS_OF - 47 * HOUR):
        with store.read() as conn:
            got = compute_features(conn, plan, (), (), as_of, 0, 10_000)
        for person, evs in people_events.items():
            expected = reference_features([model], evs, as_of)
            actual = got.get(ids[person], {})
            assert set(actual) == set(expected), person
            for key, value in expected.items():
                assert actual[key] == pytest.approx(value), (person, key)


def test_features_only_see_events_up_to_as_of(store):
    model = model_from_yaml(MODEL)
    ids = load(store, {"p": [{"event": "Login", "ts": AS_OF + 1, "properties": {}},
                             {"event": "Login", "ts": AS_OF - DAY, "properties": {}}]})
    with store.read() as conn:
        feats = compute_features(conn, feature_plan([model]), (), (), AS_OF, 0, 100)[ids["p"]]
    assert feats["count()/login[]@604800"] == 1
    assert feats["last_at/login[]@all"] == AS_OF - DAY


def test_events_are_deduplicated_by_message_id(store):
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": "p"}])
        t = event_store.event_type_ids(conn, ["Login"])["login"]
        row = {"message_id": "m1", "person_id": ids["p"], "anonymous_id": None, "type_id": t, "ts": AS_OF,
               "properties": {}, "received_at": AS_OF}
        assert event_store.insert_events(conn, [row, dict(row)]) == (1, 1)
        assert event_store.insert_events(conn, [row, dict(row, message_id="m2")]) == (1, 1)
        assert conn.execute(select(func.count()).select_from(schema.events)).scalar() == 2


def test_metrics_latest_value_as_of(store):
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": "p"}])
        event_store.upsert_metrics(conn, [
            {"person_id": ids["p"], "name": "logins_30d", "as_of": AS_OF - 10 * DAY, "value": 3},
            {"person_id": ids["p"], "name": "logins_30d", "as_of": AS_OF - DAY, "value": 7},
            {"person_id": ids["p"], "name": "logins_30d", "as_of": AS_OF + DAY, "value": 99}])
    with store.read() as conn:
        assert compute_features(conn, (), ("logins_30d",), (), AS_OF, 0, 100)[ids["p"]] == {"metric:logins_30d": 7}
        assert compute_features(conn, (), ("logins_30d",), (), AS_OF - 5 * DAY, 0, 100)[ids["p"]] == \
            {"metric:logins_30d": 3}


def test_dirty_queue_keeps_people_marked_again_while_scoring(store):
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": "a"}, {"external_id": "b"}])
        claimed = claim_dirty(conn)
        people_store.mark_dirty(conn, [ids["b"]])  # new data arrives for b mid-run
        release_dirty(conn, claimed)
        assert [pid for pid, _ in claim_dirty(conn)] == [ids["b"]]


def test_upserting_unchanged_people_queues_no_one(store):
    with store.begin() as conn:
        people_store.upsert_people(conn, [{"external_id": "a", "email": "a@x.io", "attributes": {"title": "VP"}}])
        release_dirty(conn, claim_dirty(conn))
        people_store.upsert_people(conn, [{"external_id": "a", "email": "a@x.io", "attributes": {"title": "VP"}}])
        assert claim_dirty(conn) == []
        people_store.upsert_people(conn, [{"external_id": "a", "attributes": {"title": "CTO"}}])
        assert len(claim_dirty(conn)) == 1
