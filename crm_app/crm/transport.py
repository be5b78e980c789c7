"""A requests.Session that counts every attempt per endpoint family, retries what is safe, and keeps limits.

simple-salesforce makes all its calls (REST, Tooling, Bulk 2.0, queries) through the session it is given, so
this is the one place where Salesforce calls are counted and backed off.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import requests

from crm_app.crm.base import CallCounter
from crm_app.crm.retry import RETRY_STATUSES, RetryPolicy, family_of

SAFE_METHODS = frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE"})  # PATCH of the same values is idempotent


class CountingSession(requests.Session):
    """Counted, backed-off HTTP for one CRM; POST is repeated only after a 429 (the request was not processed)."""

    def __init__(self, counter: CallCounter, policy: RetryPolicy, timeout: float, verify: str | bool = True,
                 safe_posts: tuple = (), checked_writes: tuple = ()):
        super().__init__()
        self.counter, self.policy, self.timeout, self.verify = counter, policy, timeout, verify
        self.safe_posts = safe_posts  # POST paths that only read or are harmless to repeat
        # Paths whose lost answers the adapter resolves by reading back, so a write is applied once.
        self.checked_writes = checked_writes

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        # Per request: with trust_env, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's verify.
        kwargs.setdefault("verify", self.verify)
        path = urlsplit(url).path
        family = family_of(path)
        safe = (method.upper() in SAFE_METHODS or any(path.endswith(p) for p in self.safe_posts)) \
            and not any(path.endswith(p) for p in self.checked_writes)
        attempt = 0
        while True:
            self.counter.count(family)
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout):
                if not safe or attempt + 1 >= self.policy.attempts:
                    raise
                self.policy.sleep(self.policy.delay(attempt))
                attempt += 1
                continue
            self._note_limits(response)
            retryable = response.status_code in RETRY_STATUSES or _request_limit(response)
            if retryable and (safe or response.status_code == 429) and attempt + 1 < self.policy.attempts:
                self.policy.sleep(self.policy.delay(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            return response

    def _note_limits(self, response) -> None:
        info = response.headers.get("Sforce-Limit-Info")
        if info:
            self.counter.limits["Sforce-Limit-Info"] = info


def _request_limit(response) -> bool:
    """Salesforce answers an exhausted allocation with 403 REQUEST_LIMIT_EXCEEDED (API request limits)."""
    return response.status_code == 403 and b"REQUEST_LIMIT_EXCEEDED" in (response.content or b"")
