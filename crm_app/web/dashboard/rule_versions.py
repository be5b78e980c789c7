"""The Rules page's history: every published version, its patch, a diff of two, and a rollback with its preview."""
from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from crm_app.services.admin import versions
from crm_app.services.admin.rule_impact import SAMPLE, compare_rule_sets
from crm_app.services.dashboard.score_cube import per_run
from crm_app.web.dashboard.admin import active_files
from crm_app.web.dashboard.blueprint import admin_required, bp, now, store
from crm_app.web.dashboard.blueprint import published as published_here


def _files(number: int) -> dict[str, bytes]:
    try:
        return versions.version_files(store(), number)
    except LookupError as exc:
        abort(404, description=str(exc))


def _number(name: str) -> int:
    raw = (request.args.get(name) or "").strip()
    if not raw.isdigit() or len(raw) > 12:
        abort(400, description=f"{name} must be a version number, not {raw[:40]!r}")
    return int(raw)


def _impact(before: dict[str, bytes], after: dict[str, bytes]):
    """(impact, errors): what `after` changes against `before` on the sample, or why a side cannot load today.

    Kept per scoring run and hour, like the other summaries: reloading the page costs no second evaluation."""
    key = f"impact:{versions.set_hash(before)}:{versions.set_hash(after)}:{now() // 3600}"

    def build():
        old, new = versions.validate_files(before), versions.validate_files(after)
        errors = list(old.errors) + list(new.errors)
        if errors:
            return None, errors
        return compare_rule_sets(store(), old.specs.rules, new.specs.rules, now()), []
    return per_run(store(), key, build)


def _page(title: str, before: dict, after: dict, names: tuple, **extra):
    impact, errors = _impact(before, after)
    return render_template("dashboard/rules_version.html", title=title, names=names, sample=SAMPLE,
                           patch=versions.diff_files(before, after), impact=impact, errors=errors, **extra)


@bp.route("/rules/versions/<int:number>.patch")
def rules_version_patch(number: int):
    """What a version changed, as a patch a git checkout applies (`git apply`), for teams who keep rules in git."""
    try:
        text = versions.version_patch(store(), number)
    except LookupError as exc:
        abort(404, description=str(exc))
    return Response(text, mimetype="text/x-diff",
                    headers={"Content-Disposition": f'attachment; filename="rules-v{number}.patch"'})


@bp.route("/rules/diff")
def rules_diff():
    """Two versions side by side: the patch from A to B and what B changes against A on the sample."""
    a, b = _number("a"), _number("b")
    return _page(f"Version {a} → version {b}", _files(a), _files(b), (f"version {a}", f"version {b}"))


@bp.route("/rules/rollback/<int:number>")
def rules_rollback_preview(number: int):
    """What rolling back to a version would change against the active one, before anything is applied."""
    current, files = active_files()
    return _page(f"Roll back to version {number}", files, _files(number),
                 (f"version {current} (active)", f"version {number}"), rollback=number, base=current)


@bp.route("/rules/rollback/<int:number>", methods=["POST"])
@admin_required
def rules_rollback(number: int):
    """Publish an old version's files again as a new version by the signed-in admin."""
    current, _ = active_files()
    raw = (request.form.get("base") or "").strip()
    base = int(raw) if raw.isdigit() and len(raw) <= 12 else current
    _files(number)
    published = versions.rollback(store(), number, g.user, base, request.form.get("message") or None)
    if published.version is None:
        current, files = active_files()
        return _page(f"Roll back to version {number}", files, _files(number),
                     (f"version {current} (active)", f"version {number}"), rollback=number, base=current,
                     refused=published.errors), 409
    published_here()
    flash(f"Rolled back to version {number}: published as version {published.version}.", "ok")
    return redirect(url_for("dashboard.rules_page"))
