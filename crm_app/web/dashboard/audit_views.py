"""The audit log page: who signed in, who changed which threshold or rule (with the diff), who clicked what."""
from __future__ import annotations

from flask import abort, render_template, request

from crm_app.services.dashboard.users import audit_entries
from crm_app.web.dashboard.blueprint import bp, store

ACTIONS = ("sign_in", "sign_in_refused", "thresholds_changed", "rule_file_changed", "scored_now", "alert_button",
           "ledger_retry", "user_added", "password_changed", "role_changed", "user_removed", "people_exported",
           "rules_seeded", "rules_published", "rules_rolled_back")


@bp.route("/audit")
def audit():
    action = request.args.get("action") or None
    if action and action not in ACTIONS:
        abort(400, description=f"action must be one of {', '.join(ACTIONS)}")
    return render_template("dashboard/audit.html", entries=audit_entries(store(), 200, action), actions=ACTIONS,
                           action=action)
