"""Environment settings of playbooks and Slack; merged into config.SETTINGS (docs/operations.md documents each)."""
from __future__ import annotations

import os

SLACK_SETTINGS: dict[str, tuple[str, str]] = {
    "SLACK_BOT_TOKEN": ("", "bot token (xoxb-…) for alerts; empty = alerts go to the outbox in the store"),
    "SLACK_SIGNING_SECRET": ("", "signing secret Slack signs button clicks with; needed for /slack/events"),
    "SLACK_API_URL": ("https://slack.com/api/", "Slack Web API base URL (a proxy or a test emulator)"),
    "SLACK_CHANNEL_RATE": ("1", "chat.postMessage pace per channel, messages per second (Slack: about 1)"),
    "SLACK_CHANNEL_BURST": ("3", "messages a channel may take at once before the pace applies; more waiting "
                                 "alerts are bundled into one message"),
    "SLACK_TIMEOUT_SECONDS": ("10", "seconds a Slack Web API call may take; a Slack that does not answer opens "
                                    "a circuit breaker (2 s doubling to 5 min, then a 3 s auth.test probe)"),
    "PLAYBOOK_MAX_ATTEMPTS": ("8", "tries per playbook action before it is marked dead (backoff 30 s doubling)"),
    "PLAYBOOK_DISPATCH_BUDGET_SECONDS": ("2", "seconds one playbook pass may spend sending actions; what is left "
                                              "waits for the next pass (a wave of retries never holds up scoring)"),
    "PLAYBOOK_WAIT_FOR_RECORD_HOURS": ("168", "hours an action waits (status waiting) for its subject's CRM record "
                                              "before it is marked expired"),
}


def slack_setting(name: str, env: dict | None = None) -> str:
    """A playbook/Slack setting from the environment, or its default."""
    env = os.environ if env is None else env
    return env.get(name, SLACK_SETTINGS[name][0])
