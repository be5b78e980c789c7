"""`python -m crm_app demo`: a generated workspace in var/, ingested, scored and shown end to end."""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from sqlalchemy import select

from crm_app.config import Config
from crm_app.services.ops.demo_data import PERSONAS, generate
from crm_app.services.scoring.explain import format_explanation, format_summary
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.scoring.run import score
from crm_app.specs.loader import load_spec_set
from crm_app.store import Store, get_meta, schema, set_meta

BATCH = 5000


def _fresh_store(config: Config) -> Store:
    """The configured store, emptied first when it is a SQLite file that holds only an earlier demo."""
    url = config.database_url
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if path.exists():
            probe = Store(url)
            with probe.read() as conn:
                is_demo = get_meta(conn, "demo") == "1"
                empty = conn.execute(select(schema.people.c.id).limit(1)).first() is None
            probe.dispose()
            if not (is_demo or empty):
                raise SystemExit(f"{path} holds data that the demo did not create; set DATABASE_URL to another "
                                 "file (e.g. sqlite:///var/demo.db) or move it away")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = Store(url)
    with store.begin() as conn:
        set_meta(conn, "demo", "1")
    return store


def run_demo(config: Config, people: int = 2000, seed: int = 7, out=print) -> int:
    """Generate, ingest through the real ingest path, score, and print what a rep and an admin would see."""
    started = time.time()
    specs = load_spec_set(config.spec_dirs)
    store = _fresh_store(config)
    now = int(time.time()) // 3600 * 3600
    ws = generate(people, now, seed)
    out(f"Demo workspace: {len(ws.accounts)} accounts, {len(ws.identities)} people, {len(ws.events)} events "
        f"over 90 days -> {store.url}")
    messages = ws.accounts + ws.identities + ws.events
    rejected = 0
    for start in range(0, len(messages), BATCH):
        report = ingest_messages(store, messages[start:start + BATCH], "demo", received_at=now)
        rejected += len(report.rejected)
    out(f"Ingested {len(messages)} messages through the Segment ingest path ({rejected} rejected).")
    summary = score(store, specs.rules, now, lifecycle=specs.lifecycle)
    out(format_summary(summary))
    out(_persona_table(store, ws.personas))
    _show_examples(store, specs.rules, ws.personas, now, out)
    from crm_app.services.ops.demo_playbooks import demo_playbooks  # route, task, alert (outbox)
    demo_playbooks(config, store, specs, now, out)
    from crm_app.services.dashboard.auth import issue_one_time_password
    cli = launcher()
    out(f"\nDashboard: {cli} serve, then http://127.0.0.1:5000/dashboard/ — sign in as "
        f"{config.dashboard_admin_user!r} with the one-time password {issue_one_time_password(store)}")
    out(f"\nDone in {time.time() - started:.1f}s. Next:\n"
        f"  {cli} explain u000001      # one person's breakdown\n"
        f"  {cli} score --dry-run       # rescore without saving\n"
        f"  {cli} serve                 # keep it running: dashboard, ingest API, probes and the "
        f"scheduler on http://127.0.0.1:5000")
    return 0


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
