"""The real Segment and RudderStack Python SDKs, pointed at a live server: every message stored exactly once."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_app.store import schema

from tests.ingest_server import WRITE_KEY, event_counts, live_server

MESSAGES_PER_RUN = 60


def _client(sdk: str, host: str, gzip: bool, errors: list):
    def on_error(exc, batch):
        errors.append((repr(exc), len(batch)))
    if sdk == "segment":
        from segment.analytics import Client
    else:
        from rudderstack.analytics import Client
    return Client(WRITE_KEY, host=host, gzip=gzip, on_error=on_error, max_retries=1, upload_size=25)


def _send(client, tag: str) -> tuple[list, int]:
    """Send a sign-up story per user; return (message ids of event messages, messages sent)."""
    event_ids, sent = [], 0
    for n in range(MESSAGES_PER_RUN // 6):
        user, anon = f"{tag}-u{n}", f"{tag}-anon{n}"
        calls = [
            client.page(anonymous_id=anon, name="Pricing", properties={"path": "/pricing"}),
            client.track(anonymous_id=anon, event="Signup Started", properties={"step": 1}),
            client.alias(previous_id=anon, user_id=user),
            client.identify(user, {"email": f"{user}@acme.io", "plan": "trial"}),
            client.group(user, f"{tag}-w{n % 3}", {"name": f"Acme {n % 3}", "employees": 12}),
            client.track(user, "Invite Sent", {"count": n}),
        ]
        for ok, msg in calls:
            assert ok
            sent += 1
            if msg["type"] in ("track", "page"):
                event_ids.append(msg["messageId"])
    client.flush()
    return event_ids, sent


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
def test_sdk_messages_are_stored_exactly_once(store, sdk, gzip):
    errors: list = []
    with live_server(store.url) as (url, _app):
        client = _client(sdk, url, gzip, errors)
        event_ids, sent = _send(client, f"{sdk}-{gzip}")
        client.shutdown() if hasattr(client, "shutdown") else client.join()
    assert errors == []
    counts = event_counts(store)
    assert sent == MESSAGES_PER_RUN and [counts.get(i, 0) for i in event_ids] == [1] * len(event_ids)
    p, a, e = schema.people, schema.aliases, schema.events
    with store.read() as conn:
        people = dict(conn.execute(select(p.c.external_id, p.c.id)).all())
        aliases = dict(conn.execute(select(a.c.anonymous_id, a.c.person_id)).all())
        owners = dict(conn.execute(select(e.c.message_id, e.c.person_id)).all())
        accounts = conn.execute(select(p.c.external_id, p.c.account_id, p.c.email)).all()
        log = schema.ingest_log
        accepted, duplicates, rejected = conn.execute(select(func.sum(log.c.accepted), func.sum(log.c.duplicates),
                                                             func.sum(log.c.rejected))).one()
    assert (accepted, duplicates, rejected) == (sent, 0, 0)  # every message the SDK sent, each once
    assert len(people) == MESSAGES_PER_RUN // 6
    # alias: the anonymous page and track now belong to the person the user id names
    assert all(aliases[f"{sdk}-{gzip}-anon{n}"] == people[f"{sdk}-{gzip}-u{n}"] for n in range(len(people)))
    assert all(owners[i] is not None for i in event_ids)
    assert all(row.account_id is not None and row.email.endswith("@acme.io") for row in accounts)


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_sdk_parses_the_error_body_and_does_not_retry_a_4xx(sqlite_store, sdk):
    """A wrong write key: the SDK reads our code and message (no KeyError, no "Unknown error")."""
    from segment.analytics.request import APIError as SegmentError
    from rudderstack.analytics.request import APIError as RudderError
    errors: list = []
    with live_server(sqlite_store.url) as (url, _app):
        if sdk == "segment":
            from segment.analytics.request import post
        else:
            from rudderstack.analytics.request import post
        with pytest.raises((SegmentError, RudderError)) as caught:
            post("wrong-key", url, gzip=True, batch=[{"type": "track", "userId": "u", "event": "E"}])
    assert errors == []
    assert caught.value.status == 401 and caught.value.code == "unauthorized"
    assert "write key" in caught.value.message
