"""The admin and manager dashboard: server-rendered pages, login, roles and CSRF on every form."""
from __future__ import annotations

from flask import redirect, url_for

from crm_app.services.admin.versions import seed_if_empty
from crm_app.services.dashboard.auth import shared_session_key
from crm_app.web.dashboard import (accounts_views, admin, audit_views, auth, later, models_views,  # noqa: F401
                                   pages, rule_versions, sso, users_views)  # they add routes to bp
from crm_app.web.dashboard.blueprint import bp


def register(app) -> None:
    """Attach the dashboard to an app; `/` leads to it."""
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # a second guard, beside CSRF tokens, on every POST
    if not app.config["PQL_CONFIG"].secret_key:
        app.config["SECRET_KEY"] = shared_session_key(app.config["PQL_STORE"])
    # The first start of a store publishes the files on disk as version 1; later starts keep the store's.
    seed_if_empty(app.config["PQL_STORE"], app.config["PQL_CONFIG"].spec_dirs.rules.parent)
    sso.install(app)
    app.register_blueprint(bp)
    app.add_url_rule("/", "root", lambda: redirect(url_for("dashboard.overview")))
