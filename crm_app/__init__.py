"""PQL scoring engine. create_app(): config, wiring, blueprints. Nothing else."""
from __future__ import annotations

import logging
import secrets

from flask import Flask

from crm_app.config import Config


def create_app(config: Config | None = None, store=None, embedded: bool | None = None) -> Flask:
    """The Flask app: ingest API, Slack endpoint, health and the dashboard, wired to one store.

    Built from the environment (gunicorn's `crm_app:create_app()`), it refuses to start without the secrets
    a deployment needs; `serve` on loopback and tests pass their config and run embedded.
    """
    from crm_app.config import missing_secrets
    from crm_app.errors import ConfigError
    from crm_app.store import Store
    from crm_app.web import ingest
    from crm_app.web import probes
    from crm_app.web import security

    embedded = config is not None if embedded is None else embedded
    if not embedded and missing_secrets():
        raise ConfigError(f"set {', '.join(missing_secrets())} in the environment: required outside the "
                          "embedded demo (python -m crm_app serve on 127.0.0.1)")
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = config.secret_key or secrets.token_hex(32)
    app.config["PQL_CONFIG"] = config
    app.config["PQL_STORE"] = store or Store(config.database_url)
    app.config["MAX_CONTENT_LENGTH"] = config.max_batch_bytes * 2
    if not config.write_key:
        logging.getLogger(__name__).warning("WRITE_KEY is empty: the ingest API accepts any sender "
                                            "(fine for the embedded demo, never in production)")
    security.install(app, config.trusted_proxy_hops)
    app.register_blueprint(ingest.bp)
    from crm_app.web import openapi
    app.register_blueprint(openapi.bp)  # GET /openapi.json describes the ingest API
    app.register_blueprint(probes.bp)
    from crm_app.web import metrics
    metrics.install(app)  # GET /metrics (Prometheus)
    from crm_app.web.slack import register_slack  # /slack/events when Slack is configured
    register_slack(app, app.config["PQL_STORE"])
    from crm_app.web import dashboard
    dashboard.register(app)
    return app
