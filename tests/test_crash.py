"""Crash test: ingest a stream while the worker is killed (SIGKILL) and restarted at random points.

In the end every event is stored once, the dirty queue is drained, every stored score equals what a fresh
full scoring computes (no update was lost to a kill), every score reached the CRM (the sandbox CRM's records
hold exactly our values and write-back has nothing left to send), and no playbook action ran twice: one CRM
task per task entry the ledger marks sent, one Slack (outbox) message per alert sent.
"""
from __future__ import annotations

import random
import re
import sqlite3
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from crm_app.crm.sandbox import SandboxCrm
from crm_app.services.crm.writeback import plan_updates
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.scoring.run import score
from crm_app.services.ops.service_status import service_status
from crm_app.store import ops as ops_store
from crm_app.store import schema
from tests.test_failover import holder_of, start_worker
from tests.test_hot_reload import wait_for

BATCHES = 150  # at least this many; the stream goes on until the kills have seen real work
# The stream's only hard bound. Past BATCHES it slows down, so a loaded machine, where each worker's start-up
# takes a minute, gets the time its kills need without a flood of events.
STREAM_SECONDS = 1200
# A worker's start-up imports the scoring stack (scikit-learn, skops, SciPy): 5 s of CPU, but 50 s and more of
# wall time on a 2-core machine at load average 14, where a minute's wait for the lease was not enough.
READY_SECONDS = 300
EVENTS = ["Logged In", "Invite Sent", "Report Created", "Integration Connected", "Feature Used"]


