"""Per-channel pacing of chat.postMessage, as Slack's rate limits describe it (api.slack.com/apis/rate-limits):
about one message per second per channel, short bursts allowed. A token bucket per channel; a 429 empties
the channel's bucket until its Retry-After has passed, and teaches the pacer that this channel takes no burst
(Slack does not publish the burst size), so the alerts that queue up for it next are bundled at once instead
of meeting another 429. Nothing here sleeps: callers ask how long to wait."""
from __future__ import annotations

import threading
import time
from typing import Callable


class ChannelPacer:
    """`rate` messages per second per channel, up to `burst` at once."""

    def __init__(self, rate: float = 1.0, burst: int = 3, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = max(rate, 1e-6), max(1, burst), clock
        self._buckets: dict = {}  # channel -> (tokens, at)
        self._blocked: dict = {}  # channel -> no tokens before this moment (after a 429)
        self._no_burst: set = set()  # channels that answered 429 to a burst our bucket allowed
        self._lock = threading.Lock()

    def _tokens(self, channel: str, now: float) -> float:
        if self._blocked.get(channel, 0) > now:
            return 0.0
        burst = 1.0 if channel in self._no_burst else float(self.burst)
        tokens, at = self._buckets.get(channel, (burst, now))
        return min(burst, tokens + (now - at) * self.rate)

    def available(self, channel: str) -> int:
        """Messages the channel may take right now."""
        with self._lock:
            return int(self._tokens(channel, self.clock()) + 1e-9)

    def wait(self, channel: str) -> float:
        """Seconds until the channel may take one message (0 when it may now)."""
        with self._lock:
            now = self.clock()
            blocked = max(0.0, self._blocked.get(channel, 0) - now)
            tokens = self._tokens(channel, now + blocked)
            return blocked + max(0.0, (1 - tokens) / self.rate)

    def take(self, channel: str) -> None:
        with self._lock:
            now = self.clock()
            self._buckets[channel] = (self._tokens(channel, now) - 1, now)

    def block(self, channel: str, seconds: float) -> None:
        """Slack answered 429: no message to this channel for `seconds`; then one may go, and the bucket refills
        to one message, not a burst."""
        with self._lock:
            now = self.clock()
            self._no_burst.add(channel)
            self._blocked[channel] = now + max(0.0, seconds)
            self._buckets[channel] = (1.0, now + max(0.0, seconds))
