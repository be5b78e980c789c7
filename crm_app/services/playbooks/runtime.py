"""What a playbook run talks to (store, playbooks, CRM adapter, Slack or outbox), built from the settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from crm_app.errors import ConfigError
from crm_app.specs.playbooks import PlaybookSet
from crm_app.slack.pacing import ChannelPacer
from crm_app.slack.senders import OutboxSender, SlackSender
from crm_app.slack.settings import SLACK_SETTINGS, slack_setting


@dataclass
class Runtime:
    """What a playbook run talks to. `fault` is called at named points so tests can kill a run there."""

    store: object
    playbooks: PlaybookSet
    adapter: object  # crm.base.CrmAdapter
    sender: object  # slack.senders.SlackSender | OutboxSender
    fault: Callable[[str, dict], None] | None = None
    max_attempts: int = 8
    dispatch_budget: float = 2.0  # seconds one pass may spend sending; the rest waits for the next pass
    wait_for_record: int = 7 * 86400  # seconds an action waits for its subject's CRM record before it expires
    rules: object = None  # specs.rules.RuleSet: tells behaviour reasons (signals) from fit reasons
    owners: dict = field(default_factory=dict)  # email -> CRM owner id, filled lazily
    install_id: str = ""  # the store's own id (meta install_id), read on first use
    lifecycle: tuple = ()  # lifecycle model specs, scored with the rules in a cycle
    known_targets: dict = field(default_factory=dict)  # (kind, subject id) -> Target, read once per dispatch pass

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
    return SlackSender.from_token(token, slack_setting("SLACK_API_URL", env), pacer,
                                  float(slack_setting("SLACK_TIMEOUT_SECONDS", env)))


def make_runtime(store, specs, adapter, env: dict | None = None) -> Runtime:
    """A runtime for the applied spec set."""
    return Runtime(store=store, playbooks=specs.playbooks, adapter=adapter, sender=make_sender(store, env),
                   rules=specs.rules, lifecycle=specs.lifecycle,
                   max_attempts=int(slack_setting("PLAYBOOK_MAX_ATTEMPTS", env)),
                   wait_for_record=wait_seconds(env),
                   dispatch_budget=positive_setting("PLAYBOOK_DISPATCH_BUDGET_SECONDS", "seconds", env))


def wait_seconds(env: dict | None = None) -> int:
    """PLAYBOOK_WAIT_FOR_RECORD_HOURS in seconds."""
    return int(positive_setting("PLAYBOOK_WAIT_FOR_RECORD_HOURS", "hours", env) * 3600)


def positive_setting(name: str, unit: str, env: dict | None = None) -> float:
    """A setting that must be a finite number above 0; a ConfigError naming it and its default otherwise."""
    raw = slack_setting(name, env)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}={raw!r}: expected a number of {unit} above 0, e.g. {SLACK_SETTINGS[name][0]}")
    return value
