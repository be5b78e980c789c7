"""Admin files as published versions: a web process and a worker in two working directories share one store."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html import unescape

import pytest
import requests
from sqlalchemy import func, select

from crm_app.services.admin import versions
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.ops.service_status import service_status
from crm_app.store import schema
from tests.child_processes import die_with_parent
from tests.conftest import ROOT
from tests.test_hot_reload import recent, wait_for

FOLDERS = ("rules", "field_specs", "playbooks", "mapping")
FAST = {"SCORE_WORKERS": "1", "RULES_POLL_SECONDS": "0.3", "SCORE_CHANGED_SECONDS": "0.3",
        "LEADER_LEASE_SECONDS": "3", "MISFIRE_GRACE_SECONDS": "5", "SHUTDOWN_GRACE_SECONDS": "10"}


def checkout(tmp_path, name: str):
    """A copy of the shipped admin files in its own folder, as the checkout of another machine."""
    folder = tmp_path / name
    for sub in FOLDERS:
        shutil.copytree(ROOT / sub, folder / sub)
    return folder


def tree_bytes(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for sub in FOLDERS for p in sorted((folder / sub).iterdir())}


def environment(url: str, cwd) -> dict:
    return dict(os.environ, DATABASE_URL=url, SPECS_ROOT=".", PYTHONPATH=str(ROOT), SECRET_KEY="two-machines",
                DASHBOARD_ADMIN_PASSWORD="admin-pw", WRITE_KEY="wk", CRM_SANDBOX_PATH=str(cwd / "crm.db"), **FAST)


def start(args: list, url: str, cwd) -> subprocess.Popen:
    log = open(cwd / f"{args[0]}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "crm_app", *args], env=environment(url, cwd), cwd=cwd,
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def cli(url: str, cwd, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "crm_app", *args], env=environment(url, cwd), cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def csrf(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', session.get(url, timeout=30).text).group(1)


def results(store) -> dict:
    """rules hash -> (people, PQLs) of the conversion model's stored results."""
    r = schema.results
    with store.read() as conn:
        rows = conn.execute(select(r.c.rules_hash, func.count(), func.sum(func.cast(r.c.pql, schema.Integer)))
                            .where(r.c.model == "conversion").group_by(r.c.rules_hash))
        return {h: (n, int(p or 0)) for h, n, p in rows}


def worker_applied(store, worker_host: str) -> int | None:
    """The version the worker process last reported holding, from its own reload job."""
    last = service_status(store)["jobs"]["reload_rules"]["last"]
    return last["detail"].get("version") if last and last["host"] == worker_host and last["detail"] else None


