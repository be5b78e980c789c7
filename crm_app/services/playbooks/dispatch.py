"""Dispatch ledger entries exactly once: mark, send, confirm. An entry found half-done ('dispatching')
after a crash is looked up at its destination by its ref before anything is sent again."""
from __future__ import annotations

import math
import time
import uuid
from itertools import groupby

from crm_app.crm.base import RecordUpdate, TaskRequest
from crm_app.services.playbooks.alert_batch import AlertQueue, alert_channel, alert_row, rep_choices, retry_status
from crm_app.services.playbooks.plan import build_entries
from crm_app.services.playbooks.runtime import Runtime
from crm_app.services.playbooks.targets import ACCOUNT, NotLinkedYet, prefetch_targets, resolve_target
from crm_app.slack.blocks import alert_blocks, digest_blocks
from crm_app.slack.senders import RateLimited
from crm_app.store.playbooks import alerts as alert_store
from crm_app.store import people as people_store
from crm_app.store.meta import first_meta
from crm_app.store.playbooks import ledger as pb_store
from crm_app.store.scoring import results as results_store



class Permanent(Exception):
    """Retrying cannot help (e.g. no owner was decided); the entry is marked dead with the reason."""


class InDoubt(Permanent):
    """The destination cannot tell whether an earlier attempt went through; a human must look."""


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
        for _, steps in groupby(due, key=key):
            if time.perf_counter() - started > budget:
                break
            _run_steps(rt, list(steps), now, counts, queue)
        for outcome, _, rest in queue.flush():
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "sent":
                _run_steps(rt, rest, now, counts, None)
    finally:
        rt.known_targets = {}
    return counts


def _run_steps(rt: Runtime, steps: list, now: int, counts: dict, queue: AlertQueue | None) -> None:
    """One occurrence's due steps in order, until one fails or a Slack alert is held for its channel."""
    for n, entry in enumerate(steps):
        if queue is not None and entry["action"] == "slack_alert" and queue.hold(entry, steps[n + 1:]):
            return
        outcome = dispatch_one(rt, entry, now)
        counts[outcome] += 1
        if outcome in ("failed", "deferred", "waiting"):
            return


