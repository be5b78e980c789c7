"""`python -m crm_app serve`: web and scheduler in one process; ingest wakes scoring; SIGTERM stops it cleanly."""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from tests.conftest import ROOT
from tests.test_hot_reload import wait_for


def get(url: str) -> dict:
    try:
        request = urllib.request.Request(url, headers={"Authorization": "Bearer serve-readyz"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # /readyz answers 503 with a body while not ready
        return json.loads(exc.read())


def test_serve_runs_web_and_scheduler_and_ingest_wakes_scoring(tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/serve.db", SPECS_ROOT=str(ROOT),
               PYTHONPATH=str(ROOT), WRITE_KEY="serve-key", SCORE_WORKERS="1", READYZ_TOKEN="serve-readyz",
               SCORE_CHANGED_SECONDS="120", LEADER_LEASE_SECONDS="5")  # only a wake-up can score in time
    proc = subprocess.Popen([sys.executable, "-m", "crm_app", "serve", "--port", "0"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = proc.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", banner).group(1))
        assert "scheduler running in this process" in banner
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: (get(f"{base}/readyz").get("jobs", {}).get("score_changed", {}).get("last") or {})
                 .get("outcome") == "idle")
        body = json.dumps({"batch": [{"type": "track", "userId": "s1", "event": "Invite Sent",
                                      "messageId": "serve-1", "timestamp": "2026-11-20T10:00:00Z"}]}).encode()
        request = urllib.request.Request(f"{base}/v1/batch", body, {
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(b"serve-key:").decode()})
        sent = time.time()
        assert json.loads(urllib.request.urlopen(request, timeout=5).read())["accepted"] == 1
        wait_for(lambda: get(f"{base}/readyz")["jobs"]["score_changed"]["last"]["detail"].get("scored") == 1,
                 seconds=10)
        assert time.time() - sent < 10  # far inside the 120 s interval: the ingest woke it
        ready = get(f"{base}/readyz")
        assert ready["ready"] and ready["scheduler"]["live"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
