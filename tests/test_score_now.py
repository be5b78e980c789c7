""""Score everyone now" from the dashboard is a request the worker runs as its `score_now` job, with progress the
thresholds page polls; the web request itself scores nobody. On SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from crm_app.config import Config
from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.ops.jobs import JOBS_BY_NAME, JobContext, run_job
from crm_app.store import ops as ops_store
from crm_app.store import schema
from tests.conftest import ROOT

PEOPLE = 1200


def people(n: int) -> list:
    return [{"type": "track", "userId": f"p{i}", "event": "Report Created", "messageId": f"sn-{i}",
             "timestamp": "2026-11-20T10:00:00Z"} for i in range(n)]


@pytest.fixture
def site(store):
    from crm_app import create_app
    config = Config.from_env({}, database_url=store.url, specs_root=str(ROOT), write_key="k",
                             dashboard_admin_password="admin-pw")
    app = create_app(config, store=store)
    app.config.update(TESTING=True)
    ingest_messages(store, people(PEOPLE), "test")
    return app, config, store


def signed_in(app):
    client = app.test_client()
    page = client.get("/dashboard/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/dashboard/login", data={"user": "admin", "password": "admin-pw",
                                                 "csrf_token": token}).status_code == 302
    page = client.get("/dashboard/thresholds?model=conversion").text  # the session, and its token, are new
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def results(store) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(schema.results)).scalar()


def worker_context(config, store) -> JobContext:
    return JobContext(store, config, RuleHolder(store, config.spec_dirs), env={"SCORE_WORKERS": "1"})


def test_the_request_only_queues_and_the_worker_scores_with_progress(site, monkeypatch):
    app, config, store = site
    client, token = signed_in(app)
    assert client.get("/dashboard/score-now/status").json is None
    first = client.post("/dashboard/score-now", data={"csrf_token": token, "back": "/dashboard/thresholds"})
    second = client.post("/dashboard/score-now", data={"csrf_token": token, "back": "/dashboard/thresholds"})
    assert first.status_code == second.status_code == 302
    assert results(store) == 0, "the web request scored people itself"
    queued = client.get("/dashboard/score-now/status").json
    assert queued["state"] == "queued" and queued["requested_by"] == "admin" and "waiting for the worker" in \
        queued["text"]
    page = client.get("/dashboard/thresholds?model=conversion").text
    assert 'id="score-now-status"' in page and 'data-state="queued"' in page

    seen = []
    original = ops_store.record_progress
    monkeypatch.setattr(ops_store, "record_progress",
                        lambda conn, rid, done, total: (seen.append((done, total)), original(conn, rid, done, total)))
    run = run_job(worker_context(config, store), JOBS_BY_NAME["score_now"])
    assert run["outcome"] == "ok" and run["detail"]["scored"] == PEOPLE
    assert seen[0] == (0, PEOPLE) and seen[-1] == (PEOPLE, PEOPLE)
    assert len({done for done, _ in seen}) >= 3, f"progress in steps, not one jump: {seen}"
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert results(store) >= PEOPLE
    done = client.get("/dashboard/score-now/status").json
    assert done["state"] == "done" and done["done"] == done["total"] == PEOPLE
    assert done["text"].startswith(f"Scored {PEOPLE:,} people in ")
    with store.read() as conn:  # both clicks became one request
        assert conn.execute(select(func.count()).select_from(ops_store.job_requests)).scalar() == 1
    assert run_job(worker_context(config, store), JOBS_BY_NAME["score_now"])["outcome"] == "idle"


def test_a_request_cut_off_mid_run_is_taken_again(site):
    app, config, store = site
    with store.begin() as conn:
        request_id, _ = ops_store.request_job(conn, "score_now", "admin")
        assert ops_store.claim_request(conn, "score_now", "crashed-host:1")["state"] == "running"
    run = run_job(worker_context(config, store), JOBS_BY_NAME["score_now"])
    assert run["outcome"] == "ok" and run["detail"]["request"] == request_id
    with store.read() as conn:
        assert ops_store.request_state(conn, request_id)["state"] == "done"


def test_a_failed_run_says_why_on_the_page(site, monkeypatch):
    from crm_app.services.ops import jobs

    def lost_store(*args, **kwargs):
        raise RuntimeError("the store went away mid-run")
    app, config, store = site
    client, token = signed_in(app)
    client.post("/dashboard/score-now", data={"csrf_token": token})
    monkeypatch.setattr(jobs, "score", lost_store)
    run = run_job(worker_context(config, store), JOBS_BY_NAME["score_now"])
    assert run["outcome"] == "failed"
    status = client.get("/dashboard/score-now/status").json
    assert status["state"] == "failed" and status["text"] == "Scoring failed: RuntimeError: the store went away mid-run"
