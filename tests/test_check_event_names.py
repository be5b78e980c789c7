"""`check` warns (never fails) about event names the rules and playbooks use that the store has never received,
at file:line with the nearest known names; without a store it stays as it was, and it never creates one. The
dashboard's rule preview shows the same warnings."""
from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path


from crm_app.cli import main
from crm_app.services.ingest.writer import ingest_messages
from tests.dashboard_helpers import demo_workspace

ROOT = Path(__file__).resolve().parent.parent
SEEN = ["Logged In", "Invite Sent", "Report Created", "Dashboard Created", "Integration Connected"]


def admin_copy(root: Path, replace: tuple | None = None) -> Path:
    for name in ("rules", "field_specs", "playbooks", "mapping"):
        shutil.copytree(ROOT / name, root / name)
    if replace:
        path = root / "rules" / "conversion.yaml"
        text = path.read_text()
        assert replace[0] in text
        path.write_text(text.replace(replace[0], replace[1], 1))
    return root


def send(store, names: list[str]) -> None:
    ingest_messages(store, [{"type": "track", "userId": "u1", "event": n, "messageId": f"m{i}",
                             "timestamp": "2026-11-30T10:00:00Z"} for i, n in enumerate(names)], "test")


def check(root: Path, database_url: str, monkeypatch, *flags: str) -> tuple[int, list[str], str]:
    monkeypatch.setenv("SPECS_ROOT", str(root))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(root)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", *flags])
    return code, out.getvalue().splitlines(), err.getvalue()


def warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if ": warning: " in line]


def test_a_misspelt_event_is_a_warning_at_its_line_with_the_nearest_known_names(store, tmp_path, monkeypatch):
    send(store, SEEN)
    root = admin_copy(tmp_path / "files", ("event: Invite Sent", "event: Invite Snt"))
    line = 1 + (root / "rules" / "conversion.yaml").read_text().split("event: Invite Snt")[0].count("\n")
    code, out, _ = check(root, store.url, monkeypatch)
    assert code == 0 and out[0].startswith("OK: ")
    found = [w for w in warnings(out) if "'invite snt'" in w]
    assert found == [f"rules/conversion.yaml:{line}: behaviour.invited_teammates: warning: event 'invite snt' has "
                     "never been received by the store; nearest known: 'Invite Sent'"]


def test_names_the_store_has_seen_are_not_warned_about_in_any_letter_case(store, tmp_path, monkeypatch):
    send(store, SEEN)
    root = admin_copy(tmp_path / "files", ("event: Invite Sent", "event: invite SENT"))
    code, out, _ = check(root, store.url, monkeypatch)
    assert code == 0
    assert not [w for w in warnings(out) if "invite" in w]
    assert warnings(out), "names the store has not seen (the shipped rules use more than SEEN) are still warned about"
    assert all(re.match(r"rules/\w+\.yaml:\d+: \S+: warning: event '", w) for w in warnings(out)), out


def test_an_empty_store_or_offline_check_warns_about_nothing(store, tmp_path, monkeypatch):
    root = admin_copy(tmp_path / "files", ("event: Invite Sent", "event: Invite Snt"))
    assert warnings(check(root, store.url, monkeypatch)[1]) == []  # a new install: nothing is suspect yet
    send(store, SEEN)
    assert warnings(check(root, store.url, monkeypatch)[1])
    code, out, _ = check(root, store.url, monkeypatch, "--offline")
    assert code == 0 and warnings(out) == []


def test_without_a_store_check_is_unchanged_and_creates_none(tmp_path, monkeypatch):
    root = admin_copy(tmp_path / "files", ("event: Invite Sent", "event: Invite Snt"))
    absent = tmp_path / "var" / "pql.db"
    code, out, err = check(root, f"sqlite:///{absent}", monkeypatch)
    assert code == 0 and len(out) == 1 and out[0].startswith("OK: ") and err == ""
    assert not absent.exists()


def test_an_unreachable_store_is_a_note_not_a_failure(tmp_path, monkeypatch):
    root = admin_copy(tmp_path / "files")
    code, out, err = check(root, "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2", monkeypatch)
    assert code == 0 and out[0].startswith("OK: ")
    assert "the store is not reachable" in err and "event names were not checked" in err


def test_the_dashboard_rule_preview_shows_the_warning(tmp_path, monkeypatch):
    from crm_app import create_app
    from tests.test_dashboard import signed_in, token
    monkeypatch.setenv("CRM", "sandbox")
    monkeypatch.setenv("CRM_SANDBOX_PATH", str(tmp_path / "var" / "crm-sandbox.db"))
    config, _ = demo_workspace(tmp_path, people=60, dashboard_admin_password="admin-pw")
    app = create_app(config)
    try:
        client = signed_in(app, "admin", "admin-pw")
        text = (config.spec_dirs.rules / "conversion.yaml").read_text().replace("event: Invite Sent",
                                                                                 "event: Invite Snt", 1)
        page = client.post("/dashboard/rules/preview", data={"file": "conversion.yaml", "text": text,
                                                             "csrf_token": token(client, "/dashboard/rules")})
    finally:
        app.config["PQL_STORE"].dispose()
    assert page.status_code == 200
    assert "event-warnings" in page.text
    assert re.search(r"conversion\.yaml:\d+: behaviour\.invited_teammates: warning: event &#39;invite snt&#39; has "
                     r"never been received by the store; nearest known: &#39;Invite Sent&#39;", page.text), page.text


def test_a_lifecycle_goal_naming_an_unseen_event_is_warned_about_at_its_line(store, tmp_path, monkeypatch):
    send(store, SEEN + ["Upgrade Started"])
    root = admin_copy(tmp_path / "files")
    shutil.copytree(ROOT / "lifecycle", root / "lifecycle")
    assert not [w for w in warnings(check(root, store.url, monkeypatch)[1]) if w.startswith("lifecycle/")]
    path = root / "lifecycle" / "upgraded.yaml"
    text = path.read_text()
    assert "goal: {event: Upgrade Started" in text
    path.write_text(text.replace("goal: {event: Upgrade Started", "goal: {event: Upgrade Startd", 1))
    line = 1 + path.read_text().split("Upgrade Startd")[0].count("\n")
    code, out, _ = check(root, store.url, monkeypatch)
    assert code == 0
    assert [w for w in warnings(out) if w.startswith("lifecycle/")] == [
        f"lifecycle/upgraded.yaml:{line}: goal: warning: event 'upgrade startd' has never been received by the "
        "store; nearest known: 'Upgrade Started'"]