def dispatch_one(rt: Runtime, entry: dict, now: int) -> str:
    """Mark the entry in flight, send it, and confirm; returns sent | failed | dead | deferred | waiting | expired."""
    in_doubt = entry["status"] == "dispatching"
    attempts = entry["attempts"] + 1
    with rt.store.begin() as conn:
        pb_store.mark(conn, entry["id"], now, status="dispatching", attempts=attempts)
    rt.at("before_dispatch", entry)
    try:
        result = SENDERS[entry["action"]](rt, entry, in_doubt)
    except Permanent as exc:
        return _finish(rt, entry, now, "dead", error=str(exc))
    except RateLimited as exc:  # put back with Retry-After; no try is used up, nothing sleeps
        next_at = now + math.floor(exc.retry_after)  # the pacer holds the channel for the rest
        return _finish(rt, entry, now, "deferred", attempts=entry["attempts"], next_at=next_at,
                       status_as="failed" if in_doubt else entry["status"], defer=True)
    except NotLinkedYet as exc:  # not a failure: no try is used up until the wait expires
        return _wait(rt, entry, now, str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure of a remote call is retried with backoff
        status = "dead" if attempts >= rt.max_attempts else "failed"
        return _finish(rt, entry, now, status, error=f"{type(exc).__name__}: {exc}"[:2000],
                       next_at=now + backoff(attempts), status_as=retry_status(status, exc), defer=True)
    rt.at("after_dispatch", entry)
    return _finish(rt, entry, now, "sent", result=result)


def _wait(rt: Runtime, entry: dict, now: int, reason: str) -> str:
    """The subject has no CRM record yet: look again later (sooner while the wait is young), expire after
    PLAYBOOK_WAIT_FOR_RECORD_HOURS. Record creation or sync makes the entry due at once when it links one."""
    waited = now - entry["created_at"]
    if waited >= rt.wait_for_record:
        hours = rt.wait_for_record / 3600
        return _finish(rt, entry, now, "expired", error=f"{reason}; none came within {hours:g} h "
                       "(PLAYBOOK_WAIT_FOR_RECORD_HOURS): is the subject covered by mapping/create.yaml?")
    next_at = now + min(3600, max(30, waited // 2))
    return _finish(rt, entry, now, "waiting", attempts=entry["attempts"], error=reason, next_at=next_at, defer=True)


def _finish(rt: Runtime, entry: dict, now: int, status: str, status_as: str | None = None, defer: bool = False,
            **values) -> str:
    """Record the outcome; with `defer`, the occurrence's later steps wait for its next try (same transaction)."""
    with rt.store.begin() as conn:
        if defer:
            pb_store.defer_later_steps(conn, entry, values["next_at"])
        pb_store.mark(conn, entry["id"], now, status=status_as or status, **values)
    return status


def owner_id(rt: Runtime, email: str) -> str:
    """The CRM owner id of a rep, matched by email."""
    if email not in rt.owners:
        rt.owners.update({o.email.lower(): o.id for o in rt.adapter.list_owners() if o.active})
    if email not in rt.owners:
        raise LookupError(f"no active CRM owner has the email {email}")
    return rt.owners[email]


def _assign(rt: Runtime, entry: dict, in_doubt: bool) -> dict:
    p, target = entry["payload"], resolve_target(rt, entry)
    rt.adapter.set_owner(target.object_type, target.record_id, owner_id(rt, p["owner"]))  # idempotent
    return {"owner": p["owner"], "strategy": p["strategy"], "object": target.object_type, "id": target.record_id}


def _task(rt: Runtime, entry: dict, in_doubt: bool) -> dict:
    p, ref = entry["payload"], f"pql-ledger-{entry['id']}"
    if in_doubt and not getattr(rt.adapter, "tasks_keyed", False):  # a keyed create may simply be sent again
        finder = getattr(rt.adapter, "find_task", None)
        if finder is None:
            raise InDoubt(f"task {ref} may exist; this CRM adapter cannot look tasks up, so check by hand")
        found = finder(ref)
        if found:
            return {"task_id": found, "recovered": True}
    target = resolve_target(rt, entry)
    person = target.kind != ACCOUNT
    task = TaskRequest(subject=p["subject"], body=f"{p['body']}\n\nRef: {ref}", due=p["due"],
                       owner_id=owner_id(rt, p["owner"]) if p.get("owner") else None,
                       who_object=target.object_type if person else None,
                       who_id=target.record_id if person else None,
                       what_id=None if person else target.record_id, priority=p["priority"],
                       key=f"{install_id(rt)}-{ref}")
    return {"task_id": rt.adapter.create_task(task), "object": target.object_type, "id": target.record_id}


def install_id(rt: Runtime) -> str:
    """This store's own id, made once: task keys carry it, so a new store (ledger ids from 1 again) sending
    to the same CRM never matches a task an earlier store made."""
    if not rt.install_id:
        with rt.store.begin() as conn:
            rt.install_id = first_meta(conn, "install_id", uuid.uuid4().hex[:12])
    return rt.install_id


def _set_field(rt: Runtime, entry: dict, in_doubt: bool) -> dict:
    p, target = entry["payload"], resolve_target(rt, entry)
    out = rt.adapter.write_values([RecordUpdate(target.object_type, target.record_id, {p["field"]: p["value"]})])
    if out and not out[0].ok:
        raise RuntimeError(out[0].error or "write refused")
    return {"field": p["field"]}


def _slack(rt: Runtime, entry: dict, in_doubt: bool) -> dict:
    p, ref = entry["payload"], f"pql-ledger-{entry['id']}"
    channel = alert_channel(rt, p, Permanent)
    alert = alert_row(rt, entry)
    # chat.postMessage takes no idempotency key: any earlier try (a crash, a timeout, a dropped answer) may have
    # posted, so a retry first looks for this ref in the message metadata of the channel's recent history.
    if in_doubt or entry["attempts"] > 0:
        found = rt.sender.find(channel, ref)
        if found:
            return _posted(rt, alert["id"], found, recovered=True)
    blocks = alert_blocks(p["context"], alert["id"], rep_choices(rt))
    return _posted(rt, alert["id"], rt.sender.post(channel, p["text"], blocks, ref))


def _posted(rt: Runtime, alert_id: int, where: dict, recovered: bool = False) -> dict:
    with rt.store.begin() as conn:
        alert_store.set_posted(conn, alert_id, where["channel"], where["ts"])
    return {"alert_id": alert_id, **where, **({"recovered": True} if recovered else {})}


def _dm(rt: Runtime, email: str | None) -> str:
    return alert_channel(rt, {"to_owner": email}, Permanent)


SENDERS = {"assign": _assign, "create_task": _task, "set_field": _set_field, "slack_alert": _slack}


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
