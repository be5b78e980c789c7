"""The demo tells the whole story: identity resolution, the shipped lifecycle model trained, a backtest with its
lift; every "Next:" command it prints works as printed; it never replaces a store holding what it did not make."""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.made_once import copy_into, made_once


def environment(tmp) -> dict:
    # Without COLUMNAR_PATH the columnar copy lives beside the store, so each copy of the demo's files has its own.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPECS_ROOT", "COLUMNAR_PATH")}
    return dict(env, DATABASE_URL=f"sqlite:///{tmp}/var/pql.db", CRM_SANDBOX_PATH=str(tmp / "var" / "crm.db"),
                SCORE_WORKERS="1")


def demo(tmp, *args: str) -> subprocess.CompletedProcess:
    """The README's command, from the checkout (where a user runs it), on a store in tmp."""
    return subprocess.run([sys.executable, "-m", "crm_app", "demo", *args], cwd=ROOT, env=environment(tmp),
                          capture_output=True, text=True, timeout=900)


def run_the_demo(folder: Path) -> None:
    ran = demo(folder)  # the default size: the lifecycle model needs 30 people who reached its goal
    assert ran.returncode == 0, ran.stderr[-3000:]
    (folder / "demo-output.txt").write_text(ran.stdout)


@pytest.fixture(scope="module")
def demo_made(tmp_path_factory, worker_id) -> Path:
    """One default-size demo per test run, whichever workers this module's tests land on (tests/made_once.py)."""
    return made_once(tmp_path_factory, worker_id, "demo-story", run_the_demo)


@pytest.fixture
def told(demo_made, tmp_path):
    """The demo's output, with a copy of every file it made (store, sandbox CRM, columnar copy) in this test's
    folder: each test changes its own copy, as when each test ran the demo itself."""
    copy_into(demo_made, tmp_path)
    return tmp_path, (tmp_path / "demo-output.txt").read_text()


def next_commands(out: str) -> list[str]:
    block = out.split("Next:\n", 1)[1]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.startswith("  ")]


def test_the_demo_resolves_identities_trains_the_shipped_model_and_prints_the_backtest_lift(told):
    _, out = told
    linked, users = map(int, re.search(r"Identity: (\d+) of (\d+) product users linked", out).groups())
    assert users == 2000 and 0 < linked < users  # some signups are in no CRM (the creation policy's half)
    reached, of, auc = re.search(r"Lifecycle model upgraded \(Starts an upgrade\): trained, (\d+) reached the goal of "
                                 r"(\d+), cross-validated ROC AUC (0\.\d\d)", out).groups()
    assert 30 <= int(reached) < int(of) < 2000  # trial users only: the customers are not its population
    assert float(auc) >= 0.7
    accounts, most = map(int, re.search(r"Accounts with several ready users: (\d+); the most, \S+, has (\d+) PQLs",
                                        out).groups())
    assert accounts >= 1 and most >= 2
    lift = float(re.search(r"Backtest of conversion against 'upgraded' .*lift ([\d.]+)x\.", out).group(1))
    assert lift > 1  # PQLs convert more often than the rest, on the demo's own history


def test_the_demo_has_paying_customers_in_every_health_segment_and_crm_signups(told):
    _, out = told
    table = out.split("Customers by persona", 1)[1].split("\n\n", 1)[0]
    members = {name: int(n) for name, n in re.findall(r"(Loyal Customer|Upsell Candidate|At-Risk|Risk) (\d+)", table)}
    assert set(members) == {"Loyal Customer", "Upsell Candidate", "At-Risk", "Risk"} and min(members.values()) > 0
    back_to = re.search(r"Score history: \d+ past runs back to (\S+) ", out).group(1)
    days = (datetime.now(timezone.utc) - datetime.fromisoformat(back_to).replace(tzinfo=timezone.utc)).days
    assert days > 180  # 'Loyal Customer' is health 70+ held for 180 days: a score from before then
    unknown, created = map(int, re.search(r"(\d+) product signups were not in the CRM; (\d+) of them", out).groups())
    assert unknown > created > 0


