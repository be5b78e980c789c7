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
