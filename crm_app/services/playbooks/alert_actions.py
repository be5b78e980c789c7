"""What the alert's buttons do: Claim, Assign to…, Snooze 3 days, Not a fit. The same handlers serve Slack
and the embedded dashboard. The first click wins atomically; a second click is told who acted, and when."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crm_app.crm.base import RecordUpdate
from crm_app.services.playbooks.alert_batch import refresh_message
from crm_app.services.playbooks.actions import owner_id
from crm_app.services.playbooks.plan import crm_target
from crm_app.services.playbooks.runtime import Runtime
from crm_app.slack.blocks import handled_line
from crm_app.store.dashboard import security as audit_log
from crm_app.store.playbooks import alerts as alert_store
from crm_app.store import people as people_store

SNOOZE = 3 * 86400
ACTIONS = ("claim", "assign", "snooze", "not_fit")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


def handle_alert_action(rt: Runtime, alert_id: int, action: str, actor: str, now: int,
                        detail: str | None = None, via: str = "slack", clicker: str | None = None) -> Outcome:
    """Do one button's work once, and write in the audit log who clicked which button on which alert (`via`
    slack or dashboard; `clicker` is Slack's user id), whatever the outcome."""
    outcome = _handle(rt, alert_id, action, actor, now, detail)
    with rt.store.read() as conn:
        alert = alert_store.get_alert(conn, alert_id) if 0 <= alert_id < 2 ** 53 else None
    facts = {"action": action[:40], "detail": (detail or "")[:500] or None, "ok": outcome.ok,
             "message": outcome.message[:500], "via": via, "slack_user": clicker,
             "playbook": alert["playbook"] if alert else None, "model": alert["model"] if alert else None,
             "subject_id": alert["subject_id"] if alert else None, "channel": alert["channel"] if alert else None}
    with rt.store.begin() as conn:
        audit_log.audit(conn, now, actor, "alert_button", f"alert {alert_id}",
                        {k: v for k, v in facts.items() if v is not None})
    return outcome


def _handle(rt: Runtime, alert_id: int, action: str, actor: str, now: int, detail: str | None) -> Outcome:
    """Claim the alert, act in the CRM, then update the original message."""
    if action not in ACTIONS:
        return Outcome(False, f"unknown action {action!r}")
    with rt.store.read() as conn:
        alert = alert_store.get_alert(conn, alert_id)
    if alert is None:
        return Outcome(False, f"no alert {alert_id}")
    if action in ("assign", "not_fit") and not detail:
        return Outcome(False, "choose a rep" if action == "assign" else "a reason is required")
    shown = _shown_detail(action, detail, now)
    with rt.store.begin() as conn:
        won = alert_store.claim_handling(conn, alert_id, action, actor, now, shown,
                                         now + SNOOZE if action == "snooze" else None)
        if not won:
            alert = alert_store.get_alert(conn, alert_id)
    if not won:
        line = handled_line(alert["handled_action"], alert["handled_by"], alert["handled_at"], alert["detail"])
        return Outcome(False, f"Already handled: {line.lstrip('✅ ')}")
    try:
        warning = _act(rt, alert, action, actor, detail, now)
    except Exception as exc:  # noqa: BLE001 - give the click back so someone can try again
        with rt.store.begin() as conn:
            alert_store.release_handling(conn, alert_id)
        return Outcome(False, f"Could not {action.replace('_', ' ')}: {exc}")
    line = handled_line(action, actor, now, shown) + (f" ⚠️ {warning}" if warning else "")
    refresh_message(rt, alert, line)
    return Outcome(True, line)


def _shown_detail(action: str, detail: str | None, now: int) -> str | None:
    if action == "snooze":
        return dt.datetime.fromtimestamp(now + SNOOZE, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return detail


def _act(rt: Runtime, alert: dict, action: str, actor: str, detail: str | None, now: int) -> str | None:
    """Do the CRM side of a click; a warning comes back when only the optional part failed."""
    routing = rt.playbooks.routing
    with rt.store.read() as conn:
        record = people_store.flat_records(conn, 0, -1, [alert["subject_id"]]).get(alert["subject_id"], {})
        crm_object, crm_id = crm_target(conn, rt, record, alert["subject_id"])
    if action in ("claim", "assign"):
        if not crm_id:
            raise LookupError("the person has no CRM id yet")
        rt.adapter.set_owner(crm_object, crm_id, owner_id(rt, actor if action == "claim" else detail))
    elif action == "not_fit":
        # The false positive is recorded first: the audit must not lose it if the CRM refuses the field.
        with rt.store.begin() as conn:
            alert_store.record_feedback(conn, "false_positive", alert["model"], alert["subject_id"], alert["id"],
                                        detail, actor, now)
        if not crm_id:
            return "the CRM field was not set: the person has no CRM record yet"
        try:
            out = rt.adapter.write_values([RecordUpdate(crm_object, crm_id,
                                                        {routing.feedback_field: f"Not a fit: {detail}"})])
        except Exception as exc:  # noqa: BLE001 - reported on the message; the feedback is kept
            return f"the CRM field {routing.feedback_field} was not set: {exc}"
        if out and not out[0].ok:
            return f"the CRM field {routing.feedback_field} was not set: {out[0].error}"
    return None
