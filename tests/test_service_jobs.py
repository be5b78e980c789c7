"""The worker's jobs, their records in status and /readyz, the scheduler lease, and the secrets rule."""
from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm_app.config import Config
from crm_app.errors import ConfigError
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.ops.jobs import JOBS, JOBS_BY_NAME, JobContext, run_job
from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.services.ops.service_status import service_status
from crm_app.store import ops as ops_store
from crm_app.store import rule_versions
from crm_app.store import schema
from crm_app.worker import Worker, trigger_for
from tests.conftest import ROOT


def context(store, env: dict | None = None) -> JobContext:
    config = Config.from_env({}, database_url=store.url, specs_root=str(ROOT))
    sandbox = store.url.rsplit("/", 1)[-1].replace(".db", "") + "-crm.db"
    env = env or {"SCORE_WORKERS": "1", "CRM_SANDBOX_PATH": str(Path(tempfile.gettempdir()) / sandbox)}
    return JobContext(store, config, RuleHolder(store, config.spec_dirs), env=env)


def track(user: str, n: int, event: str = "Invite Sent") -> list[dict]:
    return [{"type": "track", "userId": user, "event": event, "messageId": f"{user}-{event}-{i}",
             "timestamp": "2026-11-20T10:00:00Z"} for i in range(n)]


def test_every_job_of_the_issue_is_registered():
    assert {j.name for j in JOBS} == {"reload_rules", "score_changed", "crm_sync", "write_back", "playbooks",
                                      "full_rescore", "snapshot", "digests", "score_now",
                                      "retrain_models"}


@pytest.mark.parametrize("setting,value,message", [
    ("SCORE_CHANGED_SECONDS", "soon", "expected a number of seconds"),
    ("SCORE_CHANGED_SECONDS", "0", "expected a number of seconds, more than 0"),
    ("FULL_RESCORE_AT", "25:00", "expected a UTC time as HH:MM"),
    ("SNAPSHOT_AT", "noon", "expected a UTC time as HH:MM"),
])
def test_a_bad_schedule_setting_is_a_clear_error(setting, value, message):
    job = next(j for j in JOBS if j.setting == setting)
    with pytest.raises(ConfigError, match=message) as info:
        trigger_for(job, {setting: value})
    assert setting in str(info.value)


def test_scheduler_uses_coalesce_one_instance_and_the_misfire_grace(sqlite_store):
    config = Config.from_env({}, database_url=sqlite_store.url, specs_root=str(ROOT))
    worker = Worker(config, store=sqlite_store, env={"MISFIRE_GRACE_SECONDS": "42", "SCORE_CHANGED_SECONDS": "7"})
    worker.scheduler.start(paused=True)  # job defaults are applied when the scheduler starts
    job = worker.scheduler.get_job("score_changed")
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 42)
    assert job.trigger.interval.total_seconds() == 7
    daily = worker.scheduler.get_job("full_rescore")
    assert str(daily.trigger.fields[5]) == "3" and str(daily.trigger.fields[6]) == "0"  # hour, minute
    worker.scheduler.shutdown(wait=False)


def test_score_changed_scores_queued_people_and_records_the_run(store):
    ctx = context(store)
    ingest_messages(store, track("ann", 3) + track("bob", 1), "test")
    run = run_job(ctx, JOBS_BY_NAME["score_changed"])
    assert run["outcome"] == "ok" and run["detail"]["scored"] == 2
    with store.read() as conn:
        hashes = set(conn.execute(select(schema.results.c.rules_hash)).scalars())
        assert ops_store.dirty_count(conn) == 0
    assert hashes == {ctx.rules.specs.rules.hash}
    with store.read() as conn:  # the hash on every result leads back to the rule files that produced it
        files = ops_store.rule_set_applied(conn, ctx.rules.specs.rules.hash)["files"]
        assert files == sorted(p for p in rule_versions.version_files(conn, ctx.rules.version) if p.startswith("rules/"))
        assert rule_versions.versions_of_rules_hash(conn, ctx.rules.specs.rules.hash) == [ctx.rules.version]
    assert run_job(ctx, JOBS_BY_NAME["score_changed"])["outcome"] == "idle"
    last = service_status(store)["jobs"]["score_changed"]["last"]
    assert last["outcome"] == "idle" and last["runs"] == 2 and last["failures"] == 0


