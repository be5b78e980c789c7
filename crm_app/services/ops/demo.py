"""`python -m crm_app demo`: a generated workspace in var/, ingested, scored and shown end to end."""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from crm_app.config import Config
from crm_app.services.ops.demo_customers import HISTORY_DAYS
from crm_app.services.ops.demo_data import PERSONAS, generate
from crm_app.services.scoring.explain import format_explanation, format_summary
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.scoring.run import score
from crm_app.specs.loader import load_spec_set
from crm_app.store import Store, get_meta, schema, set_meta

BATCH = 5000
DAY = 86400


class DemoRefused(Exception):
    """The configured store holds something the demo did not make; the message says what and how to go on."""


def _fingerprint(store: Store) -> str:
    """What the store holds, in a few numbers: any import or ingest after the demo changes it."""
    with store.read() as conn:
        row = [conn.execute(select(func.count()).select_from(table)).scalar()
               for table in (schema.people, schema.accounts, schema.events)]
        row.append(conn.execute(select(func.max(schema.ingest_log.c.id))).scalar() or 0)
    return ",".join(str(n) for n in row)


def _fresh_store(config: Config, force: bool = False) -> Store:
    """The configured store, emptied first when it is a SQLite file holding only what an earlier demo made.

    Anything else in it (another store, or data imported or ingested since the demo) is kept: DemoRefused,
    unless `force`. A PostgreSQL database must be empty (the demo never drops a server's tables).
    """
    url = config.database_url
    probe = Store(url)
    try:
        with probe.read() as conn:
            is_demo = get_meta(conn, "demo") == "1"
            empty = conn.execute(select(schema.people.c.id).limit(1)).first() is None
            made = get_meta(conn, "demo.fingerprint")
        untouched = is_demo and made == _fingerprint(probe)
    finally:
        probe.dispose()
    where = url.split("///", 1)[-1] if url.startswith("sqlite:///") else url.split("@")[-1]
    what = ("data imported or ingested after the demo made it" if is_demo else "data that the demo did not create")
    if not url.startswith("sqlite:///"):
        if not empty:
            raise DemoRefused(f"{where} holds {what}; the demo only fills an empty PostgreSQL database "
                              "(point DATABASE_URL at a new one)")
    elif not (empty or untouched):
        if not force:
            raise DemoRefused(f"{where} holds {what}; run demo --force to replace it, or set DATABASE_URL "
                              "to another file (e.g. sqlite:///var/demo.db)")
    if url.startswith("sqlite:///") and not empty:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url[len('sqlite:///'):]}{suffix}").unlink(missing_ok=True)
    store = Store(url)
    with store.begin() as conn:
        set_meta(conn, "demo", "1")
    return store


def run_demo(config: Config, people: int = 2000, seed: int = 7, out=print, force: bool = False) -> int:
    """Generate, ingest through the real ingest path, score, and print what a rep and an admin would see."""
    started = time.time()
    specs = load_spec_set(config.spec_dirs)
    store = _fresh_store(config, force)
    now = int(time.time()) // 3600 * 3600
    ws = generate(people, now, seed)
    out(f"Demo workspace: {len(ws.accounts)} accounts, {len(ws.identities)} people, {len(ws.events)} events "
        f"over {HISTORY_DAYS} days -> {store.url}")
    messages = ws.accounts + ws.identities + ws.events
    rejected = 0
    for start in range(0, len(messages), BATCH):
        report = ingest_messages(store, messages[start:start + BATCH], "demo", received_at=now)
        rejected += len(report.rejected)
    out(f"Ingested {len(messages)} messages through the Segment ingest path ({rejected} rejected).")
    from crm_app.services.ops.demo_history import backfill, snapshot_today
    backfill(store, specs.rules, now, out)
    summary = score(store, specs.rules, now, lifecycle=specs.lifecycle)
    snapshot_today(store, now)
    out(format_summary(summary))
    out(_persona_table(store, ws.personas))
    from crm_app.services.ops.demo_story import customer_table
    out(customer_table(store, ws.personas))
    _show_examples(store, specs.rules, ws.personas, now, out)
    from crm_app.services.ops.demo_playbooks import demo_playbooks  # route, task, alert (outbox)
    demo_playbooks(config, store, specs, now, out)
    from crm_app.services.ops.demo_story import tell_the_rest  # identity, lifecycle models, backtest
    told = tell_the_rest(store, specs, now, out)
    from crm_app.services.ops.demo_signup import score_new_signup  # after training: the worker's next cycle
    told["signup"] = score_new_signup(config, store, specs, now, out)
    with store.begin() as conn:
        set_meta(conn, "demo.fingerprint", _fingerprint(store))
    from crm_app.services.dashboard.auth import issue_one_time_password
    cli = launcher()
    out(f"\nDashboard: {cli} serve, then http://127.0.0.1:5000/dashboard/ — sign in as "
        f"{config.dashboard_admin_user!r} with the one-time password {issue_one_time_password(store)}")
    out(f"\nDone in {time.time() - started:.1f}s. Next:")
    steps = next_steps(specs, told, now)
    width = max(len(command) for command, _ in steps) + 2
    for command, why in steps:
        out(f"  {cli} {command:<{width}}# {why}")
    return 0


