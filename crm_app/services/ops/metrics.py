"""Prometheus metrics read from the store: what every process on every machine did (the worker's jobs, scoring,
CRM calls, playbook actions and Slack alerts, all ingest), in one GROUP BY per table, at scrape time."""
from __future__ import annotations

import threading
import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from crm_app.store import Store, schema
from crm_app.store import crm as crm_store
from crm_app.store import ops as ops_store
from crm_app.store.playbooks.schema import pb_ledger

CACHE_SECONDS = 5.0  # scrapes closer together than this share one read of the store


def _counter(name: str, doc: str, labels: list[str], rows) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for *values, total in rows:
        family.add_metric([str(v) for v in values], float(total or 0))
    return family


def _gauge(name: str, doc: str, labels: list[str], rows) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for *values, value in rows:
        family.add_metric([str(v) for v in values], float(value or 0))
    return family


def read_store_metrics(store: Store) -> list:
    """Every store-derived metric family, read in one transaction."""
    jobs, r, log, calls, ledger = ops_store.job_runs, schema.results, schema.ingest_log, crm_store.crm_api_calls, \
        pb_ledger
    with store.read() as conn:
        job_rows = conn.execute(select(jobs.c.job, jobs.c.runs, jobs.c.failures, jobs.c.seconds,
                                       jobs.c.finished_at, jobs.c.outcome)).all()
        ingest = conn.execute(select(func.sum(log.c.accepted), func.sum(log.c.duplicates),
                                     func.sum(log.c.rejected))).one()
        runs = conn.execute(select(schema.score_runs.c.mode, func.count(), func.sum(schema.score_runs.c.scored))
                            .where(schema.score_runs.c.dry_run.is_not(True))
                            .group_by(schema.score_runs.c.mode)).all()
        last_run = conn.execute(select(schema.score_runs.c.finished_at - schema.score_runs.c.started_at,
                                       schema.score_runs.c.finished_at)
                                .order_by(schema.score_runs.c.id.desc()).limit(1)).first()
        subjects = conn.execute(select(r.c.model, r.c.band, func.count()).group_by(r.c.model, r.c.band)).all()
        pqls = conn.execute(select(r.c.model, func.count()).where(r.c.pql.is_(True)).group_by(r.c.model)).all()
        queue = ops_store.dirty_count(conn)
        api = conn.execute(select(calls.c.crm, calls.c.operation, calls.c.family, func.sum(calls.c.calls))
                           .group_by(calls.c.crm, calls.c.operation, calls.c.family)).all()
        failures = conn.execute(select(crm_store.crm_write_failures.c.crm, func.count())
                                .group_by(crm_store.crm_write_failures.c.crm)).all()
        actions = conn.execute(select(ledger.c.action, ledger.c.status, func.count())
                               .group_by(ledger.c.action, ledger.c.status)).all()
    families = [
        _counter("pql_job_runs", "Runs of each scheduled job, by any worker", ["job"],
                 [(j.job, j.runs) for j in job_rows]),
        _counter("pql_job_failures", "Failed runs of each scheduled job", ["job"],
                 [(j.job, j.failures) for j in job_rows]),
        _gauge("pql_job_last_duration_seconds", "How long the last run of each job took", ["job"],
               [(j.job, j.seconds) for j in job_rows]),
        _gauge("pql_job_last_finished_timestamp_seconds", "When the last run of each job finished (Unix time)",
               ["job"], [(j.job, j.finished_at) for j in job_rows]),
        _gauge("pql_job_last_outcome", "1 for the outcome of each job's last run (ok, idle, failed, "
               "not_configured)", ["job", "outcome"], [(j.job, j.outcome, 1) for j in job_rows]),
        _counter("pql_ingest_stored_messages", "Ingested messages by outcome, from every web process and import",
                 ["outcome"], [("accepted", ingest[0]), ("duplicate", ingest[1]), ("rejected", ingest[2])]),
        _counter("pql_scoring_runs", "Scoring runs saved, by mode (full or changed)", ["mode"],
                 [(mode, n) for mode, n, _ in runs]),
        _counter("pql_scoring_scored_people", "People scored by saved runs, by mode", ["mode"],
                 [(mode, scored) for mode, _, scored in runs]),
        _gauge("pql_scoring_last_run_duration_seconds", "Wall time of the last scoring run", [],
               [(last_run[0],)] if last_run else []),
        _gauge("pql_scoring_last_run_finished_timestamp_seconds", "When the last scoring run finished (Unix time)",
               [], [(last_run[1],)] if last_run else []),
        _gauge("pql_scoring_queue_people", "People whose data changed, waiting for the next score", [], [(queue,)]),
        _gauge("pql_scored_subjects", "Scored people or accounts, by model and band", ["model", "band"],
               [(model, band or "none", n) for model, band, n in subjects]),
        _gauge("pql_pqls", "Subjects over the PQL threshold now, by model", ["model"], pqls),
        _counter("pql_crm_api_calls", "CRM API calls, by CRM, operation and API family", ["crm", "operation", "family"],
                 api),
        _gauge("pql_crm_write_failures", "CRM records whose last write was refused, kept for retry", ["crm"],
               failures),
        _gauge("pql_playbook_actions", "Playbook ledger entries by action (slack_alert, create_task, assign, "
               "set_field) and status", ["action", "status"], actions),
    ]
    return families


class StoreCollector:
    """A prometheus_client collector over the store, cached for CACHE_SECONDS; a store outage yields
    pql_store_up 0 instead of failing the scrape."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._cached: tuple[float, list] = (0.0, [])

    def collect(self):
        with self._lock:
            if self._cached[0] <= time.monotonic():
                try:
                    families, up = read_store_metrics(self.store), 1
                except Exception:  # noqa: BLE001 - the scrape must answer; the gauge says the store is down
                    families, up = [], 0
                families.append(_gauge("pql_store_up", "1 when the store answered this scrape", [], [(up,)]))
                self._cached = (time.monotonic() + CACHE_SECONDS, families)
            return list(self._cached[1])
