"""The health check 'more than 25% of PQLs marked Not a fit in Slack' reads the Slack alerts and feedback."""
from __future__ import annotations

import pytest

from crm_app.services.lifecycle.monitoring import run
from crm_app.store.playbooks.schema import pql_feedback, slack_alerts
from tests.helpers import AS_OF, DAY


@pytest.mark.parametrize("alerted,not_a_fit,status", [(0, 0, "unknown"), (8, 2, "ok"), (8, 3, "flag")])
def test_not_a_fit_share(sqlite_store, default_rules, alerted, not_a_fit, status):
    with sqlite_store.begin() as conn:
        for subject in range(alerted):
            conn.execute(slack_alerts.insert().values(subject_id=subject, model="conversion", playbook="new_pql",
                                                      created_at=AS_OF - DAY))
        for subject in range(not_a_fit):
            conn.execute(pql_feedback.insert().values(kind="false_positive", model="conversion",
                                                      subject_id=subject, at=AS_OF - DAY))
        # Older than 30 days: outside the check's window.
        conn.execute(slack_alerts.insert().values(subject_id=99, model="conversion", created_at=AS_OF - 40 * DAY))
    checks = run(sqlite_store, list(default_rules.models), [], reps=1, now=AS_OF)
    check = next(c for c in checks if c["check"] == "not_a_fit")
    assert check["status"] == status


@pytest.mark.parametrize("outcomes,status", [((), "unknown"), (("ok", "ok"), "ok"), (("ok", "failed"), "flag")])
def test_sync_failures_come_from_the_workers_job_records(sqlite_store, default_rules, outcomes, status):
    from crm_app.store.ops import record_job_run
    with sqlite_store.begin() as conn:
        for outcome in outcomes:
            record_job_run(conn, "crm_sync", {"started_at": AS_OF, "outcome": outcome})
    checks = run(sqlite_store, list(default_rules.models), [], reps=1, now=AS_OF)
    assert next(c for c in checks if c["check"] == "sync_failures")["status"] == status
