"""Plan playbooks on score changes: diff what each playbook last saw against the new results and write every
action of every trigger occurrence to the ledger, in the same transaction as the new state and routing
counters. A retried or restarted run finds its entries instead of redoing them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jinja2 import TemplateError

from crm_app.engine.triggers import Seen, evaluate_trigger, evaluate_when
from crm_app.services.playbooks.messaging import build_context, default_task_body, render
from crm_app.services.playbooks.plan_batch import PlanBatch
from crm_app.services.playbooks.runtime import Runtime
from crm_app.services.scoring.accounts import records_with_rollups
from crm_app.slack.blocks import alert_summary
from crm_app.specs.playbooks import Playbook
from crm_app.store import people as people_store
from crm_app.store.playbooks import ledger as pb_store

DAY = 86400


@dataclass
class PlanSummary:
    examined: int = 0
    occurrences: int = 0
    entries: int = 0


def plan(rt: Runtime, now: int, batch: int = 2000) -> PlanSummary:
    """Evaluate every enabled playbook over changed results; ledger entries and state commit together."""
    summary = PlanSummary()
    for pb in rt.playbooks.playbooks:
        if not pb.enabled:
            continue
        quiet = now - int(pb.trigger.days) * DAY if pb.trigger.type == "inactive" else None
        after = 0
        while True:
            with rt.store.begin() as conn:
                rows = pb_store.changed_subjects(conn, pb.name, pb.model, batch, after, quiet)
                if rows:
                    _plan_rows(conn, rt, pb, rows, now, summary)
            if len(rows) < batch:
                break
            after = rows[-1]["subject_id"]
    return summary


def _plan_rows(conn, rt: Runtime, pb: Playbook, rows: list, now: int, summary: PlanSummary) -> None:
    ids = [r["subject_id"] for r in rows]
    records = _records(conn, rt, pb.model, ids, now)
    accounts = any(r.get("record_kind") == "account" for r in records.values())
    links = pb_store.linked_records(conn, getattr(rt.adapter, "name", ""), ids, account=accounts)
    history = (pb_store.history_since(conn, pb.model, ids, now - pb.trigger.within - DAY)
               if pb.trigger.type == "score_dropped" else {})
    states, planned, batch = [], [], PlanBatch(conn, pb, now, ids)
    for row in rows:
        sid, record = row["subject_id"], records.get(row["subject_id"], {})
        segments = tuple(record.get("segments") or ())
        seen = Seen(row["prev_combined"], row["prev_band"], row["prev_pql"], tuple(row["prev_segments"] or ()),
                    dict(row["prev_armed"] or {}), row["prev_marker"])
        points = history.get(sid, []) + [(row["as_of"], row["combined"])]
        out = evaluate_trigger(pb.trigger, seen, row, segments, points, now)
        summary.examined += 1
        states.append({"playbook": pb.name, "subject_id": sid, "combined": row["combined"], "band": row["band"],
                       "pql": row["pql"], "segments": list(segments), "armed": out.armed, "marker": out.marker,
                       "as_of": row["as_of"]})
        for occurrence in out.occurrences:
            if (sid, occurrence) not in batch.planned and evaluate_when(pb.when, record, row, pb.model, now):
                entries = build_entries(conn, rt, pb, record, row, occurrence, now, links=links, batch=batch)
                summary.occurrences += 1
                batch.added(entries)
                planned += entries
    summary.entries += pb_store.insert_entries(conn, planned)
    batch.flush()
    pb_store.save_state(conn, states)


def build_entries(conn, rt: Runtime, pb: Playbook, record: dict, row: dict, occurrence: str, now: int,
                  only: tuple = (), owner: str | None = None, links: dict | None = None,
                  batch: PlanBatch | None = None) -> list[dict]:
    """One ledger entry per action, rendered now: a retry sends exactly what was decided here. `links`: the
    CRM links of the batch's subjects, read once (None: looked up here); `batch`: what the planning batch read
    once (None: this subject's alone, its owner choice recorded here)."""
    if batch is None:
        batch = PlanBatch(conn, pb, now, [row["subject_id"]])
        entries = build_entries(conn, rt, pb, record, row, occurrence, now, only, owner, links, batch)
        batch.flush()
        return entries
    routing = rt.playbooks.routing
    owner = owner or _email(record.get(routing.owner_field))
    base = {"playbook": pb.name, "subject_id": row["subject_id"], "occurrence": occurrence, "attempts": 0,
            "next_at": now, "created_at": now, "updated_at": now, "result": None, "error": None}
    crm_object, crm_id = crm_target(conn, rt, record, row["subject_id"], links)
    # Where actions land is decided again when they are sent; this is only what the messages show now.
    target = {"object": crm_object, "record_id": crm_id,
              "subject": "account" if record.get("record_kind") == "account" else "person"}
    entries, behaviour = [], rt.behaviour_rules(pb.model)
    for step, action in enumerate(pb.actions):
        if only and action.type not in only:
            continue
        status, error, payload = "pending", None, dict(target)
        try:
            if action.type == "assign":
                choice = batch.assigner.choose(routing, action.params["strategies"], action.params["pool"], record)
                owner = choice.owner or owner
                payload.update(owner=choice.owner, strategy=choice.strategy)
                if choice.owner is None:
                    status, error = "dead", f"no eligible rep ({action.source}): all away, over cap or none set"
                elif not choice.new_assignment:
                    status = "skipped"  # the current owner is kept: nothing to send
            ctx = build_context(record, row, routing, owner, pb.name, behaviour, (crm_object, crm_id))
            if action.type == "create_task":
                due = dt.datetime.fromtimestamp(now + action.params["due_in"], dt.timezone.utc).date().isoformat()
                body = render(action.params["body"], ctx) if action.params["body"] else default_task_body(ctx)
                payload.update(subject=render(action.params["subject"], ctx), body=body, due=due, owner=owner,
                               priority=action.params["priority"])
            elif action.type == "slack_alert":
                text = render(action.params["text"], ctx) if action.params["text"] else alert_summary(ctx)
                payload.update(channel=action.params["channel"], to_owner=owner if action.params["to"] else None,
                               text=text, context=ctx)
                status, error = _noise(batch, pb, routing, row["subject_id"], owner, action) or (status, error)
            elif action.type == "set_field":
                payload.update(field=action.params["field"], value=render(action.params["value"], ctx))
        except TemplateError as exc:
            status, error = "dead", f"{action.source}: template error: {exc}"
        entries.append({**base, "step": step, "action": action.type, "status": status, "error": error,
                        "owner": owner, "payload": payload})
    return entries


def _noise(batch: PlanBatch, pb: Playbook, routing, subject_id: int, owner: str | None, action):
    """(status, why) when the alert must not go out as its own message now; None when it may."""
    if pb.per_person and batch.by_person.get(subject_id, 0) >= pb.per_person.count:
        return "suppressed", f"per-person limit: {pb.per_person.count} per {pb.per_person.per // 3600}h"
    if owner and pb.per_owner and batch.by_owner.get(owner, 0) >= pb.per_owner.count:
        return "suppressed", f"per-owner limit: {pb.per_owner.count} per {pb.per_owner.per // 3600}h"
    rep = routing.rep(owner)
    if action.params["to"] == "owner" and rep is not None and rep.digest:
        return "digest", None
    return None


def _records(conn, rt: Runtime, model: str, ids: list, now: int) -> dict:
    """Flat records of the subjects: people, or accounts (with rollups and segments) for an account model."""
    known = rt.rules is not None and model in rt.rules.names
    if not known or rt.rules.model(model).subject != "account":
        return people_store.flat_records(conn, 0, -1, ids)
    sources = [m.name for m in rt.rules.models if m.subject == "person"]
    records = records_with_rollups(conn, sources, now, 0, -1, ids)[0]
    for record in records.values():
        record["record_kind"] = "account"  # crm_target looks the account's CRM record up, not a person's
    return records


def crm_target(conn, rt: Runtime, record: dict, subject_id: int, links: dict | None = None) -> tuple:
    """(object, id) of the person's CRM record: the record's id field, else the link sync made (if any)."""
    routing = rt.playbooks.routing
    crm_id = record.get(routing.record_id_field)
    if crm_id:
        return record.get(routing.record_object_field) or routing.default_object, str(crm_id)
    if links is not None:
        linked = links.get(subject_id)
    else:
        linked = pb_store.linked_record(conn, getattr(rt.adapter, "name", ""), subject_id,
                                        account=record.get("record_kind") == "account")
    return linked if linked else (routing.default_object, None)


def _email(value) -> str | None:
    return value.strip().lower() if isinstance(value, str) and "@" in value else None
