"""Exactly-once score writes: after a lost answer, read the batch back and resend only what did not land.

A connection reset, a timeout or a 5xx leaves a batch write in doubt: the CRM may have applied it. Resending
blindly would apply it twice (harmless for values, but it bumps modification stamps and costs calls);
reading the records back tells which ones already hold the values we sent.
"""
from __future__ import annotations

from typing import Callable

from crm_app.crm.base import CrmError, RecordUpdate, WriteOutcome
from crm_app.crm.retry import RetryPolicy
from crm_app.crm.values import canonical


class LostAnswer(Exception):
    """A write whose answer never came (reset, timeout, 5xx): it may or may not have been applied."""


def landed(update: RecordUpdate, current: dict | None) -> bool:
    """Whether the CRM already holds every value of an update (compared in canonical form)."""
    if current is None:
        return False
    return all(canonical(update.type_of(k), current.get(k)) == canonical(update.type_of(k), v)
               for k, v in update.values.items())


def write_checked(batch: list[RecordUpdate], send: Callable, read: Callable, policy: RetryPolicy) -> list[WriteOutcome]:
    """send(batch) -> outcomes; after a LostAnswer, read(batch) -> {id: values} and resend only the rest."""
    pending, done = list(batch), {}
    for attempt in range(policy.attempts):
        try:
            for outcome in send(pending):
                done[outcome.id] = outcome
            return [done[u.id] for u in batch]
        except LostAnswer:
            policy.sleep(policy.delay(attempt))
            current = read(pending)
            for update in pending:
                if landed(update, current.get(update.id)):
                    done[update.id] = WriteOutcome(update.id, True)
            pending = [u for u in pending if u.id not in done]
            if not pending:
                return [done[u.id] for u in batch]
    raise CrmError("a batch write kept losing its answer; the records not yet written stay pending")
