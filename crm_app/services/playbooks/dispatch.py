"""Dispatch ledger entries exactly once: mark, send, confirm. An entry found half-done ('dispatching')
after a crash is looked up at its destination by its ref before anything is sent again.

A pass works in waves: the first due step of every occurrence, then the next step of those that went
through, and so on. Each wave is marked in flight in one transaction (durable before any of its calls),
sent, and its outcomes recorded in one transaction, so the database work of a pass does not grow with the
number of actions; a crash mid-wave leaves the wave's unrecorded entries in doubt, to be looked up."""
from __future__ import annotations

import math
import time
from itertools import groupby
from typing import Callable

from crm_app.services.playbooks.actions import SENDERS, InDoubt, Permanent, owner_id  # noqa: F401 - re-exported
from crm_app.services.playbooks.alert_batch import AlertQueue, alert_channel, retry_status
from crm_app.services.playbooks.plan import build_entries
from crm_app.services.playbooks.runtime import Runtime
from crm_app.services.playbooks.targets import NotLinkedYet, prefetch_targets
from crm_app.slack.blocks import digest_blocks
from crm_app.slack.senders import RateLimited
from crm_app.store.playbooks import alerts as alert_store
from crm_app.store import people as people_store
from crm_app.store.playbooks import ledger as pb_store
from crm_app.store.scoring import results as results_store

WAVE = 100  # entries marked, sent and recorded together; the budget is looked at between them
STOPS = ("failed", "deferred", "waiting")  # outcomes that hold back the occurrence's later steps


def backoff(attempts: int) -> int:
    """Seconds before the next try: 30 s doubling, at most an hour."""
    return min(3600, 30 * 2 ** max(0, attempts - 1))


def dispatch_due(rt: Runtime, now: int, budget: float | None = None) -> dict:
    """Send every due entry, occurrence by occurrence in step order; a failure holds back later steps.

    Steps after a failed one are deferred to its retry time, so every due entry's earlier steps are done
    or due with it (and come first in the ordered list). After `budget` seconds the rest waits for the next
    pass, so a wave of retries never holds up scoring and new PQLs for long.
    """
    started = time.perf_counter()
    budget = rt.dispatch_budget if budget is None else budget
    counts = {"sent": 0, "failed": 0, "dead": 0, "deferred": 0, "waiting": 0, "expired": 0}
    with rt.store.read() as conn:
        due = pb_store.due_entries(conn, now, limit=100_000)
    key = lambda e: (e["playbook"], e["subject_id"], e["occurrence"])  # noqa: E731
    queue = AlertQueue(rt, now, backoff)  # Slack alerts wait here, per channel, until the pass is planned
    rt.known_targets = prefetch_targets(rt, due)
    try:
        groups = [list(steps) for _, steps in groupby(due, key=key)]
        _run_waves(rt, groups, now, counts, queue, lambda: time.perf_counter() - started > budget)
        after = []
        for outcome, _, rest in queue.flush():
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "sent" and rest:
                after.append(rest)
        _run_waves(rt, after, now, counts, None, lambda: False)
    finally:
        rt.known_targets = {}
    return counts


def _run_waves(rt: Runtime, groups: list, now: int, counts: dict, queue: AlertQueue | None,
               over_budget: Callable[[], bool]) -> None:
    """Each occurrence's due steps in order, wave by wave, until one fails or a Slack alert is held for its
    channel (it goes with the channel's other alerts when the queue is flushed, its later steps after it)."""
    pending = [(steps, 0) for steps in groups]
    while pending:
        wave = []
        for steps, n in pending:
            entry = steps[n]
            if queue is not None and entry["action"] == "slack_alert" and queue.hold(entry, steps[n + 1:]):
                continue
            wave.append((steps, n))
        pending = []
        for start in range(0, len(wave), WAVE):
            if over_budget():
                return
            part = wave[start:start + WAVE]
            for (steps, n), outcome in zip(part, dispatch_batch(rt, [steps[n] for steps, n in part], now)):
                counts[outcome] += 1
                if outcome not in STOPS and n + 1 < len(steps):
                    pending.append((steps, n + 1))


def dispatch_one(rt: Runtime, entry: dict, now: int) -> str:
    """Mark the entry in flight, send it, and confirm; returns sent | failed | dead | deferred | waiting | expired."""
    return dispatch_batch(rt, [entry], now)[0]


