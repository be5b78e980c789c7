"""Activity: playbook runs and failures (with retry), and the embedded Slack outbox with working buttons."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from crm_app.services.dashboard import activity as service
from crm_app.services.dashboard.users import record
from crm_app.web.dashboard.blueprint import bp, now, specs, store
from crm_app.web.dashboard.models_views import loaded_specs


@bp.route("/activity")
def activity():
    loaded = specs().specs  # the routing file's crm_url says which links are our CRM's (None: no valid set yet)
    crm_url = loaded.playbooks.routing.crm_url if loaded is not None and loaded.playbooks else ""
    return render_template("dashboard/activity.html", d=service.activity(store()), crm_url=crm_url)


@bp.route("/alerts/<int:alert_id>/<action>", methods=["POST"])
def alert_action(alert_id: int, action: str):
    """Managers and admins act on alerts: the same handler as the Slack button."""
    detail = (request.form.get("detail") or "").strip() or None
    outcome = service.click(store(), loaded_specs(), alert_id, action, g.user, now(), detail)
    flash(outcome.message, "ok" if outcome.ok else "error")
    return redirect(url_for("dashboard.activity") + f"#alert-{alert_id}")


@bp.route("/ledger/<int:entry_id>/retry", methods=["POST"])
def retry(entry_id: int):
    status = service.retry(store(), loaded_specs(), entry_id, now())
    if status is None:
        abort(404, description=f"Ledger entry {entry_id} is not failing (or does not exist).")
    record(store(), g.user, "ledger_retry", f"entry {entry_id}", {"status": status})
    flash(f"Retried entry {entry_id}: {status}.", "ok" if status == "sent" else "error")
    return redirect(url_for("dashboard.activity"))
