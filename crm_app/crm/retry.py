"""Backoff shared by the vendor adapters: 429 and 5xx get exponential backoff that honours Retry-After.

Neither simple-salesforce nor our HubSpot transport retries by itself, so every
attempt goes through here and is counted. Only requests that are safe to repeat are repeated after an
ambiguous failure (5xx, reset, timeout): a lost answer to a POST that creates something may mean it was made.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class RetryPolicy:
    """How often and how long to wait; `sleep` is replaceable so tests need not wait."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before attempt number `attempt + 1`; Retry-After wins when given."""
        if retry_after:
            try:
                return min(self.cap, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP-date Retry-After: fall back to our own backoff
        return min(self.cap, self.base * (2 ** attempt)) * (0.5 + random.random() / 2)


def family_of(path: str) -> str:
    """The endpoint family of a request path, for API-call accounting."""
    checks = (("/composite/sobjects", "sobject-collections"), ("/jobs/ingest", "bulk2"), ("/tooling/", "tooling"),
              ("/query", "query"), ("/limits", "limits"), ("/oauth2/", "oauth"), ("/sobjects/", "sobjects"),
              ("/associations", "associations"), ("/batch/", "batch"), ("/search", "search"),
              ("/properties/", "properties"), ("/owners", "owners"), ("/objects/", "objects"))
    for needle, family in checks:
        if needle in path:
            return family
    return "other"
