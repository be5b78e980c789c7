"""What `python -m crm_app status` shows about playbooks: the ledger by action and status, and what failed."""
from __future__ import annotations

import datetime as dt

from crm_app.store.playbooks import alerts as alert_store
from crm_app.store.playbooks import ledger as pb_store


def playbook_status(store) -> dict:
    """Ledger counts, failing entries, outbox size and false positives, as plain data."""
    with store.read() as conn:
        counts = pb_store.status_counts(conn)
        problems = pb_store.problem_entries(conn)
        outbox = alert_store.outbox_count(conn)
        false_positives = len(alert_store.false_positives(conn))
    return {"ledger": {f"{a}/{s}": n for (a, s), n in sorted(counts.items())}, "problems": problems,
            "outbox": outbox, "false_positives": false_positives}


def format_playbook_status(store) -> list[str]:
    """Status lines: totals per action, then every failed, dead, in-flight, waiting (for the subject's CRM
    record) or expired (the wait ran out) entry with its error."""
    status = playbook_status(store)
    if not status["ledger"]:
        return ["playbooks: no actions yet"]
    lines = ["playbook actions: " + ", ".join(f"{k} {v}" for k, v in status["ledger"].items()),
             f"slack outbox: {status['outbox']} message(s); false positives recorded: {status['false_positives']}"]
    for e in status["problems"]:
        retry = dt.datetime.fromtimestamp(e["next_at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        when = {"failed": f", retry at {retry}", "waiting": f", looks again at {retry}"}.get(e["status"], "")
        lines.append(f"  {e['status']}: {e['playbook']} {e['action']} for person {e['subject_id']} "
                     f"(attempt {e['attempts']}{when}): {e['error'] or 'in flight'}")
    return lines
