"""Where Slack messages go: Slack's Web API through slack_sdk, or the embedded outbox in the store.

Both take a `ref` (the ledger entry, or several for a bundled message) so an in-doubt post can be looked up
instead of sent twice. Both pass text and blocks through `finish`, which escapes untrusted text. Posts never
sleep on a rate limit: a 429 (or a channel that must wait) raises `RateLimited` with the wait, and the caller
puts the work back.
"""
from __future__ import annotations

import time
import uuid
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from crm_app.slack.pacing import ChannelPacer
from crm_app.slack.text import finish
from crm_app.store.playbooks import alerts as alert_store

EVENT_TYPE = "pql_alert"  # message metadata type (api.slack.com/metadata/using)


class RateLimited(Exception):
    """Slack said 429 (or the channel's pace says wait): try again after `retry_after` seconds."""

    def __init__(self, retry_after: float, channel: str | None = None):
        super().__init__(f"rate limited{' on ' + channel if channel else ''}; retry after {retry_after:.1f}s")
        self.retry_after, self.channel = retry_after, channel


class SlackUnreachable(ConnectionError):
    """Slack's API did not answer; the ledger retries the action with backoff."""


class SlackInDoubt(SlackUnreachable):
    """A post was sent but never answered: Slack may have it, so the retry looks it up before posting again."""


def _retry_after(exc: SlackApiError) -> float | None:
    resp = exc.response
    if getattr(resp, "status_code", None) != 429:
        return None
    headers = {k.lower(): v for k, v in (getattr(resp, "headers", None) or {}).items()}
    value = headers.get("retry-after")
    value = value[0] if isinstance(value, list) else value
    try:
        return max(1.0, float(value))
    except (TypeError, ValueError):
        return 1.0


def _refs(ref) -> list:
    return list(ref) if isinstance(ref, (list, tuple)) else [ref]