def hot_lead(user: str, account: str) -> list[dict]:
    """Messages that make a person a PQL under the default rules (ICP account, senior title, key actions)."""
    now = datetime.now(timezone.utc)
    events = ["Onboarding Completed", "Invite Sent", "Integration Connected", "Report Created",
              "Dashboard Created"] + ["Logged In"] * 6
    return [{"type": "group", "userId": user, "groupId": account, "messageId": f"{user}-g",
             "traits": {"name": account.title(), "industry": "Software", "employees": 120}},
            {"type": "identify", "userId": user, "messageId": f"{user}-i", "context": {"groupId": account},
             "traits": {"email": f"{user}@{account}.io", "title": "VP Engineering"}}] + [
        {"type": "track", "userId": user, "event": e, "messageId": f"{user}-e{i}",
         "timestamp": (now - timedelta(hours=2 + i)).strftime("%Y-%m-%dT%H:%M:%SZ")} for i, e in enumerate(events)]


def crm_rows(path, sql: str) -> list:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_playbooks_job_routes_tasks_and_alerts_once(store, tmp_path):
    from crm_app.services.ops.demo_crm import seed_sandbox_from_store
    ctx = context(store, {"SCORE_WORKERS": "1", "CRM_SANDBOX_PATH": str(tmp_path / "crm.db")})
    ingest_messages(store, hot_lead("ann", "acme") + track("bob", 1), "t")
    seed_sandbox_from_store(store, tmp_path / "crm.db", ctx.rules.require().fields, ROOT / "mapping" / "crm.yaml")
    for name in ("crm_sync", "score_changed", "write_back"):
        assert run_job(ctx, JOBS_BY_NAME[name])["outcome"] == "ok", name
    run = run_job(ctx, JOBS_BY_NAME["playbooks"])
    assert run["outcome"] == "ok" and run["api_calls"] >= 1
    with store.read() as conn:  # assign, create_task, slack_alert, each once in the ledger
        ledger = schema.metadata.tables["pb_ledger"]
        assert conn.execute(select(func.count()).select_from(ledger)).scalar() == 3
    assert len(crm_rows(tmp_path / "crm.db", "SELECT id FROM tasks")) == 1
    again = run_job(ctx, JOBS_BY_NAME["playbooks"])
    assert again["outcome"] == "idle"
    assert len(crm_rows(tmp_path / "crm.db", "SELECT id FROM tasks")) == 1
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(schema.metadata.tables["slack_outbox"])).scalar() == 1


def test_sync_score_and_write_back_against_the_sandbox_crm(store, tmp_path):
    """The worker's CRM jobs call the CRM services; an unchanged world then costs zero API calls."""
    from crm_app.services.ops.demo_crm import seed_sandbox_from_store
    ctx = context(store, {"SCORE_WORKERS": "1", "CRM_SANDBOX_PATH": str(tmp_path / "crm.db")})
    ingest_messages(store, [{"type": "identify", "userId": f"p{i}", "messageId": f"id-{i}",
                             "traits": {"email": f"p{i}@acme.io", "title": "VP Data"}} for i in range(6)], "t")
    seed_sandbox_from_store(store, tmp_path / "crm.db", ctx.rules.require().fields, ROOT / "mapping" / "crm.yaml")
    assert run_job(ctx, JOBS_BY_NAME["crm_sync"])["outcome"] == "ok"
    assert run_job(ctx, JOBS_BY_NAME["score_changed"])["detail"]["scored"] == 6
    assert run_job(ctx, JOBS_BY_NAME["write_back"])["detail"]["written"] == 6
    ingest_messages(store, track("p1", 3) + track("p2", 1, "Integration Connected"), "t")
    assert run_job(ctx, JOBS_BY_NAME["score_changed"])["detail"]["scored"] == 2
    pushed = run_job(ctx, JOBS_BY_NAME["write_back"])
    assert pushed["outcome"] == "ok" and pushed["detail"]["written"] == 2 and pushed["api_calls"] >= 1
    again = run_job(ctx, JOBS_BY_NAME["write_back"])
    assert again["outcome"] == "idle" and again["api_calls"] == 0
    status = service_status(store)["jobs"]
    assert status["write_back"]["last"]["runs"] == 3 and status["crm_sync"]["last"]["outcome"] == "ok"


def test_a_failing_job_is_recorded_logged_as_one_json_line_and_does_not_raise(sqlite_store, caplog, tmp_path):
    ctx = context(sqlite_store)
    ctx.rules = RuleHolder(sqlite_store, Config.from_env({}, specs_root=str(tmp_path)).spec_dirs)  # no rules
    ingest_messages(sqlite_store, track("ann", 1), "test")
    with caplog.at_level(logging.INFO, logger="crm_app.jobs"):
        run = run_job(ctx, JOBS_BY_NAME["score_changed"])
    assert run["outcome"] == "failed" and "SpecSetInvalid" in run["error"]
    from crm_app.logs import json_formatter
    line = json.loads(json_formatter().format(caplog.records[-1]))
    assert line["job"] == "score_changed" and line["outcome"] == "failed" and "seconds" in line
    assert service_status(sqlite_store)["jobs"]["score_changed"]["last"]["failures"] == 1


