"""GET /metrics in the Prometheus text format: this web tier's ingest requests (every gunicorn worker, through
prometheus_client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set), plus what the store knows of every
process (jobs, scoring, CRM, playbooks and Slack; services/ops/metrics.py)."""
from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from crm_app.services.ops.metrics import StoreCollector

bp = Blueprint("metrics", __name__)

INGEST_REQUESTS = Counter("pql_ingest_requests", "Ingest API requests, by endpoint and HTTP status",
                          ["endpoint", "status"])
INGEST_MESSAGES = Counter("pql_ingest_messages", "Messages in ingest requests, by outcome", ["outcome"])
INGEST_SECONDS = Histogram("pql_ingest_request_seconds", "Ingest request latency",
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def count_messages(report) -> None:
    """Called by the ingest view with its report."""
    INGEST_MESSAGES.labels("accepted").inc(report.accepted)
    INGEST_MESSAGES.labels("duplicate").inc(report.duplicates)
    INGEST_MESSAGES.labels("rejected").inc(len(report.rejected))


def install(app) -> None:
    """Serve /metrics and count and time every request of the ingest blueprint, refused ones included."""
    app.register_blueprint(bp)

    @app.before_request
    def _start():
        if request.blueprint == "ingest":
            g.pql_ingest_started = time.perf_counter()

    @app.after_request
    def _done(response):
        started = g.pop("pql_ingest_started", None)
        if started is not None:
            INGEST_SECONDS.observe(time.perf_counter() - started)
            INGEST_REQUESTS.labels(request.path.rsplit("/", 1)[-1][:16], str(response.status_code)).inc()
        return response


class _ThisProcess:
    """The default registry's collectors (this process's metrics) when not under gunicorn's multiprocess mode."""

    def collect(self):
        return REGISTRY.collect()


def _registry(store) -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # sums the files every worker process writes
    else:
        registry.register(_ThisProcess())
    collector = current_app.extensions.setdefault("pql_store_metrics", StoreCollector(store))
    registry.register(collector)
    return registry


@bp.get("/metrics")
def metrics():
    token = current_app.config["PQL_CONFIG"].metrics_token
    given = request.headers.get("Authorization", "")
    if token and not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())):
        return Response("metrics need the METRICS_TOKEN bearer token\n", 401, mimetype="text/plain",
                        headers={"WWW-Authenticate": "Bearer"})
    body = generate_latest(_registry(current_app.config["PQL_STORE"]))
    return Response(body, 200, content_type=CONTENT_TYPE_LATEST)