class SlackSender:
    """Posts with slack_sdk's WebClient, paced per channel; no retry handler sleeps in the dispatch path.

    A circuit breaker keeps a dead Slack (refusing, or accepting connections and never answering) from
    costing the dispatch loop a timeout per call: after a failure no call goes out for OPEN_FOR seconds,
    doubling with each failure up to OPEN_AT_MOST; then one `auth.test` with PROBE_TIMEOUT seconds decides
    whether calls go out again. `interactive` (button clicks, outside the dispatch loop) keeps slack_sdk's
    429 retry.
    """

    OPEN_FOR = 2.0
    OPEN_AT_MOST = 300.0
    PROBE_TIMEOUT = 3.0

    def __init__(self, client: WebClient, pacer: ChannelPacer | None = None, retries: int = 3):
        self.client = client
        self.client.retry_handlers[:] = []  # slack_sdk's handlers sleep between tries; the ledger retries
        self.interactive = WebClient(token=client.token, base_url=client.base_url, timeout=client.timeout,
                                     ssl=client.ssl, proxy=client.proxy, headers=client.headers)
        self.interactive.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=retries))
        self.probe = WebClient(token=client.token, base_url=client.base_url, timeout=min(client.timeout,
                               self.PROBE_TIMEOUT), ssl=client.ssl, proxy=client.proxy, headers=client.headers)
        self.probe.retry_handlers[:] = []
        self.pacer = pacer or ChannelPacer()
        self.verified: dict | None = None
        self.failures = 0  # consecutive calls Slack did not answer
        self._open_until = float("-inf")
        self._probe_first = False
        self._dm: dict = {}

    @classmethod
    def from_token(cls, token: str, base_url: str | None = None, pacer: ChannelPacer | None = None,
                   timeout: float = 10.0) -> "SlackSender":
        return cls(WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=int(max(1, timeout))),
                   pacer)

    def _call(self, method: str, paced: str | None = None, **kwargs):
        """One Web API call; a 429 becomes RateLimited (and blocks the `paced` channel for its Retry-After)."""
        self._through_the_breaker()
        try:
            result = getattr(self.client, method)(**kwargs)
        except (OSError, URLError) as exc:  # refused, reset, timed out: every later call would be too
            self._trip()
            if method == "chat_postMessage" and not isinstance(exc, URLError):  # sent, then no answer
                raise SlackInDoubt(f"Slack did not answer a post it may have received: {exc}") from exc
            raise SlackUnreachable(f"Slack is unreachable: {exc}") from exc
        except SlackApiError as exc:
            self.failures = 0  # it answered
            wait = _retry_after(exc)
            if wait is None:
                raise
            if paced is not None:
                self.pacer.block(paced, wait)
            raise RateLimited(wait, paced) from exc
        self.failures = 0
        return result

    def _through_the_breaker(self) -> None:
        """Refuse at once while the breaker is open; after a failure, probe with a short timeout first."""
        now = self.pacer.clock()
        if now < self._open_until:
            raise SlackUnreachable(f"Slack did not answer; next try in {self._open_until - now:.0f}s")
        if not self._probe_first:
            return
        try:
            answer = self.probe.auth_test()
            if self.verified is None:
                self.verified = dict(answer.data)
        except SlackApiError:
            pass  # an answer, even a refusal: Slack is reachable
        except (OSError, URLError) as exc:
            self._trip()
            raise SlackUnreachable(f"Slack is still unreachable: {exc}") from exc
        self._probe_first = False

    def _trip(self) -> None:
        self.failures += 1
        self._probe_first = True
        self._open_until = self.pacer.clock() + min(self.OPEN_AT_MOST, self.OPEN_FOR * 2 ** (self.failures - 1))

    def verify(self) -> dict:
        """auth.test, once, on first use rather than at start-up (the web tier must start without Slack)."""
        if self.verified is None:
            self._through_the_breaker()  # after a failure its probe is the auth.test
        if self.verified is None:
            self.verified = dict(self._call("auth_test").data)
        return self.verified

    def dm_channel(self, email: str) -> str:
        """The DM channel with the Slack user who has this email (users.lookupByEmail + conversations.open)."""
        if email not in self._dm:
            user = self._call("users_lookupByEmail", email=email)["user"]["id"]
            self._dm[email] = self._call("conversations_open", users=user)["channel"]["id"]
        return self._dm[email]

    def post(self, channel: str, text, blocks: list, ref) -> dict:
        wait = self.pacer.wait(channel)
        if wait > 0:
            raise RateLimited(wait, channel)
        self.verify()
        refs = _refs(ref)
        self.pacer.take(channel)
        resp = self._call("chat_postMessage", channel, channel=channel, text=finish(text), blocks=finish(blocks),
                          unfurl_links=False, unfurl_media=False,
                          metadata={"event_type": EVENT_TYPE, "event_payload": {"ref": refs[0], "refs": refs}})
        return {"channel": resp["channel"], "ts": resp["ts"]}

    def update(self, channel: str, ts: str, text, blocks: list) -> None:
        self.interactive.chat_update(channel=channel, ts=ts, text=finish(text), blocks=finish(blocks))

    def find(self, channel: str, ref: str) -> dict | None:
        """A message we posted with this ref among the channel's recent history, if the post went through."""
        resp = self._call("conversations_history", channel=channel, limit=200, include_all_metadata=True)
        for msg in resp.get("messages", []):
            meta = msg.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            refs = [payload.get("ref")] + list(payload.get("refs") or [])
            if meta.get("event_type") == EVENT_TYPE and ref in refs:
                return {"channel": channel, "ts": msg["ts"]}
        return None

    def user_email(self, user_id: str) -> str | None:
        """The email of a Slack user (users.info; needs the users:read.email scope)."""
        profile = self.interactive.users_info(user=user_id)["user"].get("profile", {})
        return (profile.get("email") or "").lower() or None


class OutboxSender:
    """Embedded default without a Slack token: messages are rows the dashboard shows and `demo` prints."""

    pacer = None

    def __init__(self, store):
        self.store = store

    def dm_channel(self, email: str) -> str:
        return f"@{email}"

    def post(self, channel: str, text, blocks: list, ref) -> dict:
        now, ts = int(time.time()), f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"
        with self.store.begin() as conn:
            alert_store.outbox_insert(conn, channel, ts, finish(text), finish(blocks), " ".join(_refs(ref)), now)
        return {"channel": channel, "ts": ts}

    def update(self, channel: str, ts: str, text, blocks: list) -> None:
        with self.store.begin() as conn:
            alert_store.outbox_update(conn, ts, finish(text), finish(blocks), int(time.time()))

    def find(self, channel: str, ref: str) -> dict | None:
        with self.store.read() as conn:
            return alert_store.outbox_find(conn, ref)

    def user_email(self, user_id: str) -> str | None:
        return user_id if "@" in user_id else None


def outbox_messages(store, limit: int = 50) -> list[dict]:
    """The newest outbox messages, for `demo` and the dashboard."""
    with store.read() as conn:
        return alert_store.outbox_list(conn, limit)
