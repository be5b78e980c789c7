"""The demo's playbook half: run the playbooks over the demo's PQLs and show the Slack outbox."""
from __future__ import annotations

from crm_app.services.playbooks.status import format_playbook_status
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.slack.senders import outbox_messages


def demo_playbooks(config, store, specs, now: int, out=print, show: int = 2) -> dict | None:
    """Route, task and alert the demo's PQLs through the configured CRM; print the newest outbox alerts."""
    import os
    from pathlib import Path

    from crm_app.crm.registry import make_adapter, setting
    from crm_app.services.playbooks.runtime import make_runtime
    if setting("CRM").strip().lower() == "sandbox":  # the demo's people become sandbox leads and contacts
        from crm_app.crm.sandbox import SandboxCrm
        from crm_app.services.ops.demo_crm import UNKNOWN_EVERY, seed_sandbox_from_store
        # Beside the demo's store unless set: the default var/crm-sandbox.db when the store is var/pql.db.
        path = os.environ.get("CRM_SANDBOX_PATH") or str(config.var_dir / "crm-sandbox.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        report = seed_sandbox_from_store(store, path, specs.fields,
                                         Path(config.specs_root) / setting("CRM_MAPPING_FILE"),
                                         Path(config.specs_root) / setting("CRM_CREATE_FILE"), list(specs.rules.names),
                                         unknown_every=UNKNOWN_EVERY)
        calls = sum(report.calls.values()) if isinstance(report.calls, dict) else report.calls
        out(f"\nSandbox CRM {report.sandbox_path}: {report.accounts} accounts, {report.contacts} contacts, "
            f"{report.leads} leads; {report.provisioned} score fields provisioned; {report.written} records "
            f"written back ({calls} API calls).")
        out(f"  {report.signups_unknown} product signups were not in the CRM; {report.created} of them are PQLs and "
            f"now appear as new leads (mapping/create.yaml).")
        from crm_app.services.scoring.run import score
        # rescore with what sync brought from the CRM (it queued everyone)
        score(store, specs.rules, now, lifecycle=specs.lifecycle)
        adapter, created_field = SandboxCrm(path), report.external_id_field
    else:
        adapter, created_field = make_adapter(), None
    rt = make_runtime(store, specs, adapter)
    rt.dispatch_budget = max(rt.dispatch_budget, 600.0)  # the demo sends all it planned, however loaded the machine
    report = run_playbooks(rt, now)
    out(f"\nPlaybooks: {report['occurrences']} trigger occurrence(s), {report['sent']} action(s) sent, "
        f"{report['failed']} failed (retried later), {report['dead']} dead.")
    for line in format_playbook_status(store)[:2]:
        out("  " + line)
    for message in outbox_messages(store, show):
        out(f"  outbox → {message['channel']}: {message['text']}")
    for line in _new_leads(store, adapter, created_field, show):
        out(line)
    out("  python -m crm_app playbooks outbox   # the alerts, with their buttons' state")
    return report


def _new_leads(store, adapter, created_field: str | None, show: int) -> list[str]:
    """A line per lead created for a product signup: its score, owner, tasks and Slack alert (sandbox only)."""
    from crm_app.store import crm as crm_store
    from crm_app.store.playbooks import ledger as pb_store
    db = getattr(adapter, "db", None)
    if db is None or not created_field or created_field not in db["leads"].columns_dict:
        return []
    rows = db.execute(f"SELECT l.id, l.email, l.pql_score, o.email, (SELECT count(*) FROM tasks t "
                      f"WHERE t.who_id = l.id) FROM leads l LEFT JOIN owners o ON o.id = l.owner_id "
                      f"WHERE l.[{created_field}] IS NOT NULL ORDER BY l.pql_score DESC LIMIT ?", [show]).fetchall()
    with store.read() as conn:
        person_of = {lk["record_id"]: lk["person_id"] for lk in crm_store.person_links(conn, adapter.name)}
        alerts = pb_store.alert_entries(conn, [p for p in person_of.values() if p is not None])
    return [f"  new lead {lead_id} for product signup {email}: PQL score {score}, owner {owner or 'none yet'}, "
            f"{tasks} task(s), Slack alert {_alert_text(alerts.get(person_of.get(lead_id)))}"
            for lead_id, email, score, owner, tasks in rows]


def _alert_text(entry: dict | None) -> str:
    if entry is None:
        return "none"
    if entry["status"] == "sent":
        return f"to {(entry['result'] or {}).get('channel') or entry['owner'] or '?'} (outbox)"
    if entry["status"] == "digest":
        return f"held for {entry['owner']}'s daily digest"
    return f"{entry['status']}{': ' + entry['error'] if entry.get('error') else ''}"
