"""The dashboard in a real browser: Debian's chromium driven by Playwright, one end-to-end admin flow.

Screenshots of every page land in test-artifacts/dashboard/ for a human to look at.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.dashboard_helpers import LiveServer, copied_workspace, sandbox_env, scored_as_of, train_backtest_and_publish

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); browser tests need it")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


SETTINGS = {"dashboard_manager_password": "manager-pw"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, worker_id):
    """A 400-person demo workspace with a trained lifecycle model and a backtest, all published, served live."""
    from crm_app import create_app
    config, password = copied_workspace(tmp_path_factory, worker_id, 400, then=train_backtest_and_publish,
                                        **SETTINGS)
    env = sandbox_env(Path(config.specs_root))
    app = create_app(config)
    app.config["PQL_NOW"] = scored_as_of(app.config["PQL_STORE"])
    with LiveServer(app) as server:
        yield server, app, config, password
    app.config["PQL_STORE"].dispose()
    env.__exit__(None, None, None)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page, base: str, user: str, password: str) -> None:
    page.goto(base + "/dashboard/")
    assert "/dashboard/login" in page.url
    page.fill("#user", user)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_admin_flow_login_search_explain_tune_and_save(browser, site):
    from crm_app.services.dashboard.overview import threshold_preview
    from crm_app.services.scoring.explain import explain_person
    from crm_app.specs.loader import load_spec_set
    from crm_app.store.dashboard.queries import pql_count
    server, app, config, password = site
    store, as_of = app.config["PQL_STORE"], app.config["PQL_NOW"]
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))

    shot_login = browser.new_page(viewport={"width": 1000, "height": 700})
    shot_login.goto(server.url + "/dashboard/login")
    shot(shot_login, "01-login")
    shot_login.close()

    # 1. Log in with the demo's one-time password; the overview shows the stored band counts.
    login(page, server.url, "admin", password)
    page.wait_for_selector("#histogram")
    with store.read() as conn:
        from crm_app.store.scoring.results import band_counts
        bands = band_counts(conn, "conversion")
        pqls_before = pql_count(conn, "conversion")
    for band in ("high", "medium", "low"):
        assert page.inner_text(f"[data-band={band}] .n").replace(",", "") == str(bands.get(band, 0))
    assert page.inner_text("#pql-count").replace(",", "") == str(pqls_before)
    assert page.evaluate("Chart.getChart('histogram').data.datasets.length") == 3
    shot(page, "02-overview")

    # 2. Search for a person and open their page: the reasons shown are the engine's.
    rules = load_spec_set(config.spec_dirs).rules
    from crm_app.services.scoring.explain import find_person
    target = find_person(store, "u000002")
    with store.read() as conn:
        from crm_app.store.dashboard.queries import person_with_account
        email = person_with_account(conn, target)["email"]
    page.click("nav >> text=People")
    shot(page, "03-people")
    page.fill("#q", email)
    page.click("#people-filters button[type=submit]")
    page.click(f"#people-table tr:has-text('{email}') a")
    page.wait_for_selector(".reasons")
    shown = [(row.query_selector(".text").inner_text(), row.query_selector(".points").inner_text())
             for row in page.query_selector_all("[data-model=conversion] tr.reason")]
    (_, _, result), = [x for x in explain_person(store, rules, target, as_of) if x[0].name == "conversion"]
    assert shown == [(r.text, f"{r.points:+d}") for r in result.reasons] and shown
    assert page.inner_text("[data-model=conversion] [data-score=combined]") == str(result.combined)
    shot(page, "04-person")

    # 3. Move the PQL threshold: the preview numbers follow, and equal the service's.
    page.click("nav >> text=Thresholds")
    before = page.inner_text("#p-become_pql")
    new_threshold = 55
    page.fill("#pql", str(new_threshold))
    page.dispatch_event("#pql", "input")
    page.wait_for_function(f"() => document.getElementById('p-become_pql').textContent !== '{before}'")
    expected = threshold_preview(store, "conversion", 70, 40, new_threshold, 0)
    page.wait_for_function(f"() => document.getElementById('p-pqls').textContent === '{expected['pqls']:,}'")
    assert page.inner_text("#p-become_pql").replace(",", "") == str(expected["become_pql"]) != "0"
    # The backtested lift follows the threshold, and equals the backtest figures at that threshold.
    from crm_app.services.dashboard.models import lift_at
    page.click("#compute-lift")
    page.wait_for_selector(f"#lift[data-threshold='{new_threshold}']")
    stats = lift_at(store, load_spec_set(config.spec_dirs), "conversion", new_threshold)
    assert page.inner_text("#l-lift") == (f"{stats['lift']:.2f}x" if stats["lift"] is not None else "—")
    page.fill("#pql", "80")
    page.dispatch_event("#pql", "input")
    page.wait_for_selector("#lift[data-threshold='80']")
    page.fill("#pql", str(new_threshold))
    page.dispatch_event("#pql", "input")
    page.wait_for_selector(f"#lift[data-threshold='{new_threshold}']")
    page.wait_for_function(f"() => document.getElementById('p-pqls').textContent === '{expected['pqls']:,}'")
    shot(page, "05-thresholds-preview")

    # 4. Save: a new version by the admin (the checkout is untouched); after a scoring cycle the scores follow.
    from crm_app.services.admin import versions
    on_disk = (Path(config.specs_root) / "rules" / "conversion.yaml").read_text()
    page.click("#save-thresholds")
    page.wait_for_selector(".flash.ok")
    assert (Path(config.specs_root) / "rules" / "conversion.yaml").read_text() == on_disk
    version, files = versions.active_version(store)
    text = files["rules/conversion.yaml"].decode()
    assert f"pql: {{threshold: {new_threshold}, min_fit: 0}}" in text and versions.history(store, 1)[0]["author"] == "admin"
    assert versions.validate_files(files).specs.rules.model("conversion").pql.threshold == new_threshold
    page.click("#score-now")  # queues it for the worker; the page polls its progress
    page.wait_for_selector(".flash.ok >> text=Queued")
    assert page.get_attribute("#score-now-status", "data-state") == "queued"
    from crm_app.services.admin.rule_reload import RuleHolder
    from crm_app.services.ops.jobs import JOBS_BY_NAME, JobContext, run_job
    worker = JobContext(store, config, RuleHolder(store, config.spec_dirs), env={"SCORE_WORKERS": "1"})
    assert run_job(worker, JOBS_BY_NAME["score_now"])["outcome"] == "ok"
    page.wait_for_selector("#score-now-status[data-state=done]")
    assert page.inner_text("#score-now-text").startswith("Scored ")
    with store.read() as conn:
        pqls_after = pql_count(conn, "conversion")
    assert pqls_after == pqls_before + expected["become_pql"] - expected["stop_pql"] > pqls_before
    page.click("nav >> text=Overview")
    page.wait_for_selector("#histogram")
    assert page.inner_text("#pql-count").replace(",", "") == str(pqls_after)
    shot(page, "06-overview-after-save")

    # 4b. The audit log shows the threshold change, with its author.
    page.click("nav >> text=Audit log")
    row = page.wait_for_selector("#audit tr[data-action=thresholds_changed]")
    assert "admin" in row.inner_text() and f"pql: 75 → {new_threshold}" in row.inner_text()
    shot(page, "06b-audit-log")

    # 5. The rules page shows firing rates and previews an edited file's impact without applying it.
    page.click("nav >> text=Rules")
    page.wait_for_selector("tr[data-rule=invited_teammates]")
    assert "the active version" in page.inner_text("#scoring-state")  # scored with the saved version
    original = page.input_value("textarea")
    page.fill("textarea", original.replace("points: 25\n    when: {event: Invite Sent", "points: 60\n    when: {event: Invite Sent"))
    page.click("#preview-rules")
    page.wait_for_selector("#impact")
    assert int(page.inner_text("#impact tr:nth-child(2) td:nth-child(4)").replace(",", "")) > 0
    movers = page.query_selector_all("#impact-people tbody tr")  # who changes, with before and after
    assert movers and any("PQL" in row.inner_text() for row in movers)
    assert versions.active_version(store)[0] == version  # not applied
    shot(page, "07-rules-impact")
    page.fill("textarea", original.replace("points: 25\n    when: {event: Invite Sent", "pionts: 25\n    when: {event: Invite Sent"))
    page.click("#preview-rules")
    page.wait_for_selector(".errors >> text=conversion.yaml")
    assert "did you mean 'points'" in page.inner_text(".errors")
    error_line = re.search(r"conversion\.yaml:(\d+)", page.inner_text(".errors")).group(1)
    marked = [line.inner_text().strip() for line in page.query_selector_all(".editor .gutter .error")]
    assert error_line in marked  # a marker sits on the cited line
    shot(page, "08-rules-error")

    # 6. Models: indicators ranked by lift expand into a breakdown chart; one can be excluded and retrained.
    page.click("nav >> text=Models")
    first = page.wait_for_selector("details.indicator")
    name = first.get_attribute("data-indicator")
    first.query_selector("summary").click()
    page.wait_for_function("() => document.querySelector('details.indicator canvas').dataset.drawn === '1'")
    shot(page, "09-models")
    first.query_selector("button").click()
    page.wait_for_selector(f".flash.ok >> text=Excluded {name}")
    assert name not in [d.get_attribute("data-indicator") for d in page.query_selector_all("details.indicator")]
    assert name in page.inner_text("[data-lifecycle=upgraded]")  # listed as excluded

    # 7. Backtest: conversion by bucket for both rule sets, side by side; the overview shows the health flags.
    page.click("nav >> text=Backtest")
    page.wait_for_selector("[data-backtest=conversion] canvas")
    assert page.evaluate("Chart.getChart('bt-conversion').data.datasets.map(d => d.label)") == ["live", "edited"]
    assert page.inner_text("[data-backtest=conversion] tr:nth-child(2) td:nth-child(3)") == "60"
    shot(page, "10-backtest")
    page.click("nav >> text=Overview")
    page.wait_for_selector("#monitoring tr[data-check=pql_volume]")
    shot(page, "11-overview-health")

    # 8. Integrations: the sandbox CRM the demo filled, its API calls, and the field check.
    page.click("nav >> text=Integrations")
    page.wait_for_selector("#crm-name >> text=sandbox")
    calls_before = int(page.inner_text("#calls-today").replace(",", ""))
    assert calls_before > 0  # the demo provisioned and wrote back through the adapter
    page.click("#check-fields")
    page.wait_for_selector("#fields tr[data-field] >> text=ok")
    assert int(page.inner_text("#calls-today").replace(",", "")) > calls_before  # the check is accounted
    shot(page, "13-integrations")

    # 9. Activity: "Not a fit" on an outbox alert goes through the Slack button's handler; the feedback is stored.
    from crm_app.store.playbooks.alerts import false_positives
    page.click("nav >> text=Activity")
    alert = page.wait_for_selector(".slack[data-alert]:has(button[data-action=not_fit])")
    alert_id = int(alert.get_attribute("data-alert"))
    shot(page, "14-activity")
    alert.query_selector("input[name=detail]").fill("student side project")
    alert.query_selector("button[data-action=not_fit]").click()
    page.wait_for_selector(".flash.ok >> text=marked it not a fit (student side project)")
    with store.read() as conn:
        recorded = [f for f in false_positives(conn) if f["alert_id"] == alert_id]
    assert [(f["reason"], f["by"]) for f in recorded] == [("student side project", "admin")]
    from crm_app.services.dashboard.users import audit_entries
    click = audit_entries(store, 1, "alert_button")[0]  # who clicked which button on which alert
    assert (click["actor"], click["target"], click["detail"]["action"], click["detail"]["via"]) == \
        ("admin", f"alert {alert_id}", "not_fit", "dashboard")
    assert page.inner_text("#false-positives") == "1"
    person_id = recorded[0]["subject_id"]
    page.goto(f"{server.url}/dashboard/people/{person_id}")
    assert "student side project" in page.inner_text("#actions [data-feedback]")
    assert page.query_selector_all("#actions tr")  # the playbook actions that led to the alert
    shot(page, "16-person-with-actions")
    page.goto(f"{server.url}/dashboard/activity")
    assert "marked it not a fit" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "15-activity-not-a-fit.png"))  # the top: the flash and the counts
    assert not errors, errors


def test_manager_sees_but_cannot_save(browser, site):
    server, app, config, _ = site
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    login(page, server.url, "manager", "manager-pw")
    page.click("nav >> text=Thresholds")
    assert page.is_disabled("#save-thresholds")
    assert page.query_selector("#score-now") is None
    shot(page, "12-thresholds-manager")
    page.click("nav >> text=Rules")
    assert page.is_disabled("#apply-rules")


def page_urls(app, store) -> list[tuple[str, str]]:
    """(endpoint, URL) of every HTML page of the dashboard, from the Flask routes; ids come from the demo's store:
    a PQL person, the account with the most people, the first published rule version."""
    from flask import url_for
    from sqlalchemy import func, select

    from crm_app.services.admin import versions
    from crm_app.store import schema
    p, r = schema.people, schema.results
    with store.read() as conn:
        person = conn.execute(select(p.c.id).join(r, (r.c.subject_id == p.c.id) & (r.c.model == "conversion"))
                              .where(r.c.pql.is_(True)).order_by(p.c.id).limit(1)).scalar()
        account = conn.execute(select(p.c.account_id).where(p.c.account_id.is_not(None)).group_by(p.c.account_id)
                               .order_by(func.count().desc(), p.c.account_id).limit(1)).scalar()
    active = versions.active_version(store)[0]
    values = {"person_id": person, "account_id": account, "number": 1}
    query = {"dashboard.rules_diff": {"a": 1, "b": active}}  # its versions come as query arguments
    out = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            endpoint = rule.endpoint
            if (not endpoint.startswith("dashboard.") or "GET" not in rule.methods or endpoint == "dashboard.static"
                    or "login" in endpoint or "sso" in endpoint):  # signing in is not a page of content
                continue
            args = {name: values[name] for name in rule.arguments}
            out.append((endpoint, url_for(endpoint, **args, **query.get(endpoint, {}))))
    return out


def test_every_dashboard_page_shows_content_after_the_demo(browser, site):
    from crm_app.services.dashboard.users import add_user
    server, app, _, _ = site
    add_user(app.config["PQL_STORE"], "visitor", "visitor-password", "admin")  # the demo's password was used once
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server.url, "visitor", "visitor-password")
    page.wait_for_selector("#histogram")
    visited = []
    for endpoint, url in page_urls(app, app.config["PQL_STORE"]):
        head = page.request.get(server.url + url)  # the page's session: a download or JSON is not a page
        if not head.headers.get("content-type", "").startswith("text/html"):
            continue
        assert head.ok, f"{url}: HTTP {head.status}"
        response = page.goto(server.url + url)
        assert response.ok and "/login" not in page.url, url
        empty = [e.inner_text() for e in page.query_selector_all(".empty")]
        assert not empty, f"{url} shows an empty state: {empty}"
        assert page.inner_text("main" if page.query_selector("main") else "body").strip()
        visited.append(endpoint)
    page.goto(server.url + "/dashboard/people?q=no-such-person-anywhere")  # what an empty state looks like
    assert page.query_selector_all(".empty"), "the empty-state marker is missing: this test could not fail"
    assert {"dashboard.overview", "dashboard.people", "dashboard.person", "dashboard.accounts", "dashboard.account",
            "dashboard.models", "dashboard.backtest", "dashboard.activity", "dashboard.integrations",
            "dashboard.rules_page", "dashboard.thresholds", "dashboard.audit", "dashboard.users_page",
            "dashboard.rules_diff", "dashboard.rules_rollback_preview"} <= set(visited), visited
    assert not errors, errors
