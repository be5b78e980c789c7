"""Thresholds and rules: live previews for everyone signed in; saving needs the admin role."""
from __future__ import annotations

import math
from pathlib import Path

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for

from crm_app.services.dashboard import overview as service
from crm_app.services.admin import rule_files
from crm_app.services.admin.rule_impact import SAMPLE, compare_rule_sets
from crm_app.services.dashboard.users import record, text_diff
from crm_app.services.scoring.run import score
from crm_app.specs.loader import display_path, yaml_files
from crm_app.web.dashboard.blueprint import admin_required, bp, config, now, specs, store
from crm_app.web.dashboard.pages import chosen_model, loaded_rules
from crm_app.web.dashboard.redirects import local_path


def _number(name: str, required: bool = True) -> float | None:
    raw = (request.values.get(name) or "").strip()
    if not raw:
        if required:
            abort(400, description=f"{name} is required")
        return None
    try:
        value = float(raw)
    except ValueError:
        abort(400, description=f"{name} must be a number, not {raw!r}")
    low = -100 if name == "min_fit" else 0
    if not math.isfinite(value) or not low <= value <= 100:
        abort(400, description=f"{name} must be from {low} to 100")
    return value


def _thresholds() -> rule_files.Thresholds:
    return rule_files.Thresholds(_number("high"), _number("medium"), _number("pql", False), _number("min_fit", False))


@bp.route("/thresholds")
def thresholds():
    rules = loaded_rules()
    model = chosen_model(rules)
    current = rule_files.current_thresholds(rules, model)
    path = rule_files.model_file(config().spec_dirs, rules, model)
    return render_template("dashboard/thresholds.html", model=model, models=service.person_models(rules),
                           current=current, saved=current.__dict__, path=display_path(path), errors=[],
                           preview=service.threshold_preview(store(), model, current.high, current.medium,
                                                             current.pql, current.min_fit))


@bp.route("/thresholds/preview")
def thresholds_preview():
    rules = loaded_rules()
    model = chosen_model(rules)
    values = _thresholds()
    return jsonify(service.threshold_preview(store(), model, values.high, values.medium, values.pql, values.min_fit))


@bp.route("/thresholds/lift")
def thresholds_lift():
    """Backtested PQL lift at a threshold (the first call per scoring run re-collects the backtest's samples)."""
    from crm_app.services.dashboard.models import lift_at
    rules = loaded_rules()
    model = chosen_model(rules)
    stats = lift_at(store(), specs().specs, model, _number("pql"))
    if stats is None:
        return jsonify({"error": "no backtest for this model yet: run python -m crm_app backtest"}), 404
    return jsonify(stats)


@bp.route("/thresholds", methods=["POST"])
@admin_required
def thresholds_save():
    rules = loaded_rules()
    model = chosen_model(rules)
    values = _thresholds()
    before = rule_files.current_thresholds(rules, model).__dict__
    outcome = rule_files.save_thresholds(config().spec_dirs, rules, model, values)
    if outcome.errors:
        return render_template("dashboard/thresholds.html", model=model, models=service.person_models(rules),
                               current=values, saved=rule_files.current_thresholds(rules, model).__dict__,
                               path=display_path(outcome.path), errors=outcome.errors,
                               preview=service.threshold_preview(store(), model, values.high, values.medium,
                                                                 values.pql, values.min_fit)), 422
    changes = {k: [before[k], v] for k, v in values.__dict__.items() if before.get(k) != v}
    record(store(), g.user, "thresholds_changed", model, {"file": display_path(outcome.path), "changes": changes})
    flash(f"Saved {display_path(outcome.path)}: it takes effect on the next scoring cycle.", "ok")
    return redirect(url_for("dashboard.thresholds", model=model))


@bp.route("/score-now", methods=["POST"])
@admin_required
def score_now():
    """Run the scoring service now with the files on disk, instead of waiting for the worker's next cycle."""
    state = specs()
    if state.errors or state.specs is None:
        abort(409, description="The admin files have errors; fix them before scoring.")
    summary = score(store(), state.specs.rules, now(), workers=1, lifecycle=state.specs.lifecycle)
    flash(f"Scored {summary.people:,} people in {summary.seconds:.1f}s with rules {summary.rules_hash}.", "ok")
    record(store(), g.user, "scored_now", None, {"people": summary.people, "rules_hash": summary.rules_hash})
    return redirect(local_path(request.form.get("back")))


def _rule_file(name: str) -> Path:
    """A rule file by name; only files that exist directly in rules/ can be previewed or applied."""
    files = {p.name: p for p in yaml_files(config().spec_dirs.rules)}
    if name not in files:
        abort(404, description=f"No rule file {name!r}; files: {', '.join(sorted(files))}")
    return files[name]


def _render_rules(edit_name: str | None = None, edit_text: str | None = None, errors=(), impact=None, status=200):
    state = specs()
    rules = state.specs.rules if state.specs else None
    files = yaml_files(config().spec_dirs.rules)
    primary = next((m for m in rules.models if m.subject == "person" and m.pql is not None), None) if rules else None
    edit_name = edit_name or (Path(primary.source).name if primary else files[0].name if files else None)
    if edit_text is None and edit_name:
        edit_text = _rule_file(edit_name).read_text()
    firing = service.rule_firing(store(), rules) if rules else {}
    scoring = service.scoring_state(store(), rules) if rules else None
    return render_template("dashboard/rules.html", state=state, rules=rules, firing=firing, files=files, scoring=scoring,
                           edit_name=edit_name, edit_text=edit_text, errors=errors, impact=impact,
                           sample=SAMPLE), status


@bp.route("/rules")
def rules_page():
    return _render_rules(request.args.get("file"))


@bp.route("/rules/preview", methods=["POST"])
def rules_preview():
    """Validate an edited rule file and show what it would change on a sample, without applying it."""
    name, text = request.form.get("file", ""), request.form.get("text", "")
    path = _rule_file(name)
    errors, candidate = rule_files.load_candidate(config().spec_dirs, path, text)
    if errors:
        return _render_rules(name, text, errors, status=422)
    impact = compare_rule_sets(store(), loaded_rules(), candidate, now())
    return _render_rules(name, text, impact=impact)


@bp.route("/rules/apply", methods=["POST"])
@admin_required
def rules_apply():
    name, text = request.form.get("file", ""), request.form.get("text", "")
    path = _rule_file(name)
    before = path.read_text()
    outcome = rule_files.write_if_valid(config().spec_dirs, path, text)
    if outcome.errors:
        return _render_rules(name, text, outcome.errors, status=422)
    record(store(), g.user, "rule_file_changed", name, {"diff": text_diff(before, text, display_path(path))})
    flash(f"Applied {display_path(outcome.path)}: it takes effect on the next scoring cycle.", "ok")
    return redirect(url_for("dashboard.rules_page", file=name))
