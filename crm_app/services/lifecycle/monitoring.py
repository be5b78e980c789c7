"""`monitor`: gather the figures the model-monitoring checks need from the store, run the pure checks."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from crm_app.models import monitoring_checks as checks_of
from crm_app.store import Store, schema
from crm_app.store.playbooks import alerts as alert_store
from crm_app.store import lifecycle as lifecycle_store
from crm_app.store import ops as ops_store

WEEK, MONTH = 7 * 86400, 30 * 86400


def _new_pqls_last_week(conn, model: str, now: int) -> int:
    r = schema.results
    return conn.execute(select(func.count()).where(r.c.model == model, r.c.pql_first_at >= now - WEEK)).scalar() or 0


def feedback_counts(conn, now: int) -> tuple:
    """(PQLs alerted in Slack in the last 30 days, those marked 'Not a fit'); None while none were alerted."""
    alerted, not_a_fit = alert_store.feedback_counts(conn, now - MONTH)
    return (alerted, not_a_fit) if alerted else (None, None)


def run(store: Store, rule_models: list, lifecycle_names: list, reps: int, now: int | None = None) -> list[dict]:
    """Every check, flagged or not; unknown when the data it needs is not there yet."""
    now = int(time.time()) if now is None else now
    checks = []
    with store.read() as conn:
        for model in rule_models:
            bt = lifecycle_store.latest_backtest(conn, model.name)
            lift = bt["report"]["results"].get("live", next(iter(bt["report"]["results"].values())))["threshold"]["lift"] \
                if bt else None
            checks.append(dict(checks_of.check_lift(lift), model=model.name))
            new = _new_pqls_last_week(conn, model.name, now) if model.pql else None
            checks.append(dict(checks_of.check_volume(None if new is None else new / max(1, reps)), model=model.name))
        for name in [m.name for m in rule_models] + list(lifecycle_names):
            current = lifecycle_store.score_distribution(conn, name)
            first, _ = lifecycle_store.history_bounds(conn, name)
            launch = lifecycle_store.score_distribution(conn, name, first) if first is not None else []
            checks.append(dict(checks_of.check_clustered(name, current), model=name))
            checks.append(dict(checks_of.check_drift(name, launch, current), model=name))
        checks.append(checks_of.check_not_a_fit(*feedback_counts(conn, now)))
        # job_runs keeps a running total per job, not a per-run history, so this counts every recorded failure.
        checks.append(checks_of.check_sync(ops_store.job_failures(conn, "crm_sync")))
    from crm_app.services.lifecycle.customer_health_kpis import kpi_checks
    checks.extend(kpi_checks(store, rule_models))
    return checks
