"""Sign in and out of the dashboard."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from crm_app.services.dashboard.auth import authenticate
from crm_app.web.dashboard.blueprint import bp, config, store


def _safe_next(target: str | None) -> str:
    """Only a path inside this dashboard: never an open redirect to another site."""
    if target and target.startswith("/dashboard") and not target.startswith("//"):
        return target
    return url_for("dashboard.overview")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        user = request.form.get("user", "").strip()
        role = authenticate(config(), store(), user, request.form.get("password", ""))
        if role:
            session.clear()
            session.update(user=user, role=role)
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong user name or password (a one-time password works once).", "error")
        return render_template("dashboard/login.html", user=user), 401
    return render_template("dashboard/login.html", user="")


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    return redirect(url_for("dashboard.login"))