def dispatch_batch(rt: Runtime, entries: list, now: int) -> list[str]:
    """Mark the entries in flight (one transaction, before any call), send each, record the outcomes (one
    transaction); returns each entry's outcome."""
    with rt.store.begin() as conn:
        pb_store.mark_in_flight(conn, [e["id"] for e in entries], now)
    results = []
    for entry in entries:
        rt.at("before_dispatch", entry)
        results.append((entry, *_attempt(rt, entry, now)))
    with rt.store.begin() as conn:
        pb_store.record_outcomes(conn, [(entry, values, defer) for entry, _, values, defer in results], now)
    return [outcome for _, outcome, _, _ in results]


def _attempt(rt: Runtime, entry: dict, now: int) -> tuple[str, dict, int | None]:
    """Send one marked entry: (outcome, ledger values to record, when its later steps come due or None)."""
    in_doubt = entry["status"] == "dispatching"
    attempts = entry["attempts"] + 1
    try:
        result = SENDERS[entry["action"]](rt, entry, in_doubt)
    except Permanent as exc:
        return "dead", {"status": "dead", "error": str(exc)}, None
    except RateLimited as exc:  # put back with Retry-After; no try is used up, nothing sleeps
        next_at = now + math.floor(exc.retry_after)  # the pacer holds the channel for the rest
        return "deferred", {"status": "failed" if in_doubt else entry["status"], "attempts": entry["attempts"],
                            "next_at": next_at}, next_at
    except NotLinkedYet as exc:  # not a failure: no try is used up until the wait expires
        return _wait(rt, entry, now, str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure of a remote call is retried with backoff
        status, next_at = "dead" if attempts >= rt.max_attempts else "failed", now + backoff(attempts)
        return status, {"status": retry_status(status, exc), "error": f"{type(exc).__name__}: {exc}"[:2000],
                        "next_at": next_at}, next_at
    rt.at("after_dispatch", entry)
    return "sent", {"status": "sent", "result": result}, None


def _wait(rt: Runtime, entry: dict, now: int, reason: str) -> tuple[str, dict, int | None]:
    """The subject has no CRM record yet: look again later (sooner while the wait is young), expire after
    PLAYBOOK_WAIT_FOR_RECORD_HOURS. Record creation or sync makes the entry due at once when it links one."""
    waited = now - entry["created_at"]
    if waited >= rt.wait_for_record:
        hours = rt.wait_for_record / 3600
        return "expired", {"status": "expired", "error": f"{reason}; none came within {hours:g} h "
                           "(PLAYBOOK_WAIT_FOR_RECORD_HOURS): is the subject covered by mapping/create.yaml?"}, None
    next_at = now + min(3600, max(30, waited // 2))
    return "waiting", {"status": "waiting", "attempts": entry["attempts"], "error": reason, "next_at": next_at}, next_at


def _dm(rt: Runtime, email: str | None) -> str:
    return alert_channel(rt, {"to_owner": email}, Permanent)


def send_digests(rt: Runtime, now: int) -> int:
    """One message per rep listing the alerts held for their digest; called daily by the worker."""
    with rt.store.read() as conn:
        held = pb_store.digest_entries(conn)
    sent = 0
    for owner, items in groupby(held, key=lambda e: e["owner"]):
        items = list(items)
        ref = f"pql-digest-{items[0]['id']}"
        channel = _dm(rt, owner)
        try:
            where = rt.sender.find(channel, ref) or rt.sender.post(
                channel, f"Your {len(items)} new PQL(s)",
                digest_blocks(owner, [e["payload"]["context"] for e in items]), ref)
        except RateLimited:  # held for the next digest run rather than slept on
            continue
        with rt.store.begin() as conn:
            for e in items:
                pb_store.mark(conn, e["id"], now, status="sent", result={"digest": where})
        sent += 1
    return sent


def process_snoozes(rt: Runtime, now: int) -> int:
    """Re-alert snoozed PQLs whose snooze ran out, if they are still PQLs."""
    count = 0
    with rt.store.begin() as conn:
        for alert in alert_store.due_snoozes(conn, now):
            pb = next((p for p in rt.playbooks.playbooks if p.name == alert["playbook"]), None)
            sid = alert["subject_id"]
            row = results_store.stored_result(conn, alert["model"], sid)
            if pb is not None and row is not None and row["pql"]:
                record = people_store.flat_records(conn, 0, -1, [sid]).get(sid, {})
                entries = build_entries(conn, rt, pb, record, row, f"snooze:{alert['id']}", now,
                                        only=("slack_alert",), owner=alert["owner"])
                count += pb_store.insert_entries(conn, entries)
            alert_store.mark_realerted(conn, alert["id"])
    return count
