"""Models (lifecycle training results and indicators) and Backtest pages."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from crm_app.services.dashboard import models as service
from crm_app.services.lifecycle.training import TrainingError
from crm_app.web.dashboard.blueprint import admin_required, bp, now, specs, store


def loaded_specs():
    state = specs()
    if state.specs is None:
        abort(503, description="No valid admin file set has loaded yet: run `python -m crm_app check`.")
    return state.specs


@bp.route("/models")
def models():
    return render_template("dashboard/models.html", reports=service.lifecycle_reports(store(), loaded_specs()))


@bp.route("/models/<name>/exclude", methods=["POST"])
@admin_required
def models_exclude(name: str):
    current = loaded_specs()
    if name not in {m.name for m in current.lifecycle}:
        abort(404, description=f"No lifecycle model named {name!r}")
    indicator = request.form.get("indicator", "").strip()
    if not indicator:
        abort(400, description="indicator is required")
    try:
        report = service.exclude_and_retrain(store(), current, name, indicator, now())
    except TrainingError as exc:
        flash(f"Excluded {indicator}, but retraining failed: {exc}", "error")
        return redirect(url_for("dashboard.models"))
    flash(f"Excluded {indicator} from {name} and retrained: version {report.get('version')}, {report['status']}.",
          "ok")
    return redirect(url_for("dashboard.models") + f"#model-{name}")


@bp.route("/backtest")
def backtest():
    runs = service.latest_backtests(store(), loaded_specs())
    charts = {}
    for model, run in runs:
        if run:
            results = run["report"]["results"]
            charts[model.name] = {"labels": [b["bucket"] for b in next(iter(results.values()))["buckets"]],
                                  "datasets": [{"label": label, "data": [100 * (b["conversion"] or 0)
                                                                         for b in r["buckets"]]}
                                               for label, r in results.items()]}
    return render_template("dashboard/backtest.html", runs=runs, charts=charts)


@bp.route("/integrations")
def integrations():
    """CRM status from the store; the field check asks the CRM only when requested (it costs API calls)."""
    from crm_app.crm.base import CrmError
    from crm_app.services.dashboard import crm as dashboard_crm
    plan, error = None, None
    if request.args.get("check") == "fields":
        try:
            plan = dashboard_crm.check_fields(store(), loaded_specs().fields)
        except (CrmError, OSError) as exc:
            error = str(exc)
    return render_template("dashboard/integrations.html", d=dashboard_crm.integration_status(store()), plan=plan,
                           error=error)
