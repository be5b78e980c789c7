"""An action whose subject has no CRM record waits (status waiting, no try used up) instead of failing; it is
made due at once when record creation links one, and expires after PLAYBOOK_WAIT_FOR_RECORD_HOURS with a
reason that `status` and the dashboard show. On SQLite and PostgreSQL.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from crm_app.crm.sandbox import SandboxCrm
from crm_app.errors import ConfigError
from crm_app.services.crm.create import create_missing
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.services.playbooks.runtime import make_runtime, wait_seconds
from crm_app.services.playbooks.status import format_playbook_status
from crm_app.store import people as people_store
from crm_app.store.playbooks import ledger as pb_store
from tests import crm_world as w
from tests.playbook_support import NOW, playbook_set, routing_yaml, runtime
from tests.test_crm_create import POLICY, signups

WAITING_PLAYBOOK = """
playbook: follow_up
trigger: {type: became_pql}
actions:
  - {type: create_task, subject: "Follow up with {{ name }}", due_in: 2d}
  - {type: slack_alert, channel: "#pql"}
"""


def test_an_action_whose_subject_never_gets_a_record_waits_then_expires(store, tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    rt = runtime(store, playbook_set(WAITING_PLAYBOOK, routing=routing_yaml()), crm)
    rt.wait_for_record = 48 * 3600
    (email,) = signups(store, 1)
    w.put_scores(store, [email], 92)  # a PQL, but no policy creates a record and no sync brings one
    with store.begin() as conn:
        pid = people_store.person_ids(conn, ["prod-00000"])["prod-00000"]
    first = run_playbooks(rt, NOW)
    assert (first["waiting"], first["sent"]) == (1, 0)  # the task waits, and holds back the alert after it
    for hours in (1, 6, 24, 47):
        report = run_playbooks(rt, NOW + hours * 3600)
        assert report["dead"] == 0 and report["expired"] == 0
    with store.read() as conn:
        (entry,) = [e for e in pb_store.problem_entries(conn) if e["subject_id"] == pid]
    assert (entry["status"], entry["attempts"]) == ("waiting", 0)  # waiting never uses up the tries
    assert any(line.startswith("  waiting: follow_up create_task") and "looks again at" in line
               for line in format_playbook_status(store))
    late = run_playbooks(rt, NOW + 49 * 3600)
    assert (late["expired"], late["sent"]) == (1, 1)  # the alert needs no CRM record: it goes out now
    lines = format_playbook_status(store)
    assert any(line.startswith("  expired: follow_up create_task") and "PLAYBOOK_WAIT_FOR_RECORD_HOURS" in line
               for line in lines), lines
    assert not list(crm.db["tasks"].rows)


def test_a_record_created_for_a_waiting_subject_makes_its_actions_due_at_once(store, tmp_path):
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    rt = runtime(store, playbook_set(WAITING_PLAYBOOK, routing=routing_yaml()), crm)
    (email,) = signups(store, 1)
    w.put_scores(store, [email], 92)
    now = int(time.time())
    assert run_playbooks(rt, now)["waiting"] == 1
    assert create_missing(store, crm, POLICY).released == 2  # the task and the alert held back behind it
    report = run_playbooks(rt, now + 1)  # one second later, not at the waiting entry's next look
    assert report["sent"] == 2 and len(list(crm.db["tasks"].rows)) == 1


def test_a_record_sales_made_that_sync_links_makes_the_waiting_actions_due_at_once(store, tmp_path):
    from crm_app.crm.sandbox import now_iso
    from crm_app.services.crm.sync import sync_crm
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    rt = runtime(store, playbook_set(WAITING_PLAYBOOK, routing=routing_yaml()), crm)
    (email,) = signups(store, 1)
    w.put_scores(store, [email], 92)
    now = int(time.time())
    assert run_playbooks(rt, now)["waiting"] == 1
    crm.db["leads"].insert({"id": "LEAD-SALES-1", "email": email.upper(), "last_name": "Made by sales",
                            "company": "Acme", "modified_at": now_iso()})  # sales typed it, in capitals
    assert sync_crm(store, crm, w.mapping("sandbox")).released == 2
    report = run_playbooks(rt, now + 1)
    assert report["sent"] == 2 and [t["who_id"] for t in crm.db["tasks"].rows] == ["LEAD-SALES-1"]


@pytest.mark.parametrize("name", ["PLAYBOOK_WAIT_FOR_RECORD_HOURS", "PLAYBOOK_DISPATCH_BUDGET_SECONDS"])
@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan", "inf", ""])
def test_a_bad_wait_or_budget_setting_is_a_clear_error(name, value):
    with pytest.raises(ConfigError, match=f"{name}=.*expected a number of .* above 0"):
        make_runtime(None, SimpleNamespace(playbooks=None, rules=None, lifecycle=()), None, {name: value})


def test_the_wait_setting_is_read_in_hours():
    assert wait_seconds({"PLAYBOOK_WAIT_FOR_RECORD_HOURS": "1.5"}) == 5400 and wait_seconds({}) == 168 * 3600
