"""The Slack endpoint: POST /slack/events carries interactivity (button clicks, modal submissions)."""
from __future__ import annotations

from flask import Blueprint, request
from slack_bolt.adapter.flask import SlackRequestHandler


def slack_blueprint(bolt_app) -> Blueprint:
    """A blueprint serving Bolt's handler; Bolt verifies the signature and the 5-minute window (401 if not)."""
    bp = Blueprint("slack", __name__)
    handler = SlackRequestHandler(bolt_app)

    @bp.post("/slack/events")
    def slack_events():
        return handler.handle(request)

    return bp


def register_slack(app, store, env: dict | None = None) -> bool:
    """Serve /slack/events when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set; True when registered."""
    from crm_app.slack.settings import slack_setting
    if not (slack_setting("SLACK_BOT_TOKEN", env) and slack_setting("SLACK_SIGNING_SECRET", env)):
        return False
    try:
        from crm_app.crm.registry import make_adapter  # CRM=sandbox|salesforce|hubspot
    except ImportError:
        app.logger.warning("Slack is configured but no CRM adapter is installed: /slack/events is not served")
        return False
    from crm_app.services.playbooks.runtime import make_runtime
    from crm_app.web.slack_app import build_bolt_app
    from crm_app.services.admin.rule_reload import RuleHolder

    config = app.config["PQL_CONFIG"]
    rt = make_runtime(store, RuleHolder(store, config.spec_dirs).require(), make_adapter(env), env)
    app.register_blueprint(slack_blueprint(build_bolt_app(rt, slack_setting("SLACK_SIGNING_SECRET", env),
                                                          rt.sender.interactive)))
    return True