def test_a_dashboard_edit_reaches_a_worker_on_another_machine_and_rolls_back(store, tmp_path):
    web_dir, worker_dir = checkout(tmp_path, "web-machine"), checkout(tmp_path, "worker-machine")
    shipped = tree_bytes(web_dir)
    ingest_messages(store, [{"type": "track", "userId": f"u{i}", "event": "Invite Sent", "messageId": f"m{i}",
                             "timestamp": recent(2 + i)} for i in range(6)], "test")
    web = start(["serve", "--port", "0", "--no-scheduler"], store.url, web_dir)
    worker = start(["worker"], store.url, worker_dir)
    try:
        serving = wait_for(lambda: re.search(r"Serving on (http://\S+?) ", (web_dir / "serve.log").read_text()))
        base = serving.group(1)
        host = f"{os.uname().nodename}:{worker.pid}"
        wait_for(lambda: worker_applied(store, host) == 1)
        seed = versions.history(store)[0]
        assert seed["kind"] == "seed" and seed["author"] == versions.SEED_AUTHOR
        first = wait_for(lambda: results(store).get(seed["rules_hash"], (0, 0))[0] == 6 and results(store))
        assert first == {seed["rules_hash"]: (6, 0)}  # one invite is far from the PQL threshold of 75

        browser = requests.Session()
        login = browser.post(f"{base}/dashboard/login", timeout=30, allow_redirects=False, data={
            "user": "admin", "password": "admin-pw", "csrf_token": csrf(browser, f"{base}/dashboard/login")})
        assert login.status_code == 302, login.text
        saved = browser.post(f"{base}/dashboard/thresholds?model=conversion", timeout=60, allow_redirects=False,
                             data={"high": "70", "medium": "40", "pql": "10", "min_fit": "0",
                                   "csrf_token": csrf(browser, f"{base}/dashboard/thresholds")})
        assert saved.status_code == 302, saved.text
        edit = versions.history(store)[0]
        assert (edit["version"], edit["author"], edit["kind"], edit["replaces"]) == (2, "admin", "edit", 1)

        wait_for(lambda: worker_applied(store, host) == 2)  # exactly that version, on the other machine
        rescored = wait_for(lambda: set(results(store)) == {edit["rules_hash"]} and results(store))
        assert rescored == {edit["rules_hash"]: (6, 6)}  # the new threshold made everyone a PQL

        history = cli(store.url, worker_dir, "rules", "history")
        assert re.search(r"^\s+2\*.*\badmin\b.*\bedit\b.*thresholds of conversion", history, re.M), history
        patch = browser.get(f"{base}/dashboard/rules/versions/2.patch", timeout=30)
        assert "-pql: {threshold: 75, min_fit: 0}" in patch.text and "+pql: {threshold: 10, min_fit: 0}" in patch.text

        rolled = cli(store.url, worker_dir, "rules", "rollback", "1", "--author", "oncall")
        assert "impact of version 1 against the active version 2" in rolled and "published as version 3" in rolled
        wait_for(lambda: worker_applied(store, host) == 3)
        back = wait_for(lambda: set(results(store)) == {seed["rules_hash"]} and results(store))
        assert back == {seed["rules_hash"]: (6, 0)}
        wait_for(lambda: f"rules {seed['rules_hash']} (version 1, 3)" in cli(store.url, worker_dir, "status"))
        assert "rules_rolled_back" in {e["action"] for e in _audit(store)}
        assert tree_bytes(web_dir) == tree_bytes(worker_dir) == shipped  # no checkout was written
    finally:
        for proc in (web, worker):
            proc.terminate()
        for proc in (web, worker):
            proc.wait(30)


def _audit(store) -> list:
    from crm_app.services.dashboard.users import audit_entries
    return audit_entries(store)


# --- one validator: the dashboard and `check` refuse and accept the same sets ----------------------------------

GOLDEN = sorted((ROOT / "tests" / "golden" / "invalid").glob("*.yaml"))
UPGRADED = "model: upgraded\nlabel: Starts an upgrade\nstage: conversion\ngoal: {event: Upgrade Started, count: {at_least: 1}}\n"
UPGRADED_FIELD = ("fields:\n  - key: upgrade_propensity\n    model: upgraded\n    value: combined\n    type: number\n"
                  "    label: Upgrade propensity\n    salesforce: {objects: [Lead, Contact], api_name: Upgrade_Propensity__c}\n"
                  "    hubspot: {object: contacts, name: upgrade_propensity}\n")


def _conversion(change: tuple = ()) -> str:
    text = (ROOT / "rules" / "conversion.yaml").read_text()
    for old, new in change:
        assert old in text
        text = text.replace(old, new)
    return text


RENAMED = _conversion((("model: conversion\n", "model: converted\n"),))
# case -> (the edited rules/conversion.yaml, the set around it: "lifecycle" adds a lifecycle model and a field
# spec of it; "only creation policy" leaves mapping/create.yaml the only other file that names the model)
CASES = {**{f"golden {p.stem}": (p.read_text(), ()) for p in GOLDEN},
         "valid edit": (_conversion((("label: Sent workspace invites", "label: Invited teammates"),)), ()),
         "valid edit beside a lifecycle model and its field": (_conversion(), ("lifecycle",)),
         "renamed model breaks field specs and playbooks": (RENAMED, ()),
         "renamed model breaks only mapping/create.yaml": (RENAMED, ("only creation policy",)),
         "bad value beside a lifecycle field": (_conversion((("points: 25", "points: lots"),)), ("lifecycle",))}


def _tree(folder, conversion: str, extras: tuple):
    for sub in FOLDERS:
        shutil.copytree(ROOT / sub, folder / sub)
    if "only creation policy" in extras:
        for name in ("field_specs/conversion.yaml", "playbooks/new_pql.yaml", "playbooks/score_drop.yaml"):
            (folder / name).unlink()
    if "lifecycle" in extras:
        (folder / "lifecycle").mkdir()
        (folder / "lifecycle" / "upgraded.yaml").write_text(UPGRADED)
        (folder / "field_specs" / "upgraded.yaml").write_text(UPGRADED_FIELD)
    (folder / "rules" / "conversion.yaml").write_text(conversion)
    return folder


