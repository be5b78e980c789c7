"""Dashboard users (the `users` command, roles, store passwords beside the environment logins) and the audit
log (sign-ins, threshold and rule changes with their diff, alert buttons), on SQLite and PostgreSQL."""
from __future__ import annotations

import io
import re
import shutil

import pytest

from tests.conftest import ROOT


def with_stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_users_command_adds_lists_changes_and_removes(runner, monkeypatch, config):
    from crm_app.services.dashboard.auth import authenticate
    from crm_app.store import Store
    with_stdin(monkeypatch, "a-long-password\n")
    assert runner("users", "add", "rita", "--role", "manager", "--password-stdin")[0] == 0
    code, out, _ = runner("users", "list")
    assert code == 0 and re.search(r"rita\s+manager", out)
    with_stdin(monkeypatch, "another-password\n")
    assert runner("users", "add", "rita", "--role", "admin", "--password-stdin")[:2] == (1, "")
    assert runner("users", "set-role", "rita", "--role", "viewer")[0] == 0
    with_stdin(monkeypatch, "short\n")
    code, _, err = runner("users", "set-password", "rita", "--password-stdin")
    assert code == 1 and "at least 10 characters" in err
    with_stdin(monkeypatch, "the-new-password\n")
    assert runner("users", "set-password", "rita", "--password-stdin")[0] == 0
    store = Store(config.database_url)
    try:
        assert authenticate(config, store, "rita", "the-new-password") == "viewer"
        assert authenticate(config, store, "rita", "a-long-password") is None
        from crm_app.store.dashboard.security import dashboard_users
        from sqlalchemy import select
        with store.read() as conn:
            stored = conn.execute(select(dashboard_users.c.password_hash)).scalar_one()
        assert "the-new-password" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    finally:
        store.dispose()
    assert runner("users", "set-role", "rita", "--role", "owner")[0] == 2  # not a role
    assert runner("users", "remove", "rita")[0] == 0
    assert runner("users", "remove", "rita")[0] == 1
    code, out, _ = runner("audit")
    for action in ("user_added", "role_changed", "password_changed", "user_removed"):
        assert action in out


@pytest.fixture
def workspace(store, tmp_path):
    """The app on each backend with a writable copy of the shipped rules."""
    from crm_app import create_app
    from crm_app.config import Config
    for name in ("rules", "field_specs", "playbooks", "mapping"):
        shutil.copytree(ROOT / name, tmp_path / name)
    config = Config.from_env({}, database_url=store.url, specs_root=str(tmp_path), secret_key="k" * 32,
                             dashboard_admin_password="env-admin-password")
    return create_app(config, store=store), tmp_path


def sign_in(app, user, password):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").text).group(1)
    response = client.post("/dashboard/login", data={"user": user, "password": password, "csrf_token": token})
    if response.status_code == 302:  # signing in starts a new session, with a new CSRF token
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/thresholds").text).group(1)
    return client, response, token


def test_environment_admin_and_store_users_sign_in_with_their_roles(workspace):
    from crm_app.services.dashboard.users import add_user
    app, _ = workspace
    store = app.config["PQL_STORE"]
    assert sign_in(app, "admin", "env-admin-password")[1].status_code == 302
    add_user(store, "vic", "viewer-password", "viewer")
    client, response, token = sign_in(app, "vic", "viewer-password")
    assert response.status_code == 302
    assert client.get("/dashboard/thresholds").status_code == 200
    refused = client.post("/dashboard/thresholds?model=conversion", data={"high": "70", "medium": "40",
                                                                         "csrf_token": token})
    assert refused.status_code == 403 and "viewer" in refused.text
    assert "vic" in client.get("/dashboard/").text and "(viewer)" in client.get("/dashboard/").text


def test_the_audit_log_records_sign_ins_threshold_and_rule_changes_with_their_diff(workspace):
    from crm_app.services.dashboard.users import audit_entries
    app, root = workspace
    store = app.config["PQL_STORE"]
    client, _, token = sign_in(app, "admin", "env-admin-password")
    saved = client.post("/dashboard/thresholds?model=conversion",
                        data={"high": "72", "medium": "40", "pql": "70", "min_fit": "0", "csrf_token": token})
    assert saved.status_code == 302, saved.text
    rule_file = root / "rules" / "conversion.yaml"
    edited = rule_file.read_text().replace("label: Product-qualified lead", "label: Product-qualified lead (v2)")
    applied = client.post("/dashboard/rules/apply", data={"file": "conversion.yaml", "text": edited,
                                                          "csrf_token": token})
    assert applied.status_code == 302, applied.text
    entries = audit_entries(store)
    by_action = {e["action"]: e for e in entries}
    assert by_action["sign_in"]["actor"] == "admin" and by_action["sign_in"]["detail"]["role"] == "admin"
    change = by_action["thresholds_changed"]
    assert change["actor"] == "admin" and change["target"] == "conversion"
    assert change["detail"]["changes"]["high"] == [70, 72.0] and change["detail"]["changes"]["pql"] == [75, 70.0]
    diff = by_action["rule_file_changed"]["detail"]["diff"]
    assert "-label: Product-qualified lead\n" in diff and "+label: Product-qualified lead (v2)\n" in diff
    page = client.get("/dashboard/audit").text
    assert "thresholds_changed" in page and "high: 70 → 72" in page and "(v2)" in page
    only = client.get("/dashboard/audit?action=thresholds_changed").text
    assert "rule_file_changed</td>" not in only
    assert client.get("/dashboard/audit?action=nope").status_code == 400


def test_audit_command_prints_the_log(runner, config, monkeypatch):
    from crm_app.services.dashboard.users import record
    from crm_app.store import Store
    store = Store(config.database_url)
    record(store, "ann", "thresholds_changed", "conversion", {"changes": {"pql": [75, 70]}})
    record(store, "ann", "rule_file_changed", "conversion.yaml", {"diff": "--- a\n+++ b\n-x\n+y\n"})
    store.dispose()
    code, out, _ = runner("audit")
    assert code == 0 and "ann" in out and '"pql": [75, 70]' in out and "    +y" in out
    code, out, _ = runner("audit", "--action", "rule_file_changed")
    assert "thresholds_changed" not in out and "rule_file_changed" in out