def test_a_new_signup_gets_a_propensity_score_from_one_score_changed_cycle_without_retraining(told):
    tmp, out = told
    line = re.search(r"New signup (\S+): \d+ messages through ingest.*score_changed job \(ok, .*\n"
                     r"  upgraded propensity (\d+)/100 \(band \w+\), live version v1; top reasons: (.+)", out)
    assert line, out[-3000:]
    user, shown, reasons = line.group(1), int(line.group(2)), line.group(3)
    assert 1 <= shown <= 100 and reasons != "none"
    from sqlalchemy import select

    from crm_app.store import Store, schema
    from crm_app.store.lifecycle import lifecycle_models
    store = Store(f"sqlite:///{tmp}/var/pql.db")
    try:
        with store.read() as conn:
            p, r = schema.people, schema.results
            stored = conn.execute(select(r.c.combined, r.c.as_of).join(p, p.c.id == r.c.subject_id)
                                  .where(p.c.external_id == user, r.c.model == "upgraded")).one()
            trained = conn.execute(select(lifecycle_models.c.version, lifecycle_models.c.trained_at)
                                   .where(lifecycle_models.c.name == "upgraded")).all()
    finally:
        store.dispose()
    assert stored.combined == shown
    assert len(trained) == 1 and stored.as_of >= trained[0].trained_at  # scored after the one training


EXPECTED = {  # command -> something its output must show after the demo
    "explain": "Behaviour", "score": "bands", "status": "identity: product users matched",
    "train": "upgraded v2", "indicators": "lift", "backtest": "PQLs convert", "identity": "matched to CRM",
    "playbooks": "New PQL", "health-kpis": "segments order churn risk correctly: yes",
}


def test_every_printed_next_command_works_as_printed(told):
    tmp, out = told
    commands = next_commands(out)
    assert {shlex.split(c)[3] for c in commands} == set(EXPECTED) | {"serve"}, commands
    running = {}
    try:
        for number, command in enumerate(commands):
            argv = shlex.split(command)
            assert argv[1:3] == ["-m", "crm_app"]
            if argv[3] == "serve":
                continue
            # Each on its own copy of the demo's files, all at once: as run right after the demo, never waiting
            # for another's lock on the store or the columnar copy.
            own = tmp / f"next-{number}"
            copy_into(tmp / "var", own / "var")
            running[command] = subprocess.Popen(argv, cwd=ROOT, env=environment(own), stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, text=True)
        for command, proc in running.items():
            stdout, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"{command}: {stderr[-2000:]}"
            assert EXPECTED[shlex.split(command)[3]] in stdout, f"{command} printed:\n{stdout[-2000:]}"
    finally:
        for proc in running.values():
            if proc.poll() is None:
                proc.kill()


def test_the_printed_serve_command_serves(told):
    tmp, out = told
    (serve,) = [c for c in next_commands(out) if shlex.split(c)[3] == "serve"]
    # As printed, plus a free port: 5000 may be taken on a shared machine.
    proc = subprocess.Popen(shlex.split(serve) + ["--port", "0"], cwd=ROOT, env=environment(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "Serving on http://127.0.0.1:" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_demo_refuses_a_store_with_data_it_did_not_make_unless_forced(told):
    tmp_path, _ = told  # a store the demo made
    rerun = demo(tmp_path, "--people", "60")  # untouched since: replaced without asking
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    people = tmp_path / "people.csv"
    people.write_text("id,title\nimported-1,VP\n")
    env = environment(tmp_path)
    imported = subprocess.run([sys.executable, "-m", "crm_app", "import", "people", str(people), "--quiet"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
    refused = demo(tmp_path, "--people", "60")
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("run demo --force to replace it, or set DATABASE_URL to another file "
                                           "(e.g. sqlite:///var/demo.db)"), refused.stderr
    assert "data imported or ingested after the demo made it" in refused.stderr
    explain = subprocess.run([sys.executable, "-m", "crm_app", "explain", "imported-1"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert explain.returncode == 0, "the refused demo lost the imported person"
    forced = demo(tmp_path, "--people", "60", "--force")
    assert forced.returncode == 0, forced.stderr[-2000:]
    gone = subprocess.run([sys.executable, "-m", "crm_app", "explain", "imported-1"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert gone.returncode == 1


def test_monitor_checks_the_health_models_on_the_demo(told):
    tmp, _ = told
    ran = subprocess.run([sys.executable, "-m", "crm_app", "monitor"], cwd=ROOT, env=environment(tmp),
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode in (0, 1), ran.stderr[-2000:]  # 1: a check is flagged, which is content too
    status = {line.split()[1]: line.split()[0] for line in ran.stdout.splitlines() if line.strip()}
    for check in ("clustered:health", "drift:health", "clustered:upsell", "health_kpis:health", "clustered:upgraded"):
        assert status.get(check) in ("OK", "FLAG"), f"{check}: {ran.stdout}"
