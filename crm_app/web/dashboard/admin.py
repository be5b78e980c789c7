"""Thresholds and rules: live previews for everyone signed in; saving needs the admin role."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from flask import abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from crm_app.services.dashboard import overview as service
from crm_app.services.admin import rule_files, versions
from crm_app.services.admin.event_names import unseen_event_warnings
from crm_app.services.admin.rule_impact import LISTED, SAMPLE, compare_rule_sets
from crm_app.services.dashboard.users import record, text_diff
from crm_app.store import ops as ops_store
from crm_app.web.dashboard import blueprint
from crm_app.web.dashboard.blueprint import admin_required, bp, now, specs, store
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
    with store().read() as conn:
        score_request = score_request_view(ops_store.latest_request(conn, "score_now"))
    return render_template("dashboard/thresholds.html", model=model, models=service.person_models(rules),
                           current=current, saved=current.__dict__, path=rule_files.model_path(rules, model),
                           errors=[], version=specs().version, score_request=score_request,
                           preview=service.threshold_preview(store(), model, current.high, current.medium,
                                                             current.pql, current.min_fit),
                           distribution=distribution(model, current))


def distribution(model: str, current) -> dict:
    """The stored score histogram with the thresholds to draw on it (the page's sliders move the lines)."""
    from crm_app.services.dashboard.score_cube import cube
    from crm_app.web.dashboard.pages import histogram_chart
    chart = histogram_chart(cube(store(), model).by_score(), width=1)
    chart["thresholds"] = {"high": current.high, "medium": current.medium, "pql": current.pql}
    return chart


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
    """New thresholds become a new version by the signed-in admin, on top of the version the page showed."""
    state = specs()
    rules = loaded_rules()
    model = chosen_model(rules)
    values = _thresholds()
    before = rule_files.current_thresholds(rules, model).__dict__
    base = _base(state.version)
    path, candidate, errors = rule_files.threshold_files(versions.version_files(store(), state.version), rules,
                                                         model, values)
    changes = {k: [before[k], v] for k, v in values.__dict__.items() if before.get(k) != v}
    published = None if errors else versions.publish(
        store(), candidate, g.user, request.form.get("message") or f"thresholds of {model}: {_changes(changes)}",
        "edit", base, "thresholds_changed", {"file": path, "changes": changes}, audit_target=model)
    if errors or published.version is None:
        errors = errors or published.errors
        status = 409 if published is not None and published.validation and not published.validation.errors else 422
        return render_template("dashboard/thresholds.html", model=model, models=service.person_models(rules),
                               current=values, saved=before, path=path, errors=errors, version=state.version,
                               preview=service.threshold_preview(store(), model, values.high, values.medium,
                                                                 values.pql, values.min_fit),
                               distribution=distribution(model, values)), status
    blueprint.published()
    flash(f"Published version {published.version} ({path}): every process applies it, and it takes effect on "
          "the next scoring cycle.", "ok")
    return redirect(url_for("dashboard.thresholds", model=model))


def _changes(changes: dict) -> str:
    return ", ".join(f"{k} {rule_files.number_text(a)} → {rule_files.number_text(b)}"
                     for k, (a, b) in changes.items()) or "unchanged"


def _base(shown: int | None) -> int | None:
    """The version the admin's page was based on (a form field), else the one this process shows."""
    raw = (request.form.get("base") or "").strip()
    if not raw:
        return shown
    if not raw.isdigit() or len(raw) > 12:
        abort(400, description=f"base must be a version number, not {raw[:40]!r}")
    return int(raw)


@bp.route("/score-now", methods=["POST"])
@admin_required
def score_now():
    """Ask the worker to score everyone now with the active version; the thresholds page shows its progress."""
    state = specs()
    if state.errors or state.specs is None:
        abort(409, description="The admin files have errors; fix them before scoring.")
    with store().begin() as conn:
        request_id, new = ops_store.request_job(conn, "score_now", g.user, detail={"as_of": now()})
    wake = current_app.config.get("PQL_WAKE")  # `serve`: the scheduler runs in this process
    if wake is not None:
        wake("score_now")
    flash(("Queued: the worker is scoring everyone now." if new else "Already queued: the worker is on it.")
          + " Its progress shows on the Thresholds page.", "ok")
    record(store(), g.user, "scored_now", None, {"request": request_id, "new": new, "version": state.version})
    return redirect(local_path(request.form.get("back")))


@bp.route("/score-now/status")
def score_now_status():
    """The latest "Score everyone now" request: state, people scored of all, and the outcome when finished."""
    with store().read() as conn:
        latest = ops_store.latest_request(conn, "score_now")
    return jsonify(score_request_view(latest))


def score_request_view(row: dict | None) -> dict | None:
    """What the page shows of a request, as plain data (the JSON above, and the first render)."""
    if row is None:
        return None
    detail = row["detail"] or {}
    if row["state"] == "done":
        text = (f"Scored {detail.get('scored', 0):,} people in {detail.get('seconds', 0):.1f}s with rules "
                f"{detail.get('rules_hash', '?')}.")
    elif row["state"] == "failed":
        text = f"Scoring failed: {row['error']}"
    elif row["state"] == "running":
        text = f"Scoring: {row['done']:,} of {row['total'] or 0:,} people"
    else:
        text = "Queued: waiting for the worker (python -m crm_app worker, or serve)"
    return {"id": row["id"], "state": row["state"], "done": row["done"], "total": row["total"],
            "requested_by": row["requested_by"], "text": text}


def active_files() -> tuple[int, dict[str, bytes]]:
    """(version, files) of the set this process shows."""
    state = specs()
    if state.version is None:
        abort(503, description="No valid rule set has been published yet: run `python -m crm_app rules publish`.")
    return state.version, versions.version_files(store(), state.version)


def _rule_file(name: str, files: dict[str, bytes]) -> str:
    """A rule file's path in the version by its name; only rule files of the active version can be edited."""
    names = sorted(p.split("/", 1)[1] for p in files if p.startswith("rules/"))
    if name not in names:
        abort(404, description=f"No rule file {name[:80]!r}; files: {', '.join(names)}")
    return f"rules/{name}"


def _render_rules(edit_name: str | None = None, edit_text: str | None = None, errors=(), impact=None, status=200,
                  warnings=()):
    state = specs()
    rules = state.specs.rules if state.specs else None
    version, files = active_files() if state.version is not None else (None, {})
    names = [p.split("/", 1)[1] for p in sorted(files) if p.startswith("rules/")]
    primary = next((m for m in rules.models if m.subject == "person" and m.pql is not None), None) if rules else None
    edit_name = edit_name or (Path(primary.source).name if primary else names[0] if names else None)
    if edit_text is None and edit_name:
        edit_text = files[_rule_file(edit_name, files)].decode("utf-8", "replace")
    error_lines = sorted({e.line for e in errors if e.file and Path(e.file).name == edit_name})
    firing = service.rule_firing(store(), rules) if rules else {}
    scoring = service.scoring_state(store(), rules) if rules else None
    return render_template("dashboard/rules.html", state=state, rules=rules, firing=firing, files=names,
                           scoring=scoring, edit_name=edit_name, edit_text=edit_text, errors=errors, impact=impact,
                           warnings=warnings, sample=SAMPLE, listed=LISTED, error_lines=error_lines, version=version,
                           history=versions.history(store(), 20)), status


@bp.route("/rules")
def rules_page():
    return _render_rules(request.args.get("file"))


@bp.route("/rules/preview", methods=["POST"])
def rules_preview():
    """Validate an edited rule file within the active version and show what it would change on a sample."""
    name, text = request.form.get("file", ""), request.form.get("text", "")
    _, files = active_files()
    checked = versions.validate_files(rule_files.with_file(files, _rule_file(name, files), text))
    if checked.errors:
        return _render_rules(name, text, checked.errors, status=422)
    impact = compare_rule_sets(store(), loaded_rules(), checked.specs.rules, now())
    warnings = [replace(w, file=f"rules/{Path(w.file).name}")
                for w in unseen_event_warnings(store(), checked.specs.rules)]
    return _render_rules(name, text, impact=impact, warnings=warnings)


@bp.route("/rules/apply", methods=["POST"])
@admin_required
def rules_apply():
    """An edited rule file becomes a new version by the signed-in admin; the checkout is never written."""
    name, text = request.form.get("file", ""), request.form.get("text", "")
    version, files = active_files()
    path = _rule_file(name, files)
    before = files[path].decode("utf-8", "replace")
    published = versions.publish(store(), rule_files.with_file(files, path, text), g.user,
                                 request.form.get("message") or f"edited {path}", "edit", _base(version),
                                 "rule_file_changed", {"file": path, "diff": text_diff(before, text, path)},
                                 audit_target=name)
    if published.version is None:
        conflict = published.validation is not None and not published.validation.errors
        return _render_rules(name, text, published.errors, status=409 if conflict else 422)
    blueprint.published()
    flash(f"Published version {published.version} ({path}): every process applies it, and it takes effect on "
          "the next scoring cycle.", "ok")
    return redirect(url_for("dashboard.rules_page", file=name))
