"""A planning pass and a dispatch pass talk to the database a fixed number of times, however many new PQLs
and actions there are."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from crm_app.services.playbooks.actions import install_id
from crm_app.services.playbooks.dispatch import dispatch_due
from crm_app.services.playbooks.plan import plan
from tests.fake_crm import FakeCrm
from crm_app.store import people as people_store
from tests.playbook_support import NOW, REPS, playbook_set, runtime, set_scores

CRM_ONLY = """
playbook: new_pql
trigger: {type: became_pql}
actions:
  - {type: assign, strategy: [keep_current, round_robin], pool: all}
  - {type: create_task, subject: "Follow up with new PQL {{ name }}", due_in: 2d}
  - {type: set_field, field: PQL_Routed_To__c, value: "Routed to {{ owner.email }}"}
"""


def new_people(store, prefix: str, count: int) -> list[int]:
    rows = [{"external_id": f"{prefix}{i}", "email": f"{prefix}{i}@corp.com",
             "attributes": {"crm_id": f"00Q{prefix}{i:05d}", "name": f"Person {prefix}{i}"}} for i in range(count)]
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, rows)
    return [ids[r["external_id"]] for r in rows]


def traffic(store, work) -> tuple[int, int, object]:
    """(statements, connection checkouts, what `work` returned)."""
    seen = {"statements": 0, "checkouts": 0}

    def statement(*_args):
        seen["statements"] += 1

    def checkout(*_args):
        seen["checkouts"] += 1
    event.listen(store.engine, "after_cursor_execute", statement)
    event.listen(store.engine.pool, "checkout", checkout)
    try:
        out = work()
    finally:
        event.remove(store.engine, "after_cursor_execute", statement)
        event.remove(store.engine.pool, "checkout", checkout)
    return seen["statements"], seen["checkouts"], out


def dispatch_traffic(rt, people: list, fail_tasks: int) -> tuple[int, int, dict]:
    """(statements, connection checkouts, outcome counts) of one dispatch pass over new PQLs."""
    set_scores(rt.store, people, 80)
    rt.adapter.fail_next["create_task"] = fail_tasks
    plan(rt, NOW)
    return traffic(rt.store, lambda: dispatch_due(rt, NOW))


@pytest.mark.parametrize("fail_tasks", [0, 2])
def test_statements_and_checkouts_do_not_grow_with_the_actions(store, fail_tasks):
    rt = runtime(store, playbook_set(CRM_ONLY), FakeCrm(REPS))
    install_id(rt)  # made once per store, on the first task
    few = dispatch_traffic(rt, new_people(store, "a", 3), fail_tasks)
    many = dispatch_traffic(rt, new_people(store, "b", 24), fail_tasks)
    assert few[2]["sent"] == 3 * 3 - 2 * fail_tasks and many[2]["sent"] == 24 * 3 - 2 * fail_tasks
    assert few[2]["failed"] == many[2]["failed"] == fail_tasks
    assert many[:2] == few[:2], f"3 people: {few[:2]}, 24 people: {many[:2]} (statements, checkouts)"


ROUTED_AND_ALERTED = CRM_ONLY + """  - {type: slack_alert, to: owner}
limits: {per_person: {alerts: 1, per: 1d}, per_owner: {alerts: 2, per: 1d}}
"""


def test_planning_many_new_pqls_costs_the_statements_of_a_few(store):
    rt = runtime(store, playbook_set(ROUTED_AND_ALERTED), FakeCrm(REPS))

    def planned(prefix: str, count: int):
        set_scores(store, new_people(store, prefix, count), 80)
        return traffic(store, lambda: plan(rt, NOW))
    few, many = planned("a", 3), planned("b", 24)
    assert (few[2].occurrences, many[2].occurrences) == (3, 24)
    assert many[:2] == few[:2], f"3 people: {few[:2]}, 24 people: {many[:2]} (statements, checkouts)"
