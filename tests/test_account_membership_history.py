"""Account membership history: a person who moves from one account to another reads, as of a past moment, the
fields of the account they belonged to then (as that account's fields were then), on both backtest engines."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.lifecycle import training_data as data
from crm_app.services.lifecycle.backtest import collect_with_engine
from crm_app.store import field_history, membership
from crm_app.store import people as people_store
from tests.helpers import AS_OF, DAY, model_from_yaml
from tests.test_propensity_scoring import lifecycle_spec

MOVED_AT = AS_OF - 10 * DAY
RETIERED_AT = MOVED_AT - 20 * DAY  # a1's tier changes while p1 is still there
FIT = """
model: account_fit
fit:
  - {id: enterprise, label: Enterprise account, points: 50, when: {field: account.tier, equals: enterprise}}
  - {id: mid, label: Mid-market account, points: 20, when: {field: account.tier, equals: mid}}
pql: {threshold: 40}
"""
GOAL = """
model: bought
stage: conversion
goal: {field: bought, equals: true}
"""


def world(store, first: str | None = "a1") -> int:
    """p1 is in `first` (a1: smb, mid from RETIERED_AT; or no account) and moves to a2 (enterprise) at MOVED_AT."""
    with store.begin() as conn:
        acc = people_store.upsert_accounts(conn, [{"external_id": "a1", "attributes": {"tier": "smb"}},
                                                  {"external_id": "a2", "attributes": {"tier": "enterprise"}}])
        people_store.upsert_accounts(conn, [{"external_id": "a1", "changed_at": RETIERED_AT,
                                             "attributes": {"tier": "mid"}}])
        ids = people_store.upsert_people(conn, [{"external_id": "p1", "created_at": AS_OF - 60 * DAY,
                                                 "account_id": acc.get(first), "attributes": {"bought": False}}])
        people_store.upsert_people(conn, [{"external_id": "p1", "changed_at": MOVED_AT, "account_id": acc["a2"]}])
    return ids["p1"]


CASES = [  # (first account, moment, account.id then, account.tier then, fit score then)
    ("a1", AS_OF - 100 * DAY, "a1", "smb", 0),  # before anything was recorded: the first known account and tier
    ("a1", RETIERED_AT - 1, "a1", "smb", 0),
    ("a1", RETIERED_AT, "a1", "mid", 20),
    ("a1", MOVED_AT - 1, "a1", "mid", 20),
    ("a1", MOVED_AT, "a2", "enterprise", 50),
    ("a1", AS_OF, "a2", "enterprise", 50),
    (None, MOVED_AT - 1, None, None, 0),  # no account before joining a2
    (None, MOVED_AT, "a2", "enterprise", 50),
]


@pytest.mark.parametrize("first, when, account, tier, _", CASES)
def test_records_read_the_account_of_the_moment(store, first, when, account, tier, _):
    pid = world(store, first)
    with store.read() as conn:
        record = data.as_known_then(conn, people_store.flat_records(conn, pid, pid), pid, pid, when)[pid]
    assert (record.get("account.id"), record.get("account.tier")) == (account, tier)


@pytest.mark.parametrize("engine", ["store", "duckdb"])
def test_a_backtest_scores_the_account_of_each_date(store, engine):
    for first in ("a1", None):
        cases = [(when, score) for f, when, _, _, score in CASES if f == first and when < AS_OF]
        with store.begin() as conn:
            for table in ("field_history", "people", "accounts"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
        pid = world(store, first)
        samples = collect_with_engine(store, [model_from_yaml(FIT)], lifecycle_spec(GOAL), [w for w, _ in cases],
                                      DAY, engine=engine)[0][0]
        assert list(samples.subject) == [pid] * len(cases)
        assert dict(zip(samples.as_of.tolist(), samples.score.tolist())) == dict(cases), (engine, first)


@pytest.mark.parametrize("messages, expected", [
    ([("u1", "g1"), ("u1", "g2")], [("g1", True), ("g2", False)]),  # a group call moves u1 to g2
    ([("u1", "g1"), ("u1", "g1")], []),  # the same account again: no move
])
def test_ingest_records_account_moves(store, messages, expected):
    for n, (user, group) in enumerate(messages):
        batch = [{"type": "group", "userId": user, "groupId": group, "messageId": f"g{n}", "timestamp": AS_OF,
                  "traits": {"tier": "smb"}}]
        assert not ingest_messages(store, batch, "test", received_at=AS_OF).rejected
    h = field_history.field_history
    with store.read() as conn:
        names = dict(conn.exec_driver_sql("SELECT id, external_id FROM accounts").all())
        rows = conn.execute(select(h.c.value, h.c.initial).where(h.c.subject_kind == membership.KIND)
                            .order_by(h.c.valid_from)).all()
    assert [(names[v], i) for v, i in rows] == expected
