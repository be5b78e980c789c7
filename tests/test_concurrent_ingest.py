"""Several web processes ingesting at once: overlapping batches, in different orders, store each message once."""
from __future__ import annotations

import random
import threading

import pytest

from sqlalchemy import func, select

from crm_app.services.ingest.writer import ingest_messages
from crm_app.store import Store, schema


def messages(n: int) -> list[dict]:
    out = []
    for i in range(n):
        user = f"cc{i % 40}"
        if i % 10 == 0:
            out.append({"type": "identify", "userId": user, "messageId": f"cc-{i}", "traits": {"plan": f"p{i}"},
                        "context": {"groupId": f"w{i % 7}"}})
        else:
            out.append({"type": "track", "userId": user, "event": f"Event {i % 9}", "messageId": f"cc-{i}",
                        "timestamp": "2026-11-20T10:00:00Z", "anonymousId": f"anon-{i % 13}"})
    return out


def test_overlapping_batches_from_several_writers(store):
    """Four writers (each with its own engine, as separate processes have) send the same stream shuffled."""
    stream = messages(1200)
    outcomes: list = []
    errors: list = []

    def writer(seed: int) -> None:
        own = Store(store.url)
        rng = random.Random(seed)
        order = stream[:]
        rng.shuffle(order)
        try:
            for start in range(0, len(order), 100):
                outcomes.append(ingest_messages(own, order[start:start + 100], f"writer-{seed}"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below, with its text
            errors.append(repr(exc))
        finally:
            own.dispose()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.read() as conn:
        events = conn.execute(select(func.count()).select_from(schema.events)).scalar()
        distinct = conn.execute(select(func.count(func.distinct(schema.events.c.message_id)))).scalar()
        people = conn.execute(select(func.count()).select_from(schema.people)).scalar()
    tracks = sum(1 for m in stream if m["type"] == "track")
    assert events == distinct == tracks
    assert sum(o.accepted for o in outcomes) - sum(1 for m in stream if m["type"] != "track") * 4 == tracks
    assert sum(o.duplicates for o in outcomes) == tracks * 3
    assert people == 40


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_real_deadlock_is_recognised_as_retryable(store):
    """Two transactions take two rows in opposite orders; PostgreSQL kills one, and ingest would retry it."""
    from crm_app.store.dialect import is_deadlock
    ingest_messages(store, [{"type": "identify", "userId": u, "messageId": f"dl-{u}"} for u in ("a", "b")], "t")
    barrier = threading.Barrier(2)
    caught: list = []

    def take(first: str, second: str) -> None:
        try:
            with store.begin() as conn:
                p = schema.people
                conn.execute(p.update().where(p.c.external_id == first).values(email=f"{first}@x.io"))
                barrier.wait()
                conn.execute(p.update().where(p.c.external_id == second).values(email=f"{second}@x.io"))
        except Exception as exc:  # noqa: BLE001 - the deadlock victim, examined below
            caught.append(exc)

    threads = [threading.Thread(target=take, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(caught) == 1 and is_deadlock(caught[0])
    assert not is_deadlock(ValueError("not a database error"))
