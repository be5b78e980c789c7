"""What a playbook run talks to (store, playbooks, CRM adapter, Slack or outbox), built from the settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from crm_app.specs.playbooks import PlaybookSet
from crm_app.slack.pacing import ChannelPacer
from crm_app.slack.senders import OutboxSender, SlackSender
from crm_app.slack.settings import slack_setting


@dataclass
class Runtime:
    """What a playbook run talks to. `fault` is called at named points so tests can kill a run there."""

    store: object
    playbooks: PlaybookSet
    adapter: object  # crm.base.CrmAdapter
    sender: object  # slack.senders.SlackSender | OutboxSender
    fault: Callable[[str, dict], None] | None = None
    max_attempts: int = 8
    rules: object = None  # specs.rules.RuleSet: tells behaviour reasons (signals) from fit reasons
    owners: dict = field(default_factory=dict)  # email -> CRM owner id, filled lazily
    lifecycle: tuple = ()  # lifecycle model specs, scored with the rules in a cycle

    def behaviour_rules(self, model: str) -> frozenset | None:
        if self.rules is None or model not in self.rules.names:
            return None
        return frozenset(r.id for r in self.rules.model(model).behaviour)

    def at(self, point: str, entry: dict) -> None:
        if self.fault:
            self.fault(point, entry)


def make_sender(store, env: dict | None = None):
    """Slack when a bot token is set; otherwise the embedded outbox (what `demo` and the dashboard show)."""
    token = slack_setting("SLACK_BOT_TOKEN", env)
    if not token:
        return OutboxSender(store)
    pacer = ChannelPacer(float(slack_setting("SLACK_CHANNEL_RATE", env)),
                         int(slack_setting("SLACK_CHANNEL_BURST", env)))
    return SlackSender.from_token(token, slack_setting("SLACK_API_URL", env), pacer)


def make_runtime(store, specs, adapter, env: dict | None = None) -> Runtime:
    """A runtime for the applied spec set."""
    return Runtime(store=store, playbooks=specs.playbooks, adapter=adapter, sender=make_sender(store, env),
                   rules=specs.rules, lifecycle=specs.lifecycle,
                   max_attempts=int(slack_setting("PLAYBOOK_MAX_ATTEMPTS", env)))
