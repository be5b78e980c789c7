"""The Activity page: the playbook ledger, failed actions (with retry) and the embedded Slack outbox, whose
buttons call the same handlers as Slack's."""
from __future__ import annotations

from crm_app.services.playbooks.alert_actions import Outcome, handle_alert_action
from crm_app.services.playbooks.dispatch import dispatch_one
from crm_app.services.playbooks.runtime import make_runtime
from crm_app.services.playbooks.status import playbook_status
from crm_app.slack.blocks import ACTION_IDS
from crm_app.slack.senders import outbox_messages
from crm_app.specs.loader import SpecSet
from crm_app.store import Store
from crm_app.store.playbooks import alerts as alert_store
from crm_app.store.playbooks import ledger as pb_store

BY_ACTION_ID = {v: k for k, v in ACTION_IDS.items()}


def runtime(store: Store, specs: SpecSet):
    """The same runtime the worker and the Slack endpoint use (CRM adapter from the settings)."""
    from crm_app.crm.registry import make_adapter
    return make_runtime(store, specs, make_adapter())


def message_view(message: dict) -> dict:
    """An outbox message as the page draws it: Slack blocks, with each button's action name and alert id."""
    blocks = []
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            controls = []
            for element in block.get("elements", []):
                action = BY_ACTION_ID.get(element.get("action_id"))
                if element.get("type") == "button":
                    controls.append({"kind": "button", "action": action, "alert": int(element["value"]),
                                     "label": element["text"]["text"], "style": element.get("style")})
                elif element.get("type") == "static_select":
                    options = [(o["value"].split("|", 1)[1], o["text"]["text"]) for o in element["options"]]
                    alert = int(element["options"][0]["value"].split("|", 1)[0])
                    controls.append({"kind": "select", "action": action, "alert": alert, "options": options})
            blocks.append({"type": "actions", "controls": controls})
        else:
            blocks.append(block)
    alert = next((c["alert"] for b in blocks if b["type"] == "actions" for c in b["controls"]), None)
    return dict(message, view=blocks, alert_id=alert)


def activity(store: Store, limit: int = 10) -> dict:
    """Ledger totals, failing entries, the newest outbox messages and the recorded false positives."""
    with store.read() as conn:
        false_positives = alert_store.false_positives(conn)
    return {"status": playbook_status(store), "outbox": [message_view(m) for m in outbox_messages(store, limit)],
            "false_positives": false_positives[-20:]}


def click(store: Store, specs: SpecSet, alert_id: int, action: str, actor: str, now: int,
          detail: str | None) -> Outcome:
    """A button on an outbox alert: exactly what Slack's button would do."""
    return handle_alert_action(runtime(store, specs), alert_id, action, actor, now, detail, via="dashboard")


def retry(store: Store, specs: SpecSet, entry_id: int, now: int) -> str | None:
    """Dispatch one failed or dead ledger entry again now; returns its new status (None: not failing)."""
    with store.read() as conn:
        entry = next((e for e in pb_store.problem_entries(conn, limit=1000) if e["id"] == entry_id), None)
    if entry is None or entry["status"] not in ("failed", "dead", "expired"):
        return None
    return dispatch_one(runtime(store, specs), entry, now)