def next_steps(specs, told: dict, now: int) -> list[tuple[str, str]]:
    """The commands the demo suggests, each of which works on the store it just made (a test runs them all)."""
    from datetime import datetime, timezone

    from crm_app.services.ops.demo_story import (BACKTEST_FROM_DAYS, BACKTEST_STEP_DAYS, BACKTEST_TO_DAYS,
                                                 BACKTEST_WINDOW_DAYS)

    def day(ts: int) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")
    steps = [("explain u000001", "one person's breakdown"), ("score --dry-run", "rescore without saving"),
             ("status", "store, scores, identity matches, jobs and CRM")]
    for name in told.get("trained", {}):
        steps += [(f"train {name}", "retrain the lifecycle model"), (f"indicators {name}", "what predicts its goal")]
    if "backtest" in told:
        steps.append((f"backtest --model {told['backtest']['model']} --from {day(now - BACKTEST_FROM_DAYS * DAY)} "
                      f"--to {day(now - BACKTEST_TO_DAYS * DAY)} --window {BACKTEST_WINDOW_DAYS}d "
                      f"--step {BACKTEST_STEP_DAYS}d",
                      "PQL lift on the demo's history"))
    steps += [("health-kpis", "churn and upsell by customer health score and segment"),
              ("identity --report-only", "match rates and unmatched users"),
              ("playbooks outbox", "the Slack alerts, with their buttons' state"),
              ("serve", "dashboard, ingest API, probes, /metrics and the scheduler on http://127.0.0.1:5000")]
    return steps


def launcher() -> str:
    """How to run the next command from here: this interpreter (a virtualenv's, say), relative when it can be."""
    python = Path(sys.executable)
    try:
        python = python.relative_to(Path.cwd())
    except ValueError:
        return "python -m crm_app" if shutil.which("python") == sys.executable else f"{python} -m crm_app"
    return f"{python} -m crm_app"


def _persona_table(store: Store, personas: dict) -> str:
    """How each persona scored: does the engine separate the ready from the not-ready?"""
    p, r = schema.people, schema.results
    with store.read() as conn:
        rows = conn.execute(select(p.c.external_id, r.c.combined, r.c.pql)
                            .join(r, (r.c.subject_id == p.c.id) & (r.c.model == "conversion"))).all()
    stats: dict = {}
    for external_id, combined, pql in rows:
        s = stats.setdefault(personas.get(external_id, "?"), [0, 0, 0])
        s[0] += 1
        s[1] += combined
        s[2] += int(bool(pql))
    lines = ["\nBy persona (expected: champions and velocity bursts become PQLs; the rest do not):",
             f"  {'persona':<20}{'people':>7}{'avg score':>11}{'PQL %':>8}  expected"]
    for name in PERSONAS:
        if name in stats:
            n, total, pqls = stats[name]
            expected = {True: "PQL", False: "not PQL", None: "either"}[PERSONAS[name][1]]
            lines.append(f"  {name:<20}{n:>7}{total / n:>11.1f}{100 * pqls / n:>7.0f}%  {expected}")
    return "\n".join(lines)


def _show_examples(store: Store, rules, personas: dict, now: int, out) -> None:
    from crm_app.services.scoring.explain import explain_person, find_person
    shown = set()
    for user_id, persona in sorted(personas.items()):
        if persona in ("champion", "velocity_burst", "gone_quiet") and persona not in shown:
            shown.add(persona)
            person_id = find_person(store, user_id)
            for model, record, result in explain_person(store, rules, person_id, now):
                out(f"\nExample {persona}:\n" + format_explanation(record, model, result))
