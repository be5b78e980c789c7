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
    """Each model's latest backtest (or ?run=ID), its history, and ?compare=ID beside it."""
    from crm_app.store.lifecycle import backtest_runs_of
    chosen, compare = _run_id("run"), _run_id("compare")
    cards = []
    goals = {g.stage: g.name for g in reversed(loaded_specs().lifecycle)}  # the first goal of each stage
    with store().read() as conn:
        for model in loaded_specs().rules.models:
            history = backtest_runs_of(conn, model.name)
            by_id = {run["id"]: run for run in history}
            shown = by_id.get(chosen) or (history[0] if history else None)
            other = by_id.get(compare) if compare != (shown or {}).get("id") else None
            cards.append({"model": model, "run": shown, "other": other, "history": history,
                          "goal": goals.get(model.stage),
                          "chart": _buckets_chart(shown, other) if shown else None,
                          "columns": _columns(shown, other) if shown else []})
    return render_template("dashboard/backtest.html", cards=cards)


def _run_id(name: str) -> int | None:
    value = request.args.get(name) or ""
    if not value:
        return None
    if not (value.isdigit() and len(value) <= 12):
        abort(400, description=f"{name} must be a backtest run id (a whole number)")
    return int(value)


def _columns(run: dict, other: dict | None) -> list[tuple]:
    """(column label, result) for every rule set of the shown run, then of the compared one."""
    columns = [(label if other is None else f"#{run['id']} {label}", result)
               for label, result in run["report"]["results"].items()]
    if other:
        columns += [(f"#{other['id']} {label}", result) for label, result in other["report"]["results"].items()]
    return columns


def _buckets_chart(run: dict, other: dict | None) -> dict:
    columns = _columns(run, other)
    return {"labels": [b["bucket"] for b in columns[0][1]["buckets"]],
            "datasets": [{"label": label, "data": [100 * (b["conversion"] or 0) for b in result["buckets"]]}
                         for label, result in columns]}


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
