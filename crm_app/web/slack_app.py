"""The Slack Bolt app: verifies Slack's signature, acknowledges each click at once, then does the work.

Bolt (process_before_response=False) answers Slack as soon as ack() is called and runs the rest of the
listener in its thread pool, which keeps inside Slack's 3-second limit however slow the CRM is.
"""
from __future__ import annotations

import time
from typing import Callable

from slack_bolt import App
from slack_sdk import WebClient

from crm_app.services.playbooks.alert_actions import handle_alert_action
from crm_app.services.playbooks.runtime import Runtime
from crm_app.slack.blocks import ACTION_IDS, NOT_FIT_VIEW, finish, not_fit_modal


def build_bolt_app(rt: Runtime, signing_secret: str, client: WebClient,
                   clock: Callable[[], float] = time.time) -> App:
    """A Bolt app whose listeners call the shared alert handlers with the clicker's email.

    The token comes with `client`. Bolt's start-up auth.test is off (token_verification_enabled=False), so the
    web tier starts while Slack is unreachable; Bolt's single-team authorization runs auth.test on the first
    request instead.
    """
    app = App(signing_secret=signing_secret, client=client, process_before_response=False,
              token_verification_enabled=False)

    def actor(body: dict) -> str:
        """The clicker's email (users.info), which maps them to a CRM owner."""
        user = body["user"]["id"]
        return rt.sender.user_email(user) or user

    def run(body: dict, alert_id: int, action: str, detail: str | None, client: WebClient) -> None:
        outcome = handle_alert_action(rt, alert_id, action, actor(body), int(clock()), detail, via="slack",
                                      clicker=body["user"]["id"])
        if not outcome.ok:
            channel = (body.get("channel") or {}).get("id") or body["user"]["id"]
            client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=finish(outcome.message))

    @app.action(ACTION_IDS["claim"])
    def claim(ack, body, action, client):
        ack()
        run(body, int(action["value"]), "claim", None, client)

    @app.action(ACTION_IDS["snooze"])
    def snooze(ack, body, action, client):
        ack()
        run(body, int(action["value"]), "snooze", None, client)

    @app.action(ACTION_IDS["assign"])
    def assign(ack, body, action, client):
        ack()
        alert_id, email = action["selected_option"]["value"].split("|", 1)
        run(body, int(alert_id), "assign", email, client)

    @app.action(ACTION_IDS["not_fit"])
    def not_fit(ack, body, action, client):
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=finish(not_fit_modal(int(action["value"]))))

    @app.view(NOT_FIT_VIEW)
    def not_fit_reason(ack, body, view, client):
        reason = (((view.get("state") or {}).get("values") or {}).get("reason") or {}).get("reason", {}).get("value")
        if not (reason or "").strip():
            ack(response_action="errors", errors={"reason": "Say why, so the monthly audit can learn from it."})
            return
        ack()
        run(body, int(view["private_metadata"]), "not_fit", reason.strip(), client)

    return app
