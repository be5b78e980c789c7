"""Slack alerts, their handled state (claimed once, never twice), the outbox and false-positive feedback."""
from __future__ import annotations

from sqlalchemy import Connection, distinct, func, select, update

from crm_app.store.playbooks.schema import pql_feedback, slack_alerts, slack_outbox


def alert_for_ledger(conn: Connection, ledger_id: int, values: dict) -> dict:
    """The alert row of a ledger entry, created on first call (so a retried post keeps its alert id)."""
    row = conn.execute(select(slack_alerts).where(slack_alerts.c.ledger_id == ledger_id)).first()
    if row is None:
        conn.execute(slack_alerts.insert().values(ledger_id=ledger_id, **values))
        row = conn.execute(select(slack_alerts).where(slack_alerts.c.ledger_id == ledger_id)).first()
    return dict(row._mapping)


def get_alert(conn: Connection, alert_id: int) -> dict | None:
    row = conn.execute(select(slack_alerts).where(slack_alerts.c.id == alert_id)).first()
    return dict(row._mapping) if row else None


def set_posted(conn: Connection, alert_id: int, channel: str, ts: str) -> None:
    conn.execute(update(slack_alerts).where(slack_alerts.c.id == alert_id).values(channel=channel, ts=ts))


def claim_handling(conn: Connection, alert_id: int, action: str, who: str, at: int, detail: str | None,
                   snoozed_until: int | None = None) -> bool:
    """Mark an alert handled unless it already is; True only for the one click that wins."""
    result = conn.execute(update(slack_alerts)
                          .where(slack_alerts.c.id == alert_id, slack_alerts.c.handled_action.is_(None))
                          .values(handled_action=action, handled_by=who, handled_at=at, detail=detail,
                                  snoozed_until=snoozed_until))
    return result.rowcount == 1


def release_handling(conn: Connection, alert_id: int) -> None:
    """Undo a claim whose CRM work failed, so the button can be pressed again."""
    conn.execute(update(slack_alerts).where(slack_alerts.c.id == alert_id)
                 .values(handled_action=None, handled_by=None, handled_at=None, detail=None, snoozed_until=None))


def due_snoozes(conn: Connection, now: int) -> list[dict]:
    q = select(slack_alerts).where(slack_alerts.c.handled_action == "snooze", slack_alerts.c.snoozed_until <= now,
                                   slack_alerts.c.realerted.is_not(True))
    return [dict(r._mapping) for r in conn.execute(q)]


def mark_realerted(conn: Connection, alert_id: int) -> None:
    conn.execute(update(slack_alerts).where(slack_alerts.c.id == alert_id).values(realerted=True))


def record_feedback(conn: Connection, kind: str, model: str, subject_id: int, alert_id: int, reason: str,
                    by: str, at: int) -> None:
    conn.execute(pql_feedback.insert().values(kind=kind, model=model, subject_id=subject_id, alert_id=alert_id,
                                              reason=reason, by=by, at=at))


def false_positives(conn: Connection, since: int = 0) -> list[dict]:
    """False positives recorded since a moment: the monthly audit's input."""
    q = select(pql_feedback).where(pql_feedback.c.kind == "false_positive", pql_feedback.c.at >= since)
    return [dict(r._mapping) for r in conn.execute(q.order_by(pql_feedback.c.at))]


def outbox_insert(conn: Connection, channel: str, ts: str, text: str, blocks: list, ref: str, now: int) -> None:
    conn.execute(slack_outbox.insert().values(channel=channel, ts=ts, text=text, blocks=blocks, ref=ref,
                                              created_at=now, updated_at=now))


def outbox_update(conn: Connection, ts: str, text: str, blocks: list, now: int) -> None:
    conn.execute(update(slack_outbox).where(slack_outbox.c.ts == ts).values(text=text, blocks=blocks,
                                                                            updated_at=now))


def outbox_find(conn: Connection, ref: str) -> dict | None:
    row = conn.execute(select(slack_outbox.c.channel, slack_outbox.c.ts).where(slack_outbox.c.ref == ref)).first()
    return {"channel": row.channel, "ts": row.ts} if row else None


def outbox_list(conn: Connection, limit: int = 50) -> list[dict]:
    rows = conn.execute(select(slack_outbox).order_by(slack_outbox.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


def outbox_count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(slack_outbox)).scalar() or 0


def feedback_counts(conn: Connection, since: int) -> tuple[int, int]:
    """(PQLs alerted in Slack since a moment, those of them marked 'Not a fit'), counted per person."""
    alerted = conn.execute(select(func.count(distinct(slack_alerts.c.subject_id)))
                           .where(slack_alerts.c.created_at >= since)).scalar() or 0
    not_a_fit = conn.execute(select(func.count(distinct(pql_feedback.c.subject_id)))
                             .where(pql_feedback.c.kind == "false_positive", pql_feedback.c.at >= since)).scalar()
    return alerted, not_a_fit or 0


def alerts_at(conn: Connection, channel: str, ts: str) -> list[dict]:
    """The alerts posted in one message (several when they were bundled), oldest first."""
    q = select(slack_alerts).where(slack_alerts.c.channel == channel, slack_alerts.c.ts == ts).order_by(
        slack_alerts.c.id)
    return [dict(r._mapping) for r in conn.execute(q)]
