"""User management on the dashboard's Users page, on SQLite and PostgreSQL: the same service functions as the
`users` command, admin only, CSRF-protected (tests/test_web_security.py covers every POST), audited with the
admin as author, and ending the sessions of the user changed."""
from __future__ import annotations

import re

import pytest

from tests.test_web_security import ADMIN, VIEWER, csrf, sign_in, web  # noqa: F401 - the shared app fixture


def admin_client(app):
    client, response = sign_in(app, ADMIN)
    assert response.status_code == 302
    return client


def post(client, path: str, **form):
    return client.post(path, data={**form, "csrf_token": csrf(client, "/dashboard/users")})


def last_audit(app, action: str) -> dict:
    from crm_app.services.dashboard.users import audit_entries
    return audit_entries(app.config["PQL_STORE"], 1, action)[0]


def live(client) -> bool:
    return client.get("/dashboard/people").status_code == 200


def test_an_admin_adds_a_user_who_then_signs_in(web):
    admin = admin_client(web)
    response = post(admin, "/dashboard/users/add", user="rita", role="manager", password="rita-password-1")
    assert response.status_code == 302
    assert 'data-user="rita"' in admin.get("/dashboard/users").text
    client, answer = sign_in(web, ("rita", "rita-password-1"), address="10.0.0.2")
    assert answer.status_code == 302 and live(client)
    entry = last_audit(web, "user_added")
    assert (entry["actor"], entry["target"], entry["detail"]) == ("admin", "rita", {"role": "manager"})


def test_a_user_added_without_a_password_gets_one_shown_once(web):
    admin = admin_client(web)
    page = post(admin, "/dashboard/users/add", user="sam", role="viewer", password="")
    password = re.search(r"<code>([^<]+)</code>. It is shown once", page.text).group(1)
    assert sign_in(web, ("sam", password), address="10.0.0.3")[1].status_code == 302
    assert password not in admin.get("/dashboard/users").text
    with admin.session_transaction() as sess:
        assert password not in str(dict(sess))


def test_a_role_change_ends_the_users_sessions_and_the_next_sign_in_has_the_new_role(web):
    admin = admin_client(web)
    vera, _ = sign_in(web, VIEWER, address="10.0.0.4")
    assert live(vera)
    assert post(admin, "/dashboard/users/vera/role", role="manager").status_code == 302
    assert "vera is now manager; 1 session(s) ended" in admin.get("/dashboard/users").text
    assert not live(vera)
    again, _ = sign_in(web, VIEWER, address="10.0.0.4")
    with again.session_transaction() as sess:
        assert sess["role"] == "manager"
    entry = last_audit(web, "role_changed")
    assert (entry["actor"], entry["target"], entry["detail"]["role"]) == ("admin", "vera", ["viewer", "manager"])


def test_a_password_reset_ends_sessions_and_only_the_new_password_works(web):
    admin = admin_client(web)
    vera, _ = sign_in(web, VIEWER, address="10.0.0.5")
    page = post(admin, "/dashboard/users/vera/password")
    new = re.search(r"<code>([^<]+)</code>. It is shown once", page.text).group(1)
    assert not live(vera)
    assert sign_in(web, VIEWER, address="10.0.0.6")[1].status_code == 401
    assert sign_in(web, ("vera", new), address="10.0.0.6")[1].status_code == 302
    assert last_audit(web, "password_changed")["actor"] == "admin"


def test_removing_a_user_ends_their_sessions_and_sign_ins(web):
    admin = admin_client(web)
    vera, _ = sign_in(web, VIEWER, address="10.0.0.7")
    assert post(admin, "/dashboard/users/vera/remove").status_code == 302
    assert not live(vera)
    assert sign_in(web, VIEWER, address="10.0.0.8")[1].status_code == 401
    assert 'data-user="vera"' not in admin.get("/dashboard/users").text
    assert (last_audit(web, "user_removed")["actor"], last_audit(web, "user_removed")["target"]) == ("admin", "vera")


@pytest.mark.parametrize("path, form, status, message", [
    ("/dashboard/users/add", {"user": "vera", "role": "viewer", "password": "p" * 12}, 400, "exists"),
    ("/dashboard/users/add", {"user": "bad name!", "role": "viewer", "password": "p" * 12}, 400, "user name is"),
    ("/dashboard/users/add", {"user": "tom", "role": "root", "password": "p" * 12}, 400, "role must be one of"),
    ("/dashboard/users/add", {"user": "tom", "role": "viewer", "password": "short"}, 400, "at least 10"),
    ("/dashboard/users/add", {"user": "x" * 5000, "role": "viewer", "password": "p" * 12}, 400, "user name is"),
    ("/dashboard/users/vera/role", {"role": "superuser"}, 302, "role must be one of"),
    ("/dashboard/users/nobody/role", {"role": "admin"}, 302, "no user"),
    ("/dashboard/users/nobody/password", {}, 302, "no user"),
    ("/dashboard/users/nobody/remove", {}, 302, "no user"),
    ("/dashboard/users/admin/remove", {}, 400, "cannot remove yourself"),
    ("/dashboard/users/admin/role", {"role": "viewer"}, 400, "cannot change the role of yourself"),
])
def test_a_change_that_cannot_be_made_says_why_and_changes_nothing(web, path, form, status, message):
    from crm_app.services.dashboard.users import list_users
    admin = admin_client(web)
    before = list_users(web.config["PQL_STORE"])
    response = post(admin, path, **form)
    assert response.status_code == status
    text = response.text if status != 302 else admin.get("/dashboard/users").text
    assert message in text.replace("&#39;", "'"), text
    assert list_users(web.config["PQL_STORE"]) == before
