"""Where Slack messages go: Slack's Web API through slack_sdk, or the embedded outbox in the store.

Both take a `ref` (the ledger entry) so an in-doubt post can be looked up instead of sent twice.
"""
from __future__ import annotations

import time
import uuid

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from crm_app.store.playbooks import alerts as alert_store

EVENT_TYPE = "pql_alert"  # message metadata type (api.slack.com/metadata/using)


class SlackSender:
    """Posts with slack_sdk's WebClient; 429 Retry-After is honoured by RateLimitErrorRetryHandler."""

    def __init__(self, client: WebClient, retries: int = 3):
        self.client = client
        self.client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=retries))
        self._dm: dict = {}

    @classmethod
    def from_token(cls, token: str, base_url: str | None = None) -> "SlackSender":
        return cls(WebClient(token=token, base_url=base_url or WebClient.BASE_URL))

    def dm_channel(self, email: str) -> str:
        """The DM channel with the Slack user who has this email (users.lookupByEmail + conversations.open)."""
        if email not in self._dm:
            user = self.client.users_lookupByEmail(email=email)["user"]["id"]
            self._dm[email] = self.client.conversations_open(users=user)["channel"]["id"]
        return self._dm[email]

    def post(self, channel: str, text: str, blocks: list, ref: str) -> dict:
        resp = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False,
                                            metadata={"event_type": EVENT_TYPE, "event_payload": {"ref": ref}})
        return {"channel": resp["channel"], "ts": resp["ts"]}

    def update(self, channel: str, ts: str, text: str, blocks: list) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def find(self, channel: str, ref: str) -> dict | None:
        """A message we posted with this ref among the channel's recent history, if the post went through."""
        resp = self.client.conversations_history(channel=channel, limit=200, include_all_metadata=True)
        for msg in resp.get("messages", []):
            meta = msg.get("metadata") or {}
            if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("ref") == ref:
                return {"channel": channel, "ts": msg["ts"]}
        return None

    def user_email(self, user_id: str) -> str | None:
        """The email of a Slack user (users.info; needs the users:read.email scope)."""
        profile = self.client.users_info(user=user_id)["user"].get("profile", {})
        return (profile.get("email") or "").lower() or None


class OutboxSender:
    """Embedded default without a Slack token: messages are rows the dashboard shows and `demo` prints."""

    def __init__(self, store):
        self.store = store

    def dm_channel(self, email: str) -> str:
        return f"@{email}"

    def post(self, channel: str, text: str, blocks: list, ref: str) -> dict:
        now, ts = int(time.time()), f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"
        with self.store.begin() as conn:
            alert_store.outbox_insert(conn, channel, ts, text, blocks, ref, now)
        return {"channel": channel, "ts": ts}

    def update(self, channel: str, ts: str, text: str, blocks: list) -> None:
        with self.store.begin() as conn:
            alert_store.outbox_update(conn, ts, text, blocks, int(time.time()))

    def find(self, channel: str, ref: str) -> dict | None:
        with self.store.read() as conn:
            return alert_store.outbox_find(conn, ref)

    def user_email(self, user_id: str) -> str | None:
        return user_id if "@" in user_id else None


def outbox_messages(store, limit: int = 50) -> list[dict]:
    """The newest outbox messages, for `demo` and the dashboard."""
    with store.read() as conn:
        return alert_store.outbox_list(conn, limit)
