"""The Segment-compatible ingest API: auth, each call type, batches with bad messages, limits, dedupe."""
from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from crm_app.store import schema

AUTH = {"Authorization": "Basic " + base64.b64encode(b"test-write-key:").decode()}


def count(app, table) -> int:
    with app.config["PQL_STORE"].read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def rows(app, table) -> list[dict]:
    with app.config["PQL_STORE"].read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


TRACK = {"type": "track", "userId": "u1", "event": "Logged In", "timestamp": "2026-11-01T12:00:00Z", "messageId": "m-1",
         "properties": {"plan": "trial"}}


@pytest.mark.parametrize("headers,body,status", [
    ({}, TRACK, 401),
    ({"Authorization": "Basic " + base64.b64encode(b"wrong:").decode()}, TRACK, 401),
    ({"Authorization": "Basic !!notbase64"}, TRACK, 401),
    (AUTH, TRACK, 200),
    ({}, dict(TRACK, writeKey="test-write-key"), 200),
])
def test_write_key_is_required(client, headers, body, status):
    assert client.post("/v1/track", json=body, headers=headers).status_code == status


def test_track_identify_group_page(app, client):
    assert client.post("/v1/identify", headers=AUTH, json={
        "userId": "u1", "traits": {"email": "Ann@Acme.io", "title": "VP Data", "address": {"country": "DE"}},
        "context": {"groupId": "w1"}}).status_code == 200
    assert client.post("/v1/group", headers=AUTH, json={
        "userId": "u1", "groupId": "w1", "traits": {"name": "Acme", "website": "https://www.acme.io",
                                                    "industry": "Software", "employees": 120}}).status_code == 200
    assert client.post("/v1/track", headers=AUTH, json=TRACK).status_code == 200
    assert client.post("/v1/page", headers=AUTH, json={"userId": "u1", "name": "Pricing",
                                                        "properties": {"path": "/pricing"}}).status_code == 200
    person = rows(app, schema.people)[0]
    account = rows(app, schema.accounts)[0]
    assert person["email"] == "Ann@Acme.io" and person["attributes"]["address.country"] == "DE"
    assert person["account_id"] == account["id"]
    assert (account["name"], account["domain"], account["attributes"]["employees"]) == ("Acme", "acme.io", 120)
    names = {r["name"] for r in rows(app, schema.event_types)}
    assert names == {"Logged In", "Page Viewed"}


def test_batch_keeps_good_messages_and_reports_bad_ones_by_index(app, client):
    batch = [TRACK,
             {"type": "track", "userId": "u2", "event": "", "messageId": "m-2"},
             {"type": "track", "event": "Logged In", "messageId": "m-3"},
             dict(TRACK, messageId="m-4", timestamp="yesterday"),
             "not an object",
             dict(TRACK, messageId="m-5", type="track"),
             dict(TRACK, messageId="m-6", type="merge"),
             {"userId": "u1", "event": "Logged In", "messageId": "m-7"}]
    response = client.post("/v1/batch", headers=AUTH, json={"batch": batch})
    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (1, "a track message needs 'event', the name of what the user did"),
        (2, "a message needs 'userId' or 'anonymousId'"),
        (3, "'timestamp' 'yesterday' is not an ISO-8601 date-time such as 2026-11-01T12:00:00Z"),
        (4, "a message must be a JSON object, got str"),
        (6, "'type' must be one of track, identify, group, page, screen, alias, got 'merge'"),
        (7, "'type' must be one of track, identify, group, page, screen, alias, got None"),
    ]
    assert count(app, schema.events) == 2
    rejects = rows(app, schema.ingest_rejects)
    assert [r["position"] for r in rejects] == [1, 2, 3, 4, 6, 7]
    assert json.loads(rejects[1]["payload"]) == batch[2]  # the bad message is kept, not lost


def test_resending_the_same_message_stores_it_once(app, client):
    for _ in range(3):
        client.post("/v1/track", headers=AUTH, json=TRACK)
    response = client.post("/v1/batch", headers=AUTH, json={"batch": [TRACK, TRACK]})
    assert response.get_json()["duplicates"] == 2
    assert count(app, schema.events) == 1


def test_message_without_message_id_gets_a_stable_one(app, client):
    message = {k: v for k, v in TRACK.items() if k != "messageId"}
    client.post("/v1/track", headers=AUTH, json=message)
    client.post("/v1/track", headers=AUTH, json=message)
    assert count(app, schema.events) == 1


@pytest.mark.parametrize("body,status,error", [
    (b"{not json", 400, "body is not valid JSON"),
    (json.dumps({"batch": "nope"}).encode(), 400, "a batch request needs 'batch'"),
    (json.dumps({"batch": [dict(TRACK, messageId=str(i), properties={"x": "y" * 1000}) for i in range(600)]})
     .encode(), 413, "over 512000 bytes"),
])
def test_whole_request_errors(client, body, status, error):
    response = client.post("/v1/batch", headers=dict(AUTH, **{"Content-Type": "application/json"}), data=body)
    assert response.status_code == status
    assert error in response.get_json()["error"]


def test_message_over_32kb_is_rejected_alone(app, client):
    big = dict(TRACK, messageId="big", properties={"blob": "x" * 33_000})
    response = client.post("/v1/batch", headers=AUTH, json={"batch": [big, TRACK]})
    body = response.get_json()
    assert body["accepted"] == 1 and "the limit is 32768 bytes" in body["rejected"][0]["reason"]


def test_single_bad_message_gets_400(client):
    response = client.post("/v1/track", headers=AUTH, json={"userId": "u1"})
    assert response.status_code == 400
    assert response.get_json()["rejected"][0]["reason"].startswith("a track message needs 'event'")


def test_anonymous_history_follows_identification(app, client):
    client.post("/v1/track", headers=AUTH, json={"anonymousId": "anon-1", "event": "Page Viewed",
                                                  "messageId": "a1"})
    assert rows(app, schema.events)[0]["person_id"] is None  # kept, not dropped
    client.post("/v1/identify", headers=AUTH, json={"userId": "u9", "anonymousId": "anon-1",
                                                     "traits": {"email": "x@y.io"}})
    client.post("/v1/track", headers=AUTH, json={"anonymousId": "anon-1", "event": "Logged In", "messageId": "a2"})
    person_id = rows(app, schema.people)[0]["id"]
    assert {r["person_id"] for r in rows(app, schema.events)} == {person_id}


def test_unknown_endpoint_is_404(client):
    assert client.post("/v1/merge", headers=AUTH, json=TRACK).status_code == 404


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz", headers={"Authorization": "Bearer test-readyz-token"})
    assert ready.status_code == 200 and ready.get_json()["admin_files"]["ok"] is True