def test_full_rescore_and_snapshot(store):
    ctx = context(store)
    ingest_messages(store, track("ann", 2) + track("bob", 5, "Report Created"), "test")
    assert run_job(ctx, JOBS_BY_NAME["full_rescore"])["detail"]["scored"] == 2
    run = run_job(ctx, JOBS_BY_NAME["snapshot"])
    assert run["outcome"] == "ok" and run["detail"]["rows"] >= 1
    with store.read() as conn:
        people = conn.execute(select(func.sum(ops_store.score_snapshots.c.people))
                              .where(ops_store.score_snapshots.c.model == "conversion")).scalar()
    assert people == 2


def test_the_lease_has_one_holder_and_passes_on_after_expiry_or_release(store):
    with store.begin() as conn:
        assert ops_store.try_lease(conn, "scheduler", "a", 30, now=1000)
        assert not ops_store.try_lease(conn, "scheduler", "b", 30, now=1010)
        assert ops_store.try_lease(conn, "scheduler", "a", 30, now=1020)  # renewal
        assert not ops_store.try_lease(conn, "scheduler", "b", 30, now=1049)
        assert ops_store.try_lease(conn, "scheduler", "b", 30, now=1051)  # a stopped renewing
        assert not ops_store.try_lease(conn, "scheduler", "a", 30, now=1052)
        ops_store.release_lease(conn, "scheduler", "b")
        assert ops_store.try_lease(conn, "scheduler", "a", 30, now=1053)
        assert ops_store.lease_state(conn, "scheduler")["holder"] == "a"


def test_readyz_and_status_show_jobs_and_the_scheduler(app, client, runner):
    store = app.config["PQL_STORE"]
    with store.begin() as conn:
        ops_store.try_lease(conn, "scheduler", "host-1:42", 30)
    run_job(context(store), JOBS_BY_NAME["reload_rules"])
    body = client.get("/readyz", headers={"Authorization": "Bearer test-readyz-token"}).get_json()
    assert body["ready"] and body["scheduler"]["holder"] == "host-1:42" and body["scheduler"]["live"]
    assert body["jobs"]["reload_rules"]["last"]["outcome"] == "ok"
    assert body["rule_sets"]["active"]["hash"]
    code, out, _ = runner("status")
    assert code == 0 and "scheduler: held by host-1:42" in out and "job reload_rules: ok" in out


@pytest.mark.parametrize("env,missing", [
    ({}, "WRITE_KEY, DASHBOARD_ADMIN_PASSWORD"),
    ({"WRITE_KEY": "k"}, "set DASHBOARD_ADMIN_PASSWORD in"),
    ({"DASHBOARD_ADMIN_PASSWORD": "p"}, "set WRITE_KEY in"),
])
def test_the_procfile_app_refuses_to_start_without_secrets(monkeypatch, tmp_path, env, missing):
    from crm_app import create_app
    for name in ("WRITE_KEY", "SECRET_KEY", "DASHBOARD_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/s.db")
    with pytest.raises(ConfigError, match=missing):
        create_app()


def test_the_procfile_app_starts_with_secrets_and_never_shows_them(monkeypatch, tmp_path):
    from crm_app import create_app
    from crm_app.config import REQUIRED_OUTSIDE_EMBEDDED
    for name in REQUIRED_OUTSIDE_EMBEDDED:
        monkeypatch.setenv(name, f"s3cret-{name}")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/s.db")
    app = create_app()
    assert "s3cret" not in repr(app.config["PQL_CONFIG"])
    app.config["PQL_STORE"].dispose()


def test_serve_on_a_public_address_needs_the_secrets(runner, monkeypatch):
    monkeypatch.delenv("WRITE_KEY", raising=False)
    code, _, err = runner("serve", "--host", "0.0.0.0", "--port", "0")
    assert code == 2 and "WRITE_KEY" in err


def test_a_full_rescore_keeps_people_marked_while_it_runs(store, default_rules):
    """An event arriving mid-run for someone already scored keeps them queued for the fast path."""
    from crm_app.services.scoring.run import score
    ingest_messages(store, track("ann", 1) + track("bob", 1), "test")
    arrived = []

    def event_arrives(_people: int) -> None:
        if not arrived:
            arrived.append(ingest_messages(store, track("ann", 1, "Report Created"), "test"))

    score(store, default_rules, 1_795_000_000, mode="full", chunk=1, workers=1, progress=event_arrives)
    assert arrived and arrived[0].accepted == 1
    with store.read() as conn:
        assert ops_store.dirty_count(conn) == 1