def _page_errors(html: str) -> list[str]:
    block = html.split("nothing was applied.</strong>", 1)[1].split("</div>\n", 1)[0] if "nothing was applied" in html else ""
    return [unescape(e) for e in re.findall(r"<div><code>(.*?)</code></div>", block, re.S)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_dashboard_rules_publish_and_check_refuse_and_accept_the_same_sets(case, tmp_path, monkeypatch):
    from crm_app import create_app
    from crm_app.cli import main
    from crm_app.config import Config
    text, extras = CASES[case]
    candidate = _tree(tmp_path / "candidate", text, extras)
    monkeypatch.chdir(candidate)
    monkeypatch.setenv("SPECS_ROOT", ".")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/check.db")
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["check"])
    # Errors that follow from another are printed indented under it; the dashboard marks them apart too.
    check_errors = [] if code == 0 else [line for line in out.getvalue().splitlines() if not line.startswith(" ")]
    assert (code == 0) == (not check_errors)
    published_out = io.StringIO()
    with contextlib.redirect_stdout(published_out), contextlib.redirect_stderr(io.StringIO()):
        publish_code = main(["rules", "publish", "--author", "ci"])
    assert publish_code == code
    assert (published_out.getvalue().splitlines() if publish_code else []) == (out.getvalue().splitlines()
                                                                                 if code else [])

    served = _tree(tmp_path / "served", _conversion(), extras)
    config = Config.from_env({}, database_url=f"sqlite:///{tmp_path}/web.db", specs_root=str(served),
                             secret_key="k", dashboard_admin_password="admin-pw")
    app = create_app(config)
    try:
        client = app.test_client()
        page = client.get("/dashboard/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/dashboard/login", data={"user": "admin", "password": "admin-pw", "csrf_token": token})
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/rules").text).group(1)
        applied = client.post("/dashboard/rules/apply", data={"file": "conversion.yaml", "text": text,
                                                              "csrf_token": token})
        dashboard_errors = _page_errors(applied.text) if applied.status_code == 422 else []
        assert applied.status_code in (302, 422), applied.text[:500]
        assert dashboard_errors == check_errors
        assert (applied.status_code == 302) == (code == 0)
        published = versions.active_version(app.config["PQL_STORE"])[0]
        assert published == (2 if code == 0 else 1)
    finally:
        app.config["PQL_STORE"].dispose()
    assert case.startswith("golden") <= bool(check_errors)  # every golden file is refused
    if "only creation policy" in extras:
        assert [e.split(":")[0] for e in check_errors] == ["mapping/create.yaml"]


