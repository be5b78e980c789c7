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

PUBLIC = {"dashboard.login", "dashboard.static", "dashboard.sso_start", "dashboard.sso_callback"}
VIEWER_POSTS = {"dashboard.logout", "dashboard.rules_preview"}  # POSTs that change nothing


def store():
    return current_app.config["PQL_STORE"]


def config():
    return current_app.config["PQL_CONFIG"]


def specs():
    """The active admin file set, switched when a new version is published (one cache per app)."""
    return _spec_cache().get()


def _spec_cache() -> SpecCache:
    cache = current_app.extensions.get("pql_specs")
    if cache is None:
        cache = current_app.extensions["pql_specs"] = SpecCache(
            store(), config().spec_dirs, interval=current_app.config.get("PQL_SPECS_POLL_SECONDS", 1.0))
    return cache


def published() -> None:
    """This process published a version: the next request applies it."""
    _spec_cache().invalidate()


def now() -> int:
    """The moment pages explain scores as of; tests may pin it with app.config['PQL_NOW']."""
    return int(current_app.config.get("PQL_NOW") or time.time())


@bp.before_request
def require_login_and_csrf():
    """Every page needs a live session; every POST needs the session's CSRF token (form field or X-CSRFToken).

    The session cookie carries only an id; the store says whether it is still live (logout, a password or role
    change end it), and which user and role it belongs to. A viewer may only read.
    """
    from crm_app.services.dashboard.auth import session_user
    from crm_app.web.dashboard.redirects import local_path
    fields = list(request.args.items(multi=True))
    if request.method == "POST":
        fields += list(request.form.items(multi=True))
    for name, value in fields:
        if "\x00" in value or "\x00" in name:  # PostgreSQL refuses NUL in text: a 400 here, not a 500 there
            abort(400, description=f"The parameter {name[:40]!r} contains a NUL character.")
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
    live = session_user(store(), session.get("sid"))
    if live is None:
        session.clear()
        if request.method == "POST":
            abort(401, description="Your session has ended; sign in again.")
        return redirect(url_for("dashboard.login", next=local_path(request.full_path, url_for("dashboard.overview"))))
    g.user, g.role = live
    if (session.get("user"), session.get("role")) != live:
        session["user"], session["role"] = live
    if g.role == "viewer" and request.method == "POST" and request.endpoint not in VIEWER_POSTS:
        abort(403, description="You are signed in as a viewer: the dashboard is read-only for you.")
    return None


MAX_ID = 2 ** 53  # ids in a path beyond this exist nowhere (and overflow a 64-bit column)


@bp.url_value_preprocessor
def bounded_ids(endpoint, values):
    """A path id no table can hold is a 404, not an overflow deep in the database driver."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and not 0 <= value < MAX_ID:
            abort(404, description=f"No such {name.replace('_', ' ')}: {value}")
        if isinstance(value, str) and len(value) > 200:
            abort(400, description=f"{name} is longer than 200 characters")


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
        if g.get("role") != "admin":
            abort(403, description="Only an admin can change rules or thresholds; "
                                   f"you are signed in as a {g.get('role') or 'guest'}.")
        return view(*args, **kwargs)
    return wrapper


@bp.app_context_processor
def template_helpers():
    from crm_app.web.dashboard.formatting import FILTERS
    return {"csrf_token": generate_csrf, **FILTERS}
