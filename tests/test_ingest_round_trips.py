"""An ingest request on PostgreSQL talks to the database a fixed number of times, however many messages it holds."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import event, func, select

from crm_app.services.ingest.writer import ingest_messages
from crm_app.store import schema

pytestmark = pytest.mark.parametrize("store", ["postgresql"], indirect=True)


def batch(run: str, size: int, users: int = 40, anonymous: bool = False, prefix: str = "u") -> list[dict]:
    """The load benchmark's shape: every 20th message an identify naming an account, the rest tracks."""
    out = []
    for i in range(size):
        user = f"{prefix}{i % users}"
        extra = {"anonymousId": f"anon-{user}"} if anonymous else {}
        if i % 20 == 0:
            out.append({"type": "identify", "userId": user, "messageId": f"{run}-{i}", **extra,
                        "traits": {"email": f"{user}@example.com", "plan": "trial"},
                        "context": {"groupId": f"w{i % users % 7}"}})
        else:
            out.append({"type": "track", "userId": user, "event": f"Event {i % 5}", "messageId": f"{run}-{i}",
                        "timestamp": "2026-11-20T10:00:00Z", "properties": {"n": i}, **extra})
    return out


def traffic(store, messages: list[dict], monkeypatch) -> tuple[int, int, int]:
    """(round trips, statements the server ran, pool checkouts) of one ingest call through psycopg's cursors: an
    executemany is one round trip and a statement a row; BEGIN and COMMIT are not counted."""
    seen = {"round trips": 0, "statements": 0, "checkouts": 0}
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def counted(real):
        def call(self, query, params=None, *args, **kwargs):
            seen["round trips"] += 1
            seen["statements"] += 1
            return real(self, query, params, *args, **kwargs)
        return call

    def counted_rows(real):
        def call(self, query, params, *args, **kwargs):  # the server runs the statement once per row
            params = list(params)
            seen["round trips"] += 1  # psycopg pipelines an executemany
            seen["statements"] += len(params)
            return real(self, query, params, *args, **kwargs)
        return call

    def checkout(*_args):
        seen["checkouts"] += 1
    with monkeypatch.context() as patch:
        patch.setattr(psycopg.Cursor, "execute", counted(execute))
        patch.setattr(psycopg.Cursor, "executemany", counted_rows(executemany))
        event.listen(store.engine.pool, "checkout", checkout)
        try:
            report = ingest_messages(store, messages, "http:batch", received_at=1_790_000_000)
        finally:
            event.remove(store.engine.pool, "checkout", checkout)
    assert not report.rejected and report.accepted == len(messages)
    return seen["round trips"], seen["statements"], seen["checkouts"]


# The pool's liveness ping (";"), then for known people with unchanged traits: ids of the batch's users, the
# accounts' rows, CRM-only people of the emails, the identified people's rows, event type ids, the events,
# the scoring queue, the ingest log. Anonymous ids add the aliases, the UPDATE that attaches their events and
# their people's place in the scoring queue.
CASES = [
    ("known people, 10 messages", 10, False, 9),
    ("known people, 100 messages", 100, False, 9),
    ("known people, 400 messages", 400, False, 9),
    ("known people with anonymous ids, 10 messages", 10, True, 12),
    ("known people with anonymous ids, 400 messages", 400, True, 12),
]


@pytest.mark.parametrize("name, size, anonymous, expected", CASES, ids=[c[0] for c in CASES])
def test_statements_of_an_ingest_request(store, monkeypatch, name, size, anonymous, expected):
    first = traffic(store, batch("first", 400, anonymous=anonymous), monkeypatch)  # people, accounts, types made
    assert first[2] == 1, f"first batch: {first}"
    seen = traffic(store, batch("again", size, anonymous=anonymous), monkeypatch)
    assert seen == (expected, expected, 1), f"{name}: {seen} (round trips, statements, checkouts)"
    with store.read() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.events)).scalar()
        orphans = conn.execute(select(func.count()).select_from(schema.events)
                               .where(schema.events.c.person_id.is_(None))).scalar()
    assert stored == sum(1 for m in batch("first", 400) + batch("again", size) if m["type"] == "track")
    assert orphans == 0


def test_new_people_cost_no_statement_a_message(store, monkeypatch):
    """New people take more round trips than known ones (their upsert, its field history, their ids, their place
    in the scoring queue), as many for 400 messages as for 40. The upsert and the history are executemany: the
    server runs them once a row, so the statements grow with the new people (a new person is rare traffic)."""
    traffic(store, batch("types", 400, users=400, prefix="z"), monkeypatch)  # every account and event type, once
    few = traffic(store, batch("few", 40, users=40, prefix="a"), monkeypatch)
    many = traffic(store, batch("many", 400, users=400, prefix="b"), monkeypatch)
    assert few[::2] == many[::2] == (13, 1), f"40 messages: {few}, 400 messages: {many}"