def test_a_dashboard_edit_leaves_the_checkouts_tracked_files_unchanged(app, client, tmp_path):
    """The default app serves the project's own checkout: saving thresholds must not touch a tracked file."""
    before = subprocess.run(["git", "status", "--porcelain", "--", *FOLDERS, "lifecycle"], cwd=ROOT,
                            capture_output=True, text=True).stdout
    files = {p: p.read_bytes() for sub in FOLDERS for p in (ROOT / sub).iterdir()}
    from crm_app.services.dashboard.auth import issue_one_time_password
    password = issue_one_time_password(app.config["PQL_STORE"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").text).group(1)
    assert client.post("/dashboard/login", data={"user": "admin", "password": password,
                                                 "csrf_token": token}).status_code == 302
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/thresholds").text).group(1)
    saved = client.post("/dashboard/thresholds?model=conversion",
                        data={"high": "71", "medium": "41", "pql": "74", "min_fit": "0", "csrf_token": token})
    assert saved.status_code == 302, saved.text
    number, published = versions.active_version(app.config["PQL_STORE"])
    assert number == 2 and b"pql: {threshold: 74, min_fit: 0}" in published["rules/conversion.yaml"]
    assert {p: p.read_bytes() for sub in FOLDERS for p in (ROOT / sub).iterdir()} == files
    assert subprocess.run(["git", "status", "--porcelain", "--", *FOLDERS, "lifecycle"], cwd=ROOT,
                          capture_output=True, text=True).stdout == before


# --- the version store itself, on both backends ----------------------------------------------------------------

def test_the_files_on_disk_seed_only_an_empty_store(store, tmp_path):
    root = checkout(tmp_path, "deploy")
    first = versions.seed_if_empty(store, root)
    assert first.version == 1 and versions.history(store)[0]["kind"] == "seed"
    (root / "rules" / "conversion.yaml").write_text(_conversion((("pql: {threshold: 75", "pql: {threshold: 60"),)))
    assert versions.seed_if_empty(store, root) is None  # a redeploy keeps the store's version
    number, files = versions.active_version(store)
    assert number == 1 and files == versions.read_admin_files(checkout(tmp_path, "shipped"))


def test_two_edits_on_one_version_publish_one_and_refuse_the_other(store, tmp_path):
    files = versions.read_admin_files(checkout(tmp_path, "a"))
    assert versions.publish(store, files, "seed", "seed").version == 1
    mine = dict(files, **{"rules/conversion.yaml": _conversion((("pql: {threshold: 75", "pql: {threshold: 70"),)).encode()})
    theirs = dict(files, **{"rules/conversion.yaml": _conversion((("pql: {threshold: 75", "pql: {threshold: 80"),)).encode()})
    assert versions.publish(store, mine, "ann", "mine", "edit", base=1).version == 2
    refused = versions.publish(store, theirs, "bob", "theirs", "edit", base=1)
    assert refused.version is None and "version 2 was published after version 1" in refused.errors[0]
    assert [(v["version"], v["author"]) for v in versions.history(store)] == [(2, "ann"), (1, "seed")]


def test_another_process_never_sees_a_version_without_its_files(store, tmp_path):
    """Until the publishing transaction commits, others see the old version; then the new one with its files.
    (On SQLite a savepoint taken before the transaction's first write committed the version row alone.)"""
    import time

    from crm_app.store import rule_versions
    files = versions.read_admin_files(checkout(tmp_path, "a"))
    assert versions.publish(store, files, "seed", "seed").version == 1
    with store.begin() as conn:
        number = rule_versions.add_version(conn, files, {"set_hash": "x"}, "ann", "m", "edit", time.time(), 1)
        with store.read() as other:  # another connection: another process's view
            assert rule_versions.latest_version(other) == 1
    with store.read() as other:
        assert rule_versions.latest_version(other) == number == 2
        assert rule_versions.version_files(other, 2) == files


def test_a_publisher_that_loses_the_race_for_a_number_is_refused_and_writes_nothing(store, tmp_path, monkeypatch):
    from crm_app.store import rule_versions
    files = versions.read_admin_files(checkout(tmp_path, "a"))
    assert versions.publish(store, files, "seed", "seed").version == 1
    assert versions.publish(store, files, "ann", "first", "edit", base=1).version == 2
    monkeypatch.setattr(rule_versions, "latest_version", lambda conn: 1)  # read before ann's commit
    refused = versions.publish(store, files, "bob", "second", "edit", base=1, audit_action="rules_published")
    assert refused.version is None and "published by someone else" in refused.errors[0]
    monkeypatch.undo()
    assert [(v["version"], v["author"]) for v in versions.history(store)] == [(2, "ann"), (1, "seed")]


def test_a_versions_patch_applies_to_a_git_checkout(store, tmp_path):
    repo = checkout(tmp_path, "repo")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    files = versions.read_admin_files(repo)
    assert versions.publish(store, files, "seed", "seed").version == 1
    edited = dict(files, **{"rules/conversion.yaml": _conversion((("pql: {threshold: 75", "pql: {threshold: 70"),)).encode(),
                            "lifecycle/upgraded.yaml": UPGRADED.encode()})
    del edited["playbooks/score_drop.yaml"]
    assert versions.publish(store, edited, "ann", "lower the bar", "edit", base=1).version == 2
    (tmp_path / "v2.patch").write_text(versions.version_patch(store, 2))
    subprocess.run(["git", "apply", str(tmp_path / "v2.patch")], cwd=repo, check=True, capture_output=True)
    assert versions.read_admin_files(repo) == edited


@pytest.mark.parametrize("path", ["../rules/x.yaml", "/etc/x.yaml", "rules/sub/x.yaml", "secrets/x.yaml", "x.yaml"])
def test_a_version_naming_a_file_outside_the_admin_folders_is_refused(path):
    files = versions.read_admin_files(ROOT)
    checked = versions.validate_files(dict(files, **{path: b"model: x\n"}))
    assert checked.specs is None and path in str(checked.errors[0])


def test_the_rules_page_shows_history_diff_and_a_rollback_with_its_impact_first(tmp_path):
    from crm_app import create_app
    from tests.dashboard_helpers import demo_workspace, sandbox_env, scored_as_of
    env = sandbox_env(tmp_path)
    try:
        config, _ = demo_workspace(tmp_path, people=150, dashboard_admin_password="admin-pw")
        app = create_app(config)
        store = app.config["PQL_STORE"]
        app.config["PQL_NOW"] = scored_as_of(store)
        client = app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").text).group(1)
        client.post("/dashboard/login", data={"user": "admin", "password": "admin-pw", "csrf_token": token})
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/thresholds").text).group(1)
        saved = client.post("/dashboard/thresholds?model=conversion", data={
            "high": "70", "medium": "40", "pql": "20", "min_fit": "0", "message": "more PQLs", "csrf_token": token})
        assert saved.status_code == 302, saved.text
        page = client.get("/dashboard/rules").text
        row = re.search(r'<tr data-version="2">.*?</tr>', page, re.S).group(0)
        assert "admin" in row and "more PQLs" in row and "active" in row

        diff = client.get("/dashboard/rules/diff?a=1&b=2").text
        assert "+pql: {threshold: 20, min_fit: 0}" in unescape(diff) and 'id="impact"' in diff

        preview = client.get("/dashboard/rules/rollback/1")
        cells = re.search(r"<td>conversion</td>(.*?)</tr>", preview.text, re.S).group(1)
        stop_pql = int(re.findall(r'<td class="num neg">([\d,]+)</td>', cells)[0].replace(",", ""))
        assert stop_pql > 0  # going back to 75 ends the PQLs the lower bar made, shown before anything applies
        assert "-pql: {threshold: 20, min_fit: 0}" in unescape(preview.text)
        assert versions.active_version(store)[0] == 2
        rolled = client.post("/dashboard/rules/rollback/1", data={"base": "2", "csrf_token": token})
        assert rolled.status_code == 302
        number, files = versions.active_version(store)
        assert number == 3 and files == versions.version_files(store, 1)
        latest = versions.history(store, 1)[0]
        assert (latest["author"], latest["kind"], latest["replaces"]) == ("admin", "rollback", 2)
        entry = next(e for e in _audit(store) if e["action"] == "rules_rolled_back")
        assert entry["actor"] == "admin" and entry["detail"]["to"] == 1 and entry["detail"]["version"] == 3
        store.dispose()
    finally:
        env.__exit__(None, None, None)


def test_refused_seed_files_are_judged_once_and_published_once_fixed(sqlite_store, tmp_path):
    from crm_app.config import Config
    from crm_app.services.admin.rule_reload import RuleHolder
    root = checkout(tmp_path, "broken")
    good = (root / "rules" / "conversion.yaml").read_text()
    (root / "rules" / "conversion.yaml").write_text(good.replace("bands:", "bandz:"))
    holder = RuleHolder(sqlite_store, Config.from_env({}, specs_root=str(root)).spec_dirs)
    first = holder.check()
    assert first.changed and not first.applied and any("bandz" in e for e in first.errors)
    again = holder.check()
    assert not again.changed and again.errors == first.errors and versions.history(sqlite_store) == []
    (root / "rules" / "conversion.yaml").write_text(good)
    fixed = holder.check()
    assert fixed.applied and fixed.version == 1 and not holder.refused


def test_the_dashboard_sees_another_processs_version_within_its_poll_interval(app, client):
    from crm_app.services.dashboard.auth import issue_one_time_password
    store = app.config["PQL_STORE"]
    app.config["PQL_SPECS_POLL_SECONDS"] = 0.5
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").text).group(1)
    client.post("/dashboard/login", data={"user": "admin", "password": issue_one_time_password(store),
                                          "csrf_token": token})
    assert 'id="rules-version">1<' in client.get("/dashboard/rules").text
    number, files = versions.active_version(store)
    edited = dict(files, **{"rules/conversion.yaml": files["rules/conversion.yaml"] + b"\n# from another machine\n"})
    assert versions.publish(store, edited, "ci", "from CI", base=number).version == 2  # as `rules publish` elsewhere
    wait_for(lambda: 'id="rules-version">2<' in client.get("/dashboard/rules").text, seconds=5)
