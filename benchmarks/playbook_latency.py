"""End-to-end latency: product events through the ingest API -> a new PQL in the CRM and in Slack.

Runs a real HTTP ingest server (create_app, werkzeug), the sandbox CRM (a SQLite file)
and the Slack Web API emulator on loopback, and a worker thread doing what the worker process does:
score the changed people, write changed scores back to the CRM, run the playbooks (assign, task,
Slack alert). Each trial person already exists in the product and as a CRM lead (linked as sync links them);
the trial posts the product events that make them a PQL and measures the time until the CRM lead carries
PQL status = true with its owner set and a task, and until Slack has the alert.

    python benchmarks/playbook_latency.py [--trials 40] [--people 2000] [--interval 0.05]
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.serving import make_server  # noqa: E402
from record import Recorder, add_flag  # noqa: E402

from crm_app import create_app  # noqa: E402
from crm_app.config import Config  # noqa: E402
from crm_app.services.ops.demo_data import generate  # noqa: E402
from crm_app.services.ingest.writer import ingest_messages  # noqa: E402
from crm_app.services.playbooks.cycle import run_cycle  # noqa: E402
from crm_app.services.playbooks.cycle import run_playbooks  # noqa: E402
from crm_app.services.playbooks.dispatch import dispatch_due, process_snoozes  # noqa: E402
from crm_app.services.playbooks.plan import plan  # noqa: E402
from crm_app.services.playbooks.runtime import Runtime  # noqa: E402
from crm_app.services.scoring.run import score  # noqa: E402
from crm_app.slack.pacing import ChannelPacer  # noqa: E402
from crm_app.slack.senders import SlackSender  # noqa: E402
from crm_app.specs.loader import load_spec_set  # noqa: E402
from crm_app.store import Store  # noqa: E402
from slack_sdk import WebClient  # noqa: E402
from crm_app.crm.sandbox import SandboxCrm, now_iso  # noqa: E402
from crm_app.services.crm.provision import provision  # noqa: E402
from crm_app.services.crm.writeback import push_scores  # noqa: E402
from crm_app.store import crm as crm_store  # noqa: E402
from crm_app.store import people as people_store  # noqa: E402
from tests.slack_emulator import SlackEmulator  # noqa: E402
from benchmarks.sql_profile import SqlProfile  # noqa: E402

WRITE_KEY = "bench-key"


def identity(i: int) -> list:
    """A known person (product + CRM) who is not a PQL yet."""
    user, group = f"bench-{i}", f"bench-co-{i}"
    return [{"type": "group", "userId": user, "groupId": group, "messageId": f"g-{i}",
             "traits": {"name": f"Bench Co {i}", "industry": "Software", "employees": 200, "tools": ["Slack"]}},
            {"type": "identify", "userId": user, "messageId": f"i-{i}", "context": {"groupId": group},
             "traits": {"email": f"lee{i}@benchco{i}.com", "name": f"Lee Bench{i}", "title": "VP Engineering",
                        "job_function": "Engineering", "region": "North America", "plan": "trial"}}]


def pql_batch(i: int, now: int) -> list:
    """Product events that make person i a PQL under the default rules."""
    user, msgs = f"bench-{i}", []
    plan = [("Onboarding Completed", 1), ("Report Created", 3), ("Dashboard Created", 2), ("Invite Sent", 4),
            ("Integration Connected", 1), ("Logged In", 6), ("Upgrade Started", 1)]
    k = 0
    for name, count in plan:
        for _ in range(count):
            k += 1
            msgs.append({"type": "track", "userId": user, "event": name, "messageId": f"t-{i}-{k}",
                         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 600 + k * 10))})
    return msgs


def crm_done(crm: SandboxCrm, people: list) -> set:
    """Trial people whose CRM lead has PQL status true, an owner and a follow-up task."""
    if not people:
        return set()
    ids = {f"LEAD-B{i:05d}": i for i in people}
    marks = ",".join("?" * len(ids))
    rows = crm.db.execute(f"SELECT l.id FROM leads l WHERE l.id IN ({marks}) AND l.pql_status = 1 AND l.owner_id "
                          f"IS NOT NULL AND EXISTS (SELECT 1 FROM tasks t WHERE t.who_id = l.id)", list(ids)).fetchall()
    return {ids[r[0]] for r in rows}


def post(url: str, batch: list) -> None:
    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    req = urllib.request.Request(url, data=json.dumps({"batch": batch}).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
        assert not body["rejected"], body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--people", type=int, default=2000, help="background population already scored")
    ap.add_argument("--interval", type=float, default=0.05, help="worker pause between cycles, seconds")
    ap.add_argument("--slack-limit", action="store_true",
                    help="emulate Slack's ~1 message per second per channel (429 + Retry-After)")
    ap.add_argument("--burst", type=int, default=1, help="new PQLs posted at once per trial (concurrent senders)")
    ap.add_argument("--slack-burst", type=int, default=1,
                    help="with --slack-limit: posts a channel may take at once in the emulator (Slack: 'short bursts')")
    ap.add_argument("--pace-burst", type=int, default=3, help="SLACK_CHANNEL_BURST of our pacer")
    ap.add_argument("--database-url", help="an empty database (e.g. PostgreSQL); default: a fresh SQLite file")
    add_flag(ap)
    ap.add_argument("--sql-profile", action="store_true",
                    help="time the worker cycle's phases and count its SQL statements by shape")
    args = ap.parse_args()
    rec = Recorder("playbook_latency", args.record)
    tmp = Path(tempfile.mkdtemp(prefix="pql-latency-"))
    config = Config.from_env({}, database_url=args.database_url or f"sqlite:///{tmp}/bench.db", specs_root=str(ROOT),
                             write_key=WRITE_KEY)
    store, specs = Store(config.database_url), load_spec_set(config.spec_dirs)
    # Every rep gets one message per PQL here (no digests), and no weekly cap: the background PQLs of the
    # first pass would otherwise use every rep's cap, leaving trial PQLs unassigned (correctly).
    routing = specs.playbooks.routing
    routing = dataclasses.replace(routing, weekly_cap=None, reps=tuple(
        dataclasses.replace(r, digest=False, weekly_cap=None) for r in routing.reps))
    # The per-owner limit would (rightly) suppress trial alerts once the background PQLs fill the quota.
    pbs = tuple(dataclasses.replace(p, per_owner=None) for p in specs.playbooks.playbooks)
    playbooks = dataclasses.replace(specs.playbooks, routing=routing, playbooks=pbs)
    slack = SlackEmulator({f"U{i}": r.email for i, r in enumerate(routing.reps)}).start()
    if args.slack_limit:
        slack.limit_channels(1.0, args.slack_burst)
    crm = SandboxCrm(str(tmp / "crm.db"))
    with crm.db.conn:
        crm.db["owners"].insert_all([{"id": f"005-{i}", "email": r.email, "name": r.name, "active": 1}
                                     for i, r in enumerate(routing.reps)], pk="id")
    provision(store, crm, specs.fields)
    rt = Runtime(store=store, playbooks=playbooks, adapter=crm, rules=specs.rules,
                 sender=SlackSender(WebClient(token="xoxb-bench", base_url=slack.base_url),
                                    ChannelPacer(1.0, args.pace_burst)))

    now = int(time.time())
    ws = generate(args.people, now, seed=11)
    messages = ws.accounts + ws.identities + ws.events
    for start in range(0, len(messages), 5000):
        ingest_messages(store, messages[start:start + 5000], "bench", received_at=now)
    people = range(args.trials * args.burst)
    ingest_messages(store, [m for i in people for m in identity(i)], "bench", received_at=now)
    with store.begin() as conn:  # what sync leaves behind: each trial person linked to their CRM lead
        ids = people_store.person_ids(conn, [f"bench-{i}" for i in people])
        crm_store.save_links(conn, [{"crm": "sandbox", "object_type": "leads", "record_id": f"LEAD-B{i:05d}",
                                     "person_id": ids[f"bench-{i}"], "account_id": None, "input_hash": "",
                                     "synced_at": now} for i in people])
    with crm.db.conn:
        crm.db["leads"].insert_all([{"id": f"LEAD-B{i:05d}", "email": f"lee{i}@benchco{i}.com",
                                     "company": f"Bench Co {i}", "modified_at": now_iso(), "modified_by": "bench"}
                                    for i in people], pk="id")
    t = time.perf_counter()
    score(store, specs.rules, now)
    settle = run_playbooks(rt, now)
    push_scores(store, crm, specs.fields)
    print(f"background: {args.people} people, {len(ws.events)} events; full score + first playbook pass "
          f"{time.perf_counter() - t:.1f}s ({settle['sent']} actions)")

    app = create_app(config, store=store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1/batch"

    stop, cycles = threading.Event(), []

    def writeback(store_, adapter):
        push_scores(store_, adapter, specs.fields)

    phases, profile = {}, []

    def timed(name, fn, *a):
        t = time.perf_counter()
        out = fn(*a)
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
        return out

    def profiled_cycle():
        """run_cycle's steps, each timed (cycle.py)."""
        t, now = time.perf_counter(), int(time.time())
        timed("score changed", lambda: score(rt.store, rt.rules, now, mode="changed", lifecycle=rt.lifecycle))
        timed("write back", writeback, rt.store, rt.adapter)
        timed("plan", plan, rt, now)
        timed("snoozes", process_snoozes, rt, now)
        timed("dispatch", dispatch_due, rt, now)
        return time.perf_counter() - t

    def worker():
        if args.sql_profile:
            profile.append(SqlProfile(store.engine, threading.current_thread()))
        while not stop.is_set():
            cycles.append(profiled_cycle() if args.sql_profile else run_cycle(rt, writeback).seconds)
            time.sleep(args.interval)
    threading.Thread(target=worker, daemon=True).start()

    crm_lat, slack_lat, both = [], [], []
    for trial in range(args.trials):
        people = [trial * args.burst + k for k in range(args.burst)]
        t0 = time.perf_counter()
        senders = [threading.Thread(target=post, args=(url, pql_batch(i, int(time.time())))) for i in people]
        for t in senders:
            t.start()
        pending = {i: [None, None] for i in people}
        while time.perf_counter() - t0 < 30 and any(None in v for v in pending.values()):
            texts = [m.get("text") or "" for m in list(slack.messages.values())]
            done = crm_done(crm, [i for i, got in pending.items() if got[0] is None])
            for i, got in pending.items():
                if got[0] is None and i in done:
                    got[0] = time.perf_counter() - t0
                if got[1] is None and any(f"Lee Bench{i} " in t for t in texts):
                    got[1] = time.perf_counter() - t0
            time.sleep(0.005)
        for t in senders:
            t.join()
        for i, (t_crm, t_slack) in pending.items():
            if t_crm is None or t_slack is None:
                print(f"person {i}: not done within 30 s (crm={t_crm}, slack={t_slack})")
                continue
            crm_lat.append(t_crm)
            slack_lat.append(t_slack)
            both.append(max(t_crm, t_slack))
        time.sleep(0.1)
    stop.set()
    server.shutdown()
    slack.stop()
    print(f"PQLs measured: {len(both)}/{args.trials * args.burst} ({args.trials} trials x burst {args.burst}); worker cycles: {len(cycles)}, median cycle "
          f"{statistics.median(cycles) * 1000:.0f} ms; worker pause {args.interval * 1000:.0f} ms")
    for label, xs in (("CRM has the fields", crm_lat), ("Slack has the alert", slack_lat), ("both", both)):
        if not xs:
            continue
        q = statistics.quantiles(xs, n=100, method="inclusive") if len(xs) > 1 else [xs[0]] * 99
        print(f"{label:20s} min {min(xs):.3f}s  p50 {q[49]:.3f}s  p90 {q[89]:.3f}s  p95 {q[94]:.3f}s  "
              f"p99 {q[98]:.3f}s  max {max(xs):.3f}s")
        rec.add(f"{label}, p95 seconds", q[94])
    if profile:
        print("worker cycle phases, ms per cycle: " + ", ".join(
            f"{k} {v / len(cycles) * 1000:.1f}" for k, v in phases.items()))
        print(profile[0].report(len(cycles)))
    from crm_app.services.playbooks.status import format_playbook_status
    print("\n".join(format_playbook_status(store)))
    tasks = crm.db.execute("SELECT count(*) FROM tasks").fetchone()[0]
    posts = slack.called("chat.postMessage")
    metas = [json.loads(p["metadata"]) if isinstance(p["metadata"], str) else p["metadata"] for p in posts]
    bundled = sum(1 for m in metas if len(m["event_payload"].get("refs") or []) > 1)
    print(f"CRM tasks: {tasks}; Slack chat.postMessage calls: {len(posts)} ({bundled} bundles, "
          f"{len(slack.limited)} answered 429); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rec.add("PQLs measured", len(both))
    rec.add("Slack answers of 429", len(slack.limited))
    rec.write()


if __name__ == "__main__":
    main()
