"""Slack alerts of one dispatch pass, channel by channel: paced as Slack's per-channel limit allows, bundled
into one message when a channel has more waiting than it may take now, and put back (not slept on) when
the channel must wait or Slack answers 429 with Retry-After."""
from __future__ import annotations

import math
from typing import Callable

from crm_app.services.playbooks.runtime import Runtime
from crm_app.slack.blocks import (BUNDLE_MAX, alert_blocks, alert_summary, bundle_blocks, bundle_summary,
                                   handled_line)
from crm_app.slack.senders import RateLimited, SlackInDoubt
from crm_app.store.playbooks import alerts as alert_store
from crm_app.store.playbooks import ledger as pb_store


def rep_choices(rt: Runtime) -> list:
    """(email, name) of the reps the 'Assign to…' select offers: everyone not away."""
    return [(r.email, r.name) for r in rt.playbooks.routing.reps if not r.away]


def alert_channel(rt: Runtime, payload: dict, missing: type[Exception] = LookupError) -> str:
    """Where an alert goes: its channel, or a DM to its owner (the rep's slack_user, else found by email)."""
    if payload.get("channel"):
        return payload["channel"]
    email = payload.get("to_owner")
    if not email:
        raise missing("no owner to send the alert to (no rep was eligible and the record had no owner)")
    rep = rt.playbooks.routing.rep(email)
    return rep.slack_user if rep and rep.slack_user else rt.sender.dm_channel(email)


def alert_row(rt: Runtime, entry: dict) -> dict:
    """The alert of a ledger entry, created on first call (so a retried post keeps its alert id)."""
    with rt.store.begin() as conn:
        return alert_store.alert_for_ledger(conn, entry["id"], alert_fields(entry))


def alert_fields(entry: dict) -> dict:
    """What the alert row of a ledger entry holds."""
    p = entry["payload"]
    return {"playbook": entry["playbook"], "subject_id": entry["subject_id"], "model": p["context"]["model"],
            "owner": entry["owner"], "context": p["context"], "created_at": entry["created_at"]}


def retry_status(status: str, exc: Exception) -> str:
    """A post Slack may have received stays in flight, so its retry looks it up before posting again."""
    return "dispatching" if status == "failed" and isinstance(exc, SlackInDoubt) else status


