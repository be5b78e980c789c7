"""The dashboard blueprint and what every view shares: login and CSRF on every request, roles, error pages."""
from __future__ import annotations

import time
from functools import wraps

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from crm_app.services.admin.spec_cache import SpecCache

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static", static_url_path="/static")

PUBLIC = {"dashboard.login", "dashboard.static"}


def store():
    return current_app.config["PQL_STORE"]


def config():
    return current_app.config["PQL_CONFIG"]


def specs():
    """The admin file set, reloaded when a file changed (one cache per app)."""
    cache = current_app.extensions.get("pql_specs")
    if cache is None:
        cache = current_app.extensions["pql_specs"] = SpecCache(config().spec_dirs)
    return cache.get()


def now() -> int:
    """The moment pages explain scores as of; tests may pin it with app.config['PQL_NOW']."""
    return int(current_app.config.get("PQL_NOW") or time.time())


@bp.before_request
def require_login_and_csrf():
    """Every page needs a login; every POST needs the session's CSRF token (form field or X-CSRFToken)."""
    if request.endpoint in PUBLIC and request.method == "GET":
        return None
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token") or request.headers.get("X-CSRFToken"))
        except ValidationError as exc:
            abort(400, description=f"The form expired or was not sent by this dashboard ({exc}). "
                                   "Reload the page and try again.")
    if request.endpoint in PUBLIC:
        return None
    if "role" not in session:
        return redirect(url_for("dashboard.login", next=request.full_path))
    g.user, g.role = session["user"], session["role"]
    return None


@bp.errorhandler(HTTPException)
def error_page(exc: HTTPException):
    """Dashboard errors as a page in its style with the reason and the way back; JSON for the live previews."""
    if exc.code is None or exc.code < 400:
        return exc
    if request.path.startswith(("/dashboard/thresholds/preview", "/dashboard/thresholds/lift")):
        return jsonify(error=exc.description), exc.code
    return render_template("dashboard/error.html", code=exc.code, name=exc.name, description=exc.description), exc.code


def admin_required(view):
    """Editing rules or thresholds needs the admin role; a manager gets 403 with the reason."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if session.get("role") != "admin":
            abort(403, description="Only an admin can change rules or thresholds; you are signed in as a manager.")
        return view(*args, **kwargs)
    return wrapper


@bp.app_context_processor
def template_helpers():
    from crm_app.web.dashboard.formatting import FILTERS
    return {"csrf_token": generate_csrf, **FILTERS}
