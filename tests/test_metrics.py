"""GET /metrics: prometheus_client's text format, summed over gunicorn's workers (multiprocess mode), with ingest,
scoring, CRM, playbook/Slack and job metrics. Every log line of the demo and of the servers is one JSON object.

The servers are the real ones: the Procfile's `web:` gunicorn command (two workers) and `serve`."""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.test_hot_reload import wait_for

KEY = "metrics-key"


def scrape(base: str, token: str | None = None) -> dict:
    """{(sample name, sorted labels): value} of one scrape, parsed by prometheus_client's own parser."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(f"{base}/metrics", headers=headers), timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def post(base: str, batch: list) -> int:
    request = urllib.request.Request(f"{base}/v1/batch", json.dumps({"batch": batch}).encode(), {
        "Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def track(i: int) -> dict:
    return {"type": "track", "userId": f"m{i % 7}", "event": "Report Created", "messageId": f"metrics-{i}",
            "timestamp": "2026-11-20T10:00:00Z"}


def environment(tmp_path, **extra) -> dict:
    return dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/var/pql.db", SPECS_ROOT=str(ROOT),
                CRM_SANDBOX_PATH=str(tmp_path / "var" / "crm.db"), PYTHONPATH=str(ROOT), WRITE_KEY=KEY,
                DASHBOARD_ADMIN_PASSWORD="metrics-admin", SCORE_WORKERS="1", **extra)


def assert_json_lines(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line!r}")
        assert isinstance(parsed[-1], dict) and {"ts", "level", "logger", "msg"} <= set(parsed[-1]), line
    return parsed


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def procfile_web(tmp_path, env: dict) -> tuple[subprocess.Popen, str]:
    """The Procfile's web: line, as a Procfile host runs it (PORT and WEB_CONCURRENCY=2 in the environment)."""
    line = (ROOT / "Procfile").read_text().split("web:", 1)[1].splitlines()[0].strip()
    assert line.startswith("gunicorn ")
    port = 20000 + os.getpid() % 20000
    proc = subprocess.Popen(["bash", "-c", f"exec {sys.executable} -m {line}"], env=dict(env, PORT=str(port),
                            WEB_CONCURRENCY="2"), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200
        except OSError:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            return False
    wait_for(up, seconds=60)
    return proc, base


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A demo workspace (people, scores, CRM write-back, playbook actions and alerts); its stderr must be JSON."""
    tmp = tmp_path_factory.mktemp("metrics")
    ran = subprocess.run([sys.executable, "-m", "crm_app", "demo", "--people", "80"], env=environment(tmp),
                         cwd=tmp, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return tmp, ran.stderr


def test_the_demo_logs_only_json(demo_store):
    assert_json_lines(demo_store[1])


def test_procfile_web_sums_ingest_over_its_workers_and_reads_the_rest_from_the_store(demo_store):
    tmp, _ = demo_store
    proc, base = procfile_web(tmp, environment(tmp, METRICS_TOKEN="scrape-me"))
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(base)
        assert refused.value.code == 401
        before = scrape(base, "scrape-me")
        statuses = [post(base, [track(i) for i in range(n * 10, n * 10 + 10)]) for n in range(12)]
        statuses.append(post(base, [track(1000), {"type": "track", "event": "no user"}]))  # 1 kept, 1 refused
        statuses.append(post(base, "not a list"))  # refused whole: 400
        assert statuses == [200] * 13 + [400]
        pids = set()
        for _ in range(8):  # scrapes land on either worker; each must see every worker's counts
            after = scrape(base, "scrape-me")
            pids.add(after.get(("process_start_time_seconds", ())))
            accepted = after[("pql_ingest_messages_total", (("outcome", "accepted"),))] - before.get(
                ("pql_ingest_messages_total", (("outcome", "accepted"),)), 0)
            assert accepted == 121
            assert after[("pql_ingest_messages_total", (("outcome", "rejected"),))] >= 1
            assert after[("pql_ingest_requests_total", (("endpoint", "batch"), ("status", "200")))] >= 13
            assert after[("pql_ingest_requests_total", (("endpoint", "batch"), ("status", "400")))] >= 1
            assert after[("pql_ingest_request_seconds_count", ())] >= 14
        # From the store: what the demo's scoring, CRM write-back and playbooks did, in this web process too.
        assert after[("pql_store_up", ())] == 1
        assert after[("pql_pqls", (("model", "conversion"),))] > 0
        assert after[("pql_scoring_runs_total", (("mode", "full"),))] >= 1
        assert sum(v for (name, labels), v in after.items() if name == "pql_crm_api_calls_total"
                   and dict(labels)["operation"] == "writeback") >= 1
        assert sum(v for (name, labels), v in after.items() if name == "pql_playbook_actions"
                   and dict(labels)["action"] == "slack_alert") >= 1
        assert sum(v for (name, _), v in after.items() if name == "pql_ingest_stored_messages_total") > 0
    finally:
        _, err = stop(proc)
    logs = assert_json_lines(err)
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["msg"] for line in logs)


def test_serve_runs_gunicorn_and_its_metrics_show_the_scheduler_jobs(demo_store):
    tmp, _ = demo_store
    proc = subprocess.Popen([sys.executable, "-m", "crm_app", "serve", "--port", "0"],
                            env=environment(tmp, LEADER_LEASE_SECONDS="5"), cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        banner = proc.stdout.readline()
        assert "gunicorn" in banner and "scheduler running in this process" in banner, banner
        base = "http://127.0.0.1:" + re.search(r"127\.0\.0\.1:(\d+)", banner).group(1)
        assert post(base, [track(i) for i in range(5000, 5005)]) == 200
        after = wait_for(lambda: (lambda m: m if m.get(("pql_job_runs_total", (("job", "score_changed"),)))
                                  else None)(scrape(base)), seconds=60)
        assert after[("pql_ingest_messages_total", (("outcome", "accepted"),))] == 5
        outcomes = {dict(labels)["outcome"]: v for (name, labels), v in after.items()
                    if name == "pql_job_last_outcome" and dict(labels)["job"] == "reload_rules"}
        assert outcomes in ({"ok": 1}, {"idle": 1}), outcomes
        assert after[("pql_job_last_duration_seconds", (("job", "score_changed"),))] >= 0
        time.sleep(0.2)
    finally:
        _, err = stop(proc)
    logs = assert_json_lines(err)
    assert any(line.get("event") == "job" and line.get("job") == "reload_rules" for line in logs)
    assert any(line.get("event") == "stopped" for line in logs), "the scheduler stops with the gunicorn worker"


def test_a_bad_setting_stops_the_procfile_web_in_one_line(tmp_path):
    line = (ROOT / "Procfile").read_text().split("web:", 1)[1].splitlines()[0].strip()
    ran = subprocess.run(["bash", "-c", f"exec {sys.executable} -m {line}"], capture_output=True, text=True,
                         env=environment(tmp_path, PORT="0", MAX_BATCH_BYTES="lots"), cwd=tmp_path, timeout=60)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr, ran.stderr[-2000:]
    assert ran.stderr.strip().splitlines()[-1] == ("error: MAX_BATCH_BYTES='lots': expected a whole number of at least 1; "
                                  "e.g. MAX_BATCH_BYTES=512000, or unset it for the default")


def test_metrics_answer_with_the_store_down(client, app, monkeypatch):
    """A scrape never fails because the store is away: pql_store_up says so, and the process metrics remain."""
    import sqlalchemy.exc

    def unreachable():
        raise sqlalchemy.exc.OperationalError("SELECT", {}, ConnectionRefusedError("store down"))
    up = {s.name: s.value for f in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
          for s in f.samples}
    assert up["pql_store_up"] == 1
    app.extensions.pop("pql_store_metrics")  # no cached read
    monkeypatch.setattr(app.config["PQL_STORE"], "read", unreachable)
    response = client.get("/metrics")
    assert response.status_code == 200
    down = {s.name: s.value for f in text_string_to_metric_families(response.get_data(as_text=True))
            for s in f.samples}
    assert down["pql_store_up"] == 0 and "pql_ingest_request_seconds_count" in down
