"""Sign in and out of the dashboard: throttled sign-ins, revocable sessions, every sign-in audited."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from crm_app.services.dashboard import auth as service
from crm_app.services.dashboard.users import record
from crm_app.web.dashboard.blueprint import bp, config, store
from crm_app.web.dashboard.redirects import local_path


def _login_page(user: str, status: int = 200):
    from crm_app.web.dashboard.sso import enabled
    page = render_template("dashboard/login.html", user=user, next_path=local_path(request.args.get("next")),
                           sso_name=config().oidc_provider_name if enabled() else None)
    return page, status


def _locked_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return (f"Too many failed sign-ins for this user or from this address. Try again in {minutes} minute(s); "
            "an admin can reset a password with `python -m crm_app users set-password`.")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        user = request.form.get("user", "").strip()[:255]
        address = request.remote_addr or "unknown"
        wait = service.locked_for(store(), user, address)
        if wait:
            flash(_locked_message(wait), "error")
            return _login_page(user, 429)[0], 429, {"Retry-After": str(wait)}
        role = service.authenticate(config(), store(), user, request.form.get("password", ""))
        if role:
            session.clear()
            session.update(sid=service.open_session(store(), user, role), user=user, role=role)
            service.remember_address(store(), user, address)
            record(store(), user, "sign_in", user, {"role": role, "address": address})
            return redirect(local_path(request.args.get("next")))
        service.record_failure(store(), user, address)
        flash("Wrong user name or password (a one-time password works once).", "error")
        return _login_page(user, 401)
    return _login_page("")


@bp.route("/logout", methods=["POST"])
def logout():
    service.end_session(store(), session.get("sid"))
    session.clear()
    return redirect(url_for("dashboard.login"))
