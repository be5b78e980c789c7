"""The Users page: admins add users, set roles, reset passwords and remove users, through the same service
functions as the `users` command (each change audited with its author; a role or password change or a removal
ends that user's sessions)."""
from __future__ import annotations

import secrets

from flask import abort, flash, g, redirect, render_template, request, url_for

from crm_app.services.dashboard import users as service
from crm_app.services.dashboard.auth import ROLES
from crm_app.web.dashboard.blueprint import bp, store


def _admin_only() -> None:
    if g.get("role") != "admin":
        abort(403, description=f"Only an admin can manage users; you are signed in as a {g.get('role')}.")


def _page(status: int = 200, new_password: tuple[str, str] | None = None):
    return render_template("dashboard/users.html", users=service.list_users(store()), roles=ROLES,
                           new_password=new_password), status


def _not_yourself(user: str, what: str) -> None:
    if user == g.user:
        abort(400, description=f"You cannot {what} yourself here; ask another admin, or use "
                               "`python -m crm_app users`.")


@bp.route("/users")
def users_page():
    _admin_only()
    return _page()


def _run(change, *args):
    try:
        return change(store(), *args, actor=g.user)
    except service.UserError as exc:
        flash(f"Not changed: {exc}.", "error")
        return None


@bp.route("/users/add", methods=["POST"])
def users_add():
    _admin_only()
    user, role = request.form.get("user", "").strip(), request.form.get("role", "")
    password = request.form.get("password", "") or secrets.token_urlsafe(12)
    try:
        service.add_user(store(), user, password, role, actor=g.user)
    except service.UserError as exc:
        flash(f"Not added: {exc}.", "error")
        return _page(400)
    if request.form.get("password"):
        flash(f"Added {user} as {role}.", "ok")
        return redirect(url_for("dashboard.users_page"))
    return _page(new_password=(user, password))  # shown once, in this page only (never in a cookie)


@bp.route("/users/<string:user>/role", methods=["POST"])
def users_set_role(user: str):
    _admin_only()
    _not_yourself(user, "change the role of")
    role = request.form.get("role", "")
    ended = _run(service.set_role, user, role)
    if ended is not None:
        flash(f"{user} is now {role}; {ended} session(s) ended.", "ok")
    return redirect(url_for("dashboard.users_page"))


@bp.route("/users/<string:user>/password", methods=["POST"])
def users_reset_password(user: str):
    _admin_only()
    password = secrets.token_urlsafe(12)
    ended = _run(service.set_password, user, password)
    if ended is None:
        return redirect(url_for("dashboard.users_page"))
    return _page(new_password=(user, password))


@bp.route("/users/<string:user>/remove", methods=["POST"])
def users_remove(user: str):
    _admin_only()
    _not_yourself(user, "remove")
    try:
        service.remove_user(store(), user, actor=g.user)
        flash(f"Removed {user}; their sessions ended.", "ok")
    except service.UserError as exc:
        flash(f"Not removed: {exc}.", "error")
    return redirect(url_for("dashboard.users_page"))
