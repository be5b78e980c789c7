"""Operational status: store, admin files, last scoring run, ingest totals."""
from __future__ import annotations

from sqlalchemy import func, select

from crm_app.config import Config
from crm_app.specs.loader import check_spec_set
from crm_app.store import Store, schema
from crm_app.store.migrations import current_version
from crm_app.store import rule_versions
from crm_app.store.scoring.results import last_run


def gather_status(store: Store, config: Config) -> dict:
    """Everything status and /readyz report, as plain data."""
    with store.read() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                  for t in (schema.people, schema.accounts, schema.events, schema.dirty)}
        ingest = conn.execute(select(func.coalesce(func.sum(schema.ingest_log.c.accepted), 0),
                                     func.coalesce(func.sum(schema.ingest_log.c.rejected), 0))).one()
        run = last_run(conn)
        if run:  # the published versions whose rules produced it (a rollback repeats an older one's rules)
            run = dict(run, rule_versions=rule_versions.versions_of_rules_hash(conn, run["rules_hash"] or ""))
        version = current_version(conn)
    errors = check_spec_set(config.spec_dirs)
    from crm_app.services.ops.service_status import service_status
    return {**service_status(store), "database": {"backend": store.backend, "schema_version": version, "ok": True},
            "counts": counts, "ingest": {"accepted": int(ingest[0]), "rejected": int(ingest[1])},
            "last_score_run": run, "admin_files": {"ok": not errors, "errors": [str(e) for e in errors]}}


def format_status(store: Store, config: Config) -> str:
    status = gather_status(store, config)
    lines = [f"store: {status['database']['backend']} schema revision {status['database']['schema_version']}",
             "records: " + ", ".join(f"{k} {v}" for k, v in status["counts"].items()),
             f"ingest: {status['ingest']['accepted']} accepted, {status['ingest']['rejected']} rejected"]
    run = status["last_score_run"]
    if run:
        lines.append(f"last score run: {run['mode']} of {run['scored']} people, {run['changed']} changed, "
                     f"{run['new_pqls']} new PQLs, rules {run['rules_hash']}{_versions(run)}")
    else:
        lines.append("last score run: never")
    files = status["admin_files"]
    lines.append("admin files: OK" if files["ok"] else f"admin files: {len(files['errors'])} error(s)")
    lines.extend(f"  {e}" for e in files["errors"])
    from crm_app.services.playbooks.status import format_playbook_status  # ledger, failures, outbox
    lines.extend(format_playbook_status(store))
    from crm_app.services.identity.resolve import format_identity_status, identity_status
    lines.extend(format_identity_status(identity_status(store)))
    from crm_app.services.ops.service_status import format_service_status
    lines.extend(format_service_status(status))
    return "\n".join(lines)


def _versions(run: dict) -> str:
    numbers = run.get("rule_versions") or []
    return f" (version {', '.join(map(str, numbers))})" if numbers else ""
