"""`playbooks outbox`, `playbooks audit` and the playbook lines of `status`, on the configured store."""
from __future__ import annotations

from crm_app.services.playbooks.alert_actions import handle_alert_action
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.store import Store
from tests.fake_crm import FakeCrm
from tests.playbook_support import NEW_PQL, NOW, REPS, add_people, playbook_set, runtime, set_scores


def test_outbox_audit_and_status_commands(runner, config):
    store = Store(config.database_url)
    set_scores(store, add_people(store, 2), 80)
    crm = FakeCrm(REPS)
    crm.fail_next["create_task"] = 1
    rt = runtime(store, playbook_set(NEW_PQL), crm)
    run_playbooks(rt, NOW)
    handle_alert_action(rt, 1, "not_fit", "rep1@example.com", NOW + 5, "Agency, resells us")
    store.dispose()
    code, out, _ = runner("playbooks", "outbox")
    assert code == 0 and "@rep1@example.com: New PQL: Person 1 — score 80 (high)" in out
    assert "rep1@example.com marked it not a fit (Agency, resells us)" in out
    code, out, _ = runner("playbooks", "audit", "--days", "36500")
    assert code == 0 and "by rep1@example.com: Agency, resells us" in out and "1 false positive(s)" in out
    code, out, _ = runner("status")
    assert code == 0 and "playbook actions: assign/sent 2, create_task/failed 1" in out
    assert "failed: new_pql create_task for person" in out and "ConnectionError" in out