class AlertQueue:
    """Slack alerts held during a pass, then sent per channel by `flush`."""

    def __init__(self, rt: Runtime, now: int, backoff: Callable[[int], int]):
        self.rt, self.now, self.backoff = rt, now, backoff
        self.channels: dict = {}  # channel -> [(entry, later steps of its occurrence)]

    def hold(self, entry: dict, rest: list) -> bool:
        """Take a due Slack alert for its channel; False when it should go the one-by-one way (no pacing, an
        in-doubt post that must be looked up first, or a channel that cannot be found now)."""
        if getattr(self.rt.sender, "pacer", None) is None or entry["status"] == "dispatching":
            return False
        try:
            channel = alert_channel(self.rt, entry["payload"])
        except Exception:  # noqa: BLE001 - the one-by-one path records the failure with backoff
            return False
        self.channels.setdefault(channel, []).append((entry, rest))
        return True

    def flush(self) -> list:
        """Send what each channel may take now; returns [(outcome, entry, later steps)]."""
        done = []
        for channel, held in self.channels.items():
            held.sort(key=lambda h: h[0]["id"])
            room = self.rt.sender.pacer.available(channel)
            if len(held) <= room:
                groups = [[h] for h in held]
            else:
                groups = [held[i:i + BUNDLE_MAX] for i in range(0, len(held), BUNDLE_MAX)]
            for n, group in enumerate(groups):
                if n >= room:
                    done += self._put_back(group, self.rt.sender.pacer.wait(channel))
                else:
                    done += self._send(channel, group)
        self.channels = {}
        return done

    def _already_posted(self, channel: str, group: list) -> list:
        """Retried alerts that an earlier try did post (its answer was lost): marked sent with that message.

        chat.postMessage takes no idempotency key, so a retry looks for its ref in the channel's history."""
        done = []
        for e, rest in group:
            where = self.rt.sender.find(channel, f"pql-ledger-{e['id']}") if e["attempts"] > 0 else None
            if where:
                alert = alert_row(self.rt, e)
                with self.rt.store.begin() as conn:
                    alert_store.set_posted(conn, alert["id"], where["channel"], where["ts"])
                    pb_store.mark(conn, e["id"], self.now, status="sent",
                                  result={"alert_id": alert["id"], **where, "recovered": True})
                done.append(("sent", e, rest))
        return done

    def _send(self, channel: str, group: list) -> list:
        rt, now = self.rt, self.now
        try:
            recovered = self._already_posted(channel, group)
        except Exception as exc:  # noqa: BLE001 - Slack unreachable: retried with backoff like a failed post
            return self._failed(group, exc)
        if recovered:
            found = {id(e) for _, e, _ in recovered}
            group = [(e, rest) for e, rest in group if id(e) not in found]
            return recovered + (self._send(channel, group) if group else [])
        entries = [e for e, _ in group]
        with rt.store.begin() as conn:  # the alerts and the in-flight marks, durable before the post
            alerts = [alert_store.alert_for_ledger(conn, e["id"], alert_fields(e)) for e in entries]
            pb_store.mark_in_flight(conn, [e["id"] for e in entries], now)
        for e in entries:
            rt.at("before_dispatch", e)
        refs = [f"pql-ledger-{e['id']}" for e in entries]
        reps = rep_choices(rt)
        if len(entries) == 1:
            text, blocks = entries[0]["payload"]["text"], alert_blocks(entries[0]["payload"]["context"],
                                                                        alerts[0]["id"], reps)
        else:
            text = bundle_summary([e["payload"]["text"] for e in entries])
            blocks = bundle_blocks([(e["payload"]["context"], a["id"], None) for e, a in zip(entries, alerts)], reps)
        try:
            where = rt.sender.post(channel, text, blocks, refs)
        except RateLimited as exc:
            return self._put_back(group, exc.retry_after)
        except Exception as exc:  # noqa: BLE001 - any failure of a remote call is retried with backoff
            return self._failed(group, exc)
        for e in entries:
            rt.at("after_dispatch", e)
        outcomes = []
        for e, a in zip(entries, alerts):
            result = {"alert_id": a["id"], **where, **({"bundled": len(entries)} if len(entries) > 1 else {})}
            outcomes.append((e, {"status": "sent", "result": result}, None))
        with rt.store.begin() as conn:
            for a in alerts:
                alert_store.set_posted(conn, a["id"], where["channel"], where["ts"])
            pb_store.record_outcomes(conn, outcomes, now)
        return [("sent", e, rest) for e, rest in group]

    def _put_back(self, group: list, wait: float) -> list:
        """The channel must wait: the alerts (and their later steps) come due again then; no try is used up.

        Rounded down to the ledger's whole seconds, so a sub-second wait is looked at again on the next pass
        (the pacer, not the ledger, decides when the post goes)."""
        next_at = self.now + math.floor(wait)
        with self.rt.store.begin() as conn:
            pb_store.record_outcomes(conn, [(e, {"status": e["status"], "attempts": e["attempts"],
                                                 "next_at": next_at}, next_at) for e, _ in group], self.now)
        return [("deferred", e, []) for e, _ in group]

    def _failed(self, group: list, exc: Exception) -> list:
        outcomes, done = [], []
        for entry, rest in group:
            attempts = entry["attempts"] + 1
            status = "dead" if attempts >= self.rt.max_attempts else "failed"
            next_at = self.now + self.backoff(attempts)
            outcomes.append((entry, {"status": retry_status(status, exc), "next_at": next_at,
                                     "error": f"{type(exc).__name__}: {exc}"[:2000]}, next_at))
            done.append((status, entry, rest))
        with self.rt.store.begin() as conn:
            pb_store.record_outcomes(conn, outcomes, self.now)
        return done


def refresh_message(rt: Runtime, alert: dict, line: str) -> None:
    """Update the message an alert was posted in after a click: the alert shows `line` instead of its
    buttons; in a bundle, the other alerts keep their buttons or their own handled line."""
    if not alert["ts"]:
        return
    with rt.store.read() as conn:
        posted = alert_store.alerts_at(conn, alert["channel"], alert["ts"])
    reps = rep_choices(rt)
    if len(posted) <= 1:
        rt.sender.update(alert["channel"], alert["ts"], alert_summary(alert["context"]),
                         alert_blocks(alert["context"], alert["id"], reps, handled=line))
        return
    items = [(a["context"], a["id"], line if a["id"] == alert["id"] else (
        handled_line(a["handled_action"], a["handled_by"], a["handled_at"], a["detail"])
        if a["handled_action"] else None)) for a in posted]
    rt.sender.update(alert["channel"], alert["ts"], bundle_summary([alert_summary(a["context"]) for a in posted]),
                     bundle_blocks(items, reps))