def stream(store, batches: int, seed: int, sent: set, stop: threading.Event, enough: threading.Event) -> None:
    """Send batches of events, re-sending some batches whole (as a retrying client would), until both `batches`
    were sent and the killer says it has seen `enough`: on a loaded machine a worker's start-up can outlast a
    fixed stream, and the kills would then test nothing."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    deadline = time.monotonic() + STREAM_SECONDS
    b = 0
    while not (b >= batches and enough.is_set()) and time.monotonic() < deadline:
        batch = []
        for i in range(50):
            n = b * 50 + i
            ts = (now - timedelta(hours=rng.randint(1, 200))).strftime("%Y-%m-%dT%H:%M:%SZ")
            batch.append({"type": "track", "userId": f"c{rng.randint(0, 119)}", "event": rng.choice(EVENTS),
                          "messageId": f"crash-{n}", "timestamp": ts,
                          "properties": {"feature": f"f{rng.randint(0, 5)}"}})
        ingest_messages(store, batch, "crash-test")
        if rng.random() < 0.2:
            ingest_messages(store, batch, "crash-test")  # a retry: nothing may be stored twice
        sent.update(m["messageId"] for m in batch)
        time.sleep(rng.uniform(0.01, 0.08) if b < batches else rng.uniform(0.2, 0.4))
        b += 1
    stop.set()


def test_killing_the_worker_at_random_points_loses_nothing(store, tmp_path, default_rules):
    rng = random.Random(5)
    crm_path = tmp_path / "crm.db"
    fields = _seed_crm(store, crm_path)
    crm_env = {"LEADER_LEASE_SECONDS": "1", "CRM_SANDBOX_PATH": str(crm_path), "WRITE_BACK_SECONDS": "0.4",
               "CRM_SYNC_SECONDS": "2", "PLAYBOOK_SECONDS": "0.4"}
    sent: set = set()
    done, enough = threading.Event(), threading.Event()
    sender = threading.Thread(target=stream, args=(store, BATCHES, 11, sent, done, enough))
    sender.start()
    kills = kills_mid_run = 0
    worker = start_worker(store.url, tmp_path, "w0", _life(crm_env, 0))
    try:
        while not done.is_set():
            # A kill counts only once the worker is up and leading: on a busy machine its start-up alone can
            # outlast the random pause, and killing it then would test nothing.
            wait_for(lambda: (service_status(store)["scheduler"] or {}).get("holder") == holder_of(worker),
                     seconds=READY_SECONDS)
            runs_before = _score_runs(store)
            if kills % 2:  # every other life: let it score once, then kill it within its next runs
                # Once the stream has ended and the last life drained the queue, no run is coming.
                wait_for(lambda: _score_runs(store) > runs_before or done.is_set(), seconds=READY_SECONDS)
                time.sleep(rng.uniform(0.0, 0.8))
            else:  # a random point, start-up and the first run included
                time.sleep(rng.uniform(0.6, 1.8))
            kills_mid_run += _score_runs(store) > runs_before
            worker.kill()  # SIGKILL: no chance to finish or release anything
            worker.wait()
            kills += 1
            if kills >= 3 and kills_mid_run >= 1 and _score_runs(store) >= 2:
                enough.set()
            worker = start_worker(store.url, tmp_path, f"w{kills}", _life(crm_env, kills))
        sender.join()
        stream_ended = time.time()
        # The last worker drains the queue once it holds the lease (the killed one's lease must expire first).
        wait_for(lambda: _drained(store) and _written(store) and _dispatched(store), seconds=READY_SECONDS)
    finally:
        worker.terminate()
        worker.wait(20)
    with store.read() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.events)).scalar()
        people = conn.execute(select(func.count()).select_from(schema.people)).scalar()
        scored = conn.execute(select(func.count()).select_from(schema.results)
                              .where(schema.results.c.model == "conversion")).scalar()
        runs = conn.execute(select(func.count()).select_from(schema.score_runs)
                            .where(schema.score_runs.c.started_at < stream_ended)).scalar()
    print(f"crash test [{store.url.split(':')[0]}]: {kills} kills, {kills_mid_run} after the worker had scored, "
          f"{runs} scoring runs during the stream")
    assert kills >= 3 and runs >= 2  # workers did score between kills, during the stream
    assert kills_mid_run >= 1, f"{kills} kills, none after the worker had scored: the test saw no real work"
    assert stored == len(sent) >= BATCHES * 50
    assert scored == people
    check = score(store, default_rules, int(time.time()), mode="full", dry_run=True, workers=1)
    assert check.models["conversion"].changed == 0, "a stored score differs from a fresh scoring"
    assert plan_updates(store, SandboxCrm(str(crm_path)), fields) == []
    r = schema.results
    with store.read() as conn:
        ours = dict(conn.execute(select(r.c.subject_id, r.c.combined).where(r.c.model == "conversion")).all())
    crm = sqlite3.connect(crm_path)
    theirs = {int(record_id.split("-")[1]): value for record_id, value in crm.execute(
        "SELECT id, pql_score FROM leads UNION ALL SELECT id, pql_score FROM contacts").fetchall()}
    bodies = [body for (body,) in crm.execute("SELECT body FROM tasks").fetchall()]
    crm.close()
    assert theirs == ours  # every person's latest score is what the CRM holds
    ledger = _ledger(store)
    assert not [e for e in ledger if e[1] in ("pending", "dispatching")]
    sent_tasks = [e for e in ledger if e[0] == "create_task" and e[1] == "sent"]
    assert sent_tasks, "no playbook fired: the test would not see a double action"
    refs = Counter(int(re.search(r"Ref: pql-ledger-(\d+)", body).group(1)) for body in bodies)
    assert set(refs.values()) == {1}, "a ledger entry created two CRM tasks"
    assert set(refs) == {entry_id for _, _, _, entry_id in sent_tasks}  # every sent task entry: one CRM task
    with store.read() as conn:
        outbox = conn.execute(select(func.count()).select_from(schema.metadata.tables["slack_outbox"])).scalar()
    assert outbox == sum(1 for e in ledger if e[0] == "slack_alert" and e[1] == "sent")  # no alert twice


def _life(env: dict, kills: int) -> dict:
    """Every other worker scores its incremental runs in DuckDB, the others per person (handing their people
    to the DuckDB copy): kills land between the engines too."""
    return {**env, "SETWISE_MIN_CHANGED": "0" if kills % 2 else "500"}


def _drained(store) -> bool:
    with store.read() as conn:
        if ops_store.dirty_count(conn):
            return False
    last = service_status(store)["jobs"]["score_changed"]["last"]
    return bool(last) and last["outcome"] in ("ok", "idle")


def _after_last_scoring(store, job: str) -> dict | None:
    """The job's last run when it started after the last scoring run had ended, else None.

    Judged by order, not by how recent: on a loaded machine scoring's idle runs come every 0.3 s while a
    write-back run takes a second, so "started after the last scoring run of any kind, within 2 s" was
    almost never seen even with the queue drained and nothing left to send."""
    with store.read() as conn:
        ended = conn.execute(select(func.max(schema.score_runs.c.finished_at))).scalar() or 0
    last = service_status(store)["jobs"][job]["last"]
    return last if last and last["started_at"] >= ended + 1 else None  # finished_at is whole seconds


def _ledger(store) -> list:
    led = schema.metadata.tables["pb_ledger"]
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(select(led.c.action, led.c.status, led.c.subject_id, led.c.id))]


def _dispatched(store) -> bool:
    """Playbooks ran after the last scoring run and nothing is left open in the ledger."""
    return _after_last_scoring(store, "playbooks") is not None \
        and not [e for e in _ledger(store) if e[1] in ("pending", "dispatching")]


def _seed_crm(store, crm_path) -> tuple:
    """120 people, each a lead in the sandbox CRM with the score fields provisioned and linked by a sync."""
    from crm_app.services.ops.demo_crm import seed_sandbox_from_store
    from crm_app.specs.loader import SpecDirs, load_spec_set
    from tests.conftest import ROOT
    ingest_messages(store, [{"type": "group", "userId": f"c{i}", "groupId": "acme", "messageId": f"crash-g-{i}",
                             "traits": {"name": "Acme", "industry": "Software", "employees": 120}}
                            for i in range(0, 120, 4)], "crash-test")  # every 4th: an ICP account, PQL material
    ingest_messages(store, [{"type": "identify", "userId": f"c{i}", "messageId": f"crash-id-{i}",
                             "traits": {"email": f"c{i}@example.com", "title": "VP Engineering"}}
                            for i in range(120)], "crash-test")
    fields = load_spec_set(SpecDirs.under(ROOT)).fields
    seed_sandbox_from_store(store, crm_path, fields, ROOT / "mapping" / "crm.yaml")
    return fields


def _written(store) -> bool:
    """Write-back found nothing to send, in a run that started after the last scoring run ended."""
    pushed = _after_last_scoring(store, "write_back")
    return bool(pushed) and pushed["outcome"] == "idle"


@pytest.fixture
def default_rules():
    from crm_app.specs.loader import SpecDirs, load_spec_set
    from tests.conftest import ROOT
    return load_spec_set(SpecDirs.under(ROOT)).rules


def _score_runs(store) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(schema.score_runs)).scalar()
