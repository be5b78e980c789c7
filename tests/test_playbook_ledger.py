"""Exactly once: runs killed at any point, retried failures, noise limits, digests and the outbox handlers."""
from __future__ import annotations

import pytest

from crm_app.services.playbooks.alert_actions import handle_alert_action
from crm_app.services.playbooks.dispatch import backoff, send_digests
from crm_app.services.playbooks.status import format_playbook_status
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.slack.senders import outbox_messages
from crm_app.store import Store
from crm_app.store.playbooks import alerts as alert_store
from crm_app.store.playbooks import ledger as pb_store
from tests.fake_crm import FakeCrm
from tests.playbook_support import (DAY, NEW_PQL, NOW, REPS, add_people, playbook_set, routing_yaml, runtime,
                                    sandbox_crm, sandbox_rows, set_scores)


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so no handler in the code under test can swallow it."""


def killer(point: str, action: str | None = None, after: int = 0):
    """A fault hook that kills the run the (after+1)-th time it reaches `point` for `action`."""
    seen = {"n": 0}

    def fault(at: str, entry: dict) -> None:
        if at == point and (action is None or entry.get("action") == action):
            seen["n"] += 1
            if seen["n"] > after:
                raise Killed(f"killed at {point}")
    return fault


def ledger(store) -> dict:
    with store.read() as conn:
        return pb_store.status_counts(conn)


def assert_exactly_once(store, crm: FakeCrm, people: int) -> None:
    assert len(crm.tasks) == people, "a task was lost or created twice"
    assert len(outbox_messages(store, 1000)) == people, "an alert was lost or posted twice"
    assert len({rid for _, rid, _ in crm.owner_changes}) == people
    assert sum(1 for k in crm.records.values() if "PQL_Routed_To__c" in k) == people
    assert ledger(store) == {(a, "sent"): people for a in ("assign", "create_task", "slack_alert", "set_field")}


def test_a_second_run_sends_nothing_again(store):
    set_scores(store, add_people(store, 5), 80)
    crm, pbs = FakeCrm(REPS), playbook_set(NEW_PQL)
    first = run_playbooks(runtime(store, pbs, crm), NOW)
    second = run_playbooks(runtime(store, pbs, crm), NOW + 60)
    assert (first["sent"], second["sent"], second["entries"]) == (20, 0, 0)
    assert_exactly_once(store, crm, 5)


KILLS = [("planned", None, 0), ("before_dispatch", "assign", 2), ("before_dispatch", "create_task", 1),
         ("before_dispatch", "slack_alert", 3), ("after_dispatch", "create_task", 0),
         ("after_dispatch", "create_task", 2), ("after_dispatch", "slack_alert", 1),
         ("after_dispatch", "set_field", 4), ("after_dispatch", "assign", 0)]


@pytest.mark.parametrize("point,action,after", KILLS, ids=[f"{p}-{a}-{n}" for p, a, n in KILLS])
def test_a_killed_run_restarts_without_duplicates_or_losses(tmp_path, point, action, after):
    url = f"sqlite:///{tmp_path}/kill.db"
    store = Store(url)
    set_scores(store, add_people(store, 5), 80)
    crm, pbs = FakeCrm(REPS), playbook_set(NEW_PQL)
    with pytest.raises(Killed):
        run_playbooks(runtime(store, pbs, crm, fault=killer(point, action, after)), NOW)
    store.dispose()
    restarted = Store(url)
    run_playbooks(runtime(restarted, pbs, crm), NOW + 5)
    assert_exactly_once(restarted, crm, 5)
    if point == "after_dispatch" and action == "create_task":
        # the wave of five tasks was marked in flight together: each is looked up, none is created twice
        assert crm.counter.calls.get("find_task") == 5 and crm.counter.calls.get("create_task") == 5


def test_failures_retry_with_backoff_in_order_and_show_in_status(sqlite_store):
    set_scores(sqlite_store, add_people(sqlite_store, 1), 80)
    crm, pbs = FakeCrm(REPS), playbook_set(NEW_PQL)
    rt = runtime(sqlite_store, pbs, crm)
    crm.fail_next["create_task"] = 2
    assert run_playbooks(rt, NOW)["failed"] == 1
    lines = format_playbook_status(sqlite_store)
    assert any("failed: new_pql create_task for person" in line and "ConnectionError" in line for line in lines)
    assert outbox_messages(sqlite_store) == [], "the alert must wait for the task before it"
    assert run_playbooks(rt, NOW + backoff(1) - 1)["failed"] == 0  # not due yet
    assert run_playbooks(rt, NOW + backoff(1))["failed"] == 1
    assert run_playbooks(rt, NOW + backoff(1) + backoff(2))["sent"] == 3
    assert_exactly_once(sqlite_store, crm, 1)
    assert (backoff(1), backoff(2), backoff(3), backoff(20)) == (30, 60, 120, 3600)


FLAP = """
playbook: hot
trigger: {type: score_crossed, value: 70, direction: up, hysteresis: %d}
limits: {per_person: {alerts: 1, per: 1d}}
actions: [{type: slack_alert, channel: "#pql"}]
"""


@pytest.mark.parametrize("hysteresis,expected_alerts,expected_suppressed", [(0, 1, 2), (10, 1, 0)])
def test_a_hovering_score_neither_flaps_nor_floods(sqlite_store, hysteresis, expected_alerts, expected_suppressed):
    ids = add_people(sqlite_store, 1)
    rt = runtime(sqlite_store, playbook_set(FLAP % hysteresis), FakeCrm(REPS))
    for i, combined in enumerate([69, 71, 68, 72, 67, 73]):
        set_scores(sqlite_store, ids, combined, as_of=NOW + i * 3600)
        run_playbooks(rt, NOW + i * 3600)
    counts = ledger(sqlite_store)
    assert counts.get(("slack_alert", "sent"), 0) == expected_alerts
    assert counts.get(("slack_alert", "suppressed"), 0) == expected_suppressed


def test_per_owner_limit(store):
    pb = NEW_PQL.replace("trigger:", "limits: {per_owner: {alerts: 2, per: 1d}}\ntrigger:")
    set_scores(store, add_people(store, 5, owner_email="rep3@example.com"), 80)
    run_playbooks(runtime(store, playbook_set(pb), FakeCrm(REPS)), NOW)
    counts = ledger(store)
    assert counts[("slack_alert", "sent")] == 2 and counts[("slack_alert", "suppressed")] == 3
    assert counts[("create_task", "sent")] == 5  # the limit is on alerts only


def test_a_digest_rep_gets_one_daily_message(sqlite_store):
    routing = routing_yaml(["rep0@example.com"]).replace("{email: rep0@example.com}",
                                                        "{email: rep0@example.com, digest: true}")
    set_scores(sqlite_store, add_people(sqlite_store, 3), 80)
    rt = runtime(sqlite_store, playbook_set(NEW_PQL, routing=routing), FakeCrm(REPS))
    run_playbooks(rt, NOW)
    assert outbox_messages(sqlite_store) == [] and ledger(sqlite_store)[("slack_alert", "digest")] == 3
    assert send_digests(rt, NOW + DAY) == 1 and send_digests(rt, NOW + DAY) == 0
    [message] = outbox_messages(sqlite_store)
    assert message["channel"] == "@rep0@example.com" and message["text"] == "Your 3 new PQL(s)"
    assert "Person 2" in message["blocks"][1]["text"]["text"]


def first_alert(store) -> dict:
    with store.read() as conn:
        return alert_store.get_alert(conn, 1)


def test_outbox_buttons_act_once_and_update_the_message(sqlite_store):
    set_scores(sqlite_store, add_people(sqlite_store, 1), 80)
    crm = FakeCrm(REPS)
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), crm)
    run_playbooks(rt, NOW)
    changes = len(crm.owner_changes)
    first = handle_alert_action(rt, 1, "claim", "rep4@example.com", NOW + 60)
    second = handle_alert_action(rt, 1, "assign", "rep5@example.com", NOW + 90, "rep5@example.com")
    assert first.ok and not second.ok and second.message.startswith("Already handled: rep4@example.com claimed")
    assert crm.owner_changes[changes:] == [("Lead", "00Q000000", crm.owners[4].id)]
    [message] = outbox_messages(sqlite_store)
    assert message["blocks"][-1]["type"] == "context" and "claimed it" in message["blocks"][-1]["elements"][0]["text"]


def test_not_a_fit_records_a_false_positive_and_sets_the_crm_field(sqlite_store):
    set_scores(sqlite_store, add_people(sqlite_store, 1), 80)
    crm = FakeCrm(REPS)
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), crm)
    run_playbooks(rt, NOW)
    assert not handle_alert_action(rt, 1, "not_fit", "rep1@example.com", NOW, "").ok  # a reason is required
    assert handle_alert_action(rt, 1, "not_fit", "rep1@example.com", NOW, "Student project").ok
    with sqlite_store.read() as conn:
        [fp] = alert_store.false_positives(conn)
    assert (fp["reason"], fp["by"], fp["subject_id"]) == ("Student project", "rep1@example.com", 1)
    assert crm.records[("Lead", "00Q000000")]["PQL_Feedback__c"] == "Not a fit: Student project"


@pytest.mark.parametrize("still_pql,expected", [(True, 2), (False, 1)])
def test_snooze_realerts_after_3_days_only_if_still_a_pql(sqlite_store, still_pql, expected):
    ids = add_people(sqlite_store, 1)
    set_scores(sqlite_store, ids, 80)
    rt = runtime(sqlite_store, playbook_set(NEW_PQL), FakeCrm(REPS))
    run_playbooks(rt, NOW)
    assert handle_alert_action(rt, 1, "snooze", "rep0@example.com", NOW + 10).ok
    if not still_pql:
        set_scores(sqlite_store, ids, 50, as_of=NOW + DAY)
    run_playbooks(rt, NOW + 2 * DAY)
    assert len(outbox_messages(sqlite_store)) == 1  # not yet
    run_playbooks(rt, NOW + 3 * DAY + 10)
    run_playbooks(rt, NOW + 4 * DAY)
    assert len(outbox_messages(sqlite_store)) == expected
    assert first_alert(sqlite_store)["realerted"] is True


@pytest.mark.parametrize("point,action,after", KILLS, ids=[f"{p}-{a}-{n}" for p, a, n in KILLS])
def test_a_killed_run_restarts_cleanly_on_the_sandbox_crm(tmp_path, point, action, after):
    """The same kills against the real sandbox adapter: one owner change, task and field per person."""
    url = f"sqlite:///{tmp_path}/kill.db"
    store = Store(url)
    set_scores(store, add_people(store, 5, crm_object="leads"), 80)
    crm, pbs = sandbox_crm(tmp_path / "crm.db", 5), playbook_set(NEW_PQL)
    with pytest.raises(Killed):
        run_playbooks(runtime(store, pbs, crm, fault=killer(point, action, after)), NOW)
    store.dispose()
    restarted = Store(url)
    run_playbooks(runtime(restarted, pbs, crm), NOW + 5)
    assert sandbox_rows(crm, "SELECT who_id, count(*) FROM tasks GROUP BY who_id HAVING count(*) > 1") == []
    assert sandbox_rows(crm, "SELECT count(*) FROM tasks")[0][0] == 5
    owners = sandbox_rows(crm, "SELECT owner_id, PQL_Routed_To__c FROM leads ORDER BY id")
    assert owners == [(f"005{i:05d}", f"Routed to rep{i}@example.com") for i in range(5)]
    assert len(outbox_messages(restarted, 1000)) == 5
    assert ledger(restarted) == {(a, "sent"): 5 for a in ("assign", "create_task", "slack_alert", "set_field")}
