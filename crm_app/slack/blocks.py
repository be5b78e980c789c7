"""PURE Block Kit builders for the PQL alert, its handled state and the daily digest.

Limits from Slack's Block Kit reference (api.slack.com/reference/block-kit/block-elements#button):
button text <= 75 characters, action_id <= 255, value <= 2000; a static select has <= 100 options
(…/block-elements#static_select); a header's text <= 150 characters (…/blocks#header).
"""
from __future__ import annotations

import datetime as dt

ACTION_IDS = {"claim": "pql_claim", "assign": "pql_assign", "snooze": "pql_snooze", "not_fit": "pql_not_fit"}
NOT_FIT_VIEW = "pql_not_fit_reason"
DONE = {"claim": "claimed it", "assign": "assigned it to {detail}", "snooze": "snoozed it until {detail}",
        "not_fit": "marked it not a fit ({detail})"}


def _cut(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _button(label: str, action: str, alert_id: int, style: str | None = None, confirm: dict | None = None) -> dict:
    button = {"type": "button", "text": {"type": "plain_text", "text": _cut(label, 75)},
              "action_id": ACTION_IDS[action], "value": str(alert_id)}
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def alert_summary(ctx: dict) -> str:
    """The notification text (also what screen readers and push notifications show)."""
    s = ctx["score"]
    return _cut(f"New PQL: {ctx['name']}{' at ' + ctx['company'] if ctx['company'] else ''} — "
                f"score {s['combined']} ({s['band']})", 3000)


def alert_blocks(ctx: dict, alert_id: int, reps: list, handled: str | None = None) -> list:
    """The alert: who, scores, top reasons, firmographics, a CRM link, and the buttons (or who acted)."""
    s = ctx["score"]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(f"New PQL: {ctx['name']}", 150)}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Company*\n{ctx['company'] or '—'}"},
            {"type": "mrkdwn", "text": f"*Combined*\n{s['combined']} ({s['band']})"},
            {"type": "mrkdwn", "text": f"*Fit*\n{s['fit']}"},
            {"type": "mrkdwn", "text": f"*Behaviour*\n{s['behaviour']}"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(
            "*Top reasons*\n" + ("\n".join(f"• {r}" for r in ctx["reasons"][:3]) or "—"), 3000)}},
    ]
    if ctx["firmographics"]:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _cut(" · ".join(f"*{k}:* {v}" for k, v in ctx["firmographics"]), 3000)}]})
    g = ctx["guidance"]
    link = f"<{ctx['crm']['url']}|Open in CRM>" if ctx["crm"]["url"] else f"CRM id {ctx['crm']['id'] or '—'}"
    blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                "text": _cut(f"*{g['tier'].title()}*: {g['advice']}\n{link}", 3000)}})
    if handled:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(handled, 3000)}]})
    else:
        blocks.append({"type": "actions", "block_id": f"pql_alert_{alert_id}", "elements": action_elements(
            alert_id, reps)})
    return blocks


def action_elements(alert_id: int, reps: list) -> list:
    """Claim, Assign to… (a select of reps), Snooze 3 days, Not a fit (which asks for a reason)."""
    elements = [_button("Claim", "claim", alert_id, "primary")]
    options = [{"text": {"type": "plain_text", "text": _cut(name or email, 75)}, "value": f"{alert_id}|{email}"}
               for email, name in reps[:100]]
    if options:
        elements.append({"type": "static_select", "action_id": ACTION_IDS["assign"], "options": options,
                         "placeholder": {"type": "plain_text", "text": "Assign to…"}})
    elements.append(_button("Snooze 3 days", "snooze", alert_id))
    elements.append(_button("Not a fit", "not_fit", alert_id, "danger"))
    return elements


def handled_line(action: str, who: str, at: int, detail: str | None) -> str:
    """'✅ ana@example.com claimed it at 2026-11-22 10:50 UTC'."""
    when = dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"✅ {who} {DONE[action].format(detail=detail or '')} at {when}"


def not_fit_modal(alert_id: int) -> dict:
    """The dialog that asks why a PQL is not a fit (views.open; api.slack.com/surfaces/modals)."""
    return {"type": "modal", "callback_id": NOT_FIT_VIEW, "private_metadata": str(alert_id),
            "title": {"type": "plain_text", "text": "Not a fit"},
            "submit": {"type": "plain_text", "text": "Record"},
            "blocks": [{"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Why?"},
                        "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True}}]}


def digest_blocks(owner: str, items: list) -> list:
    """One daily message listing a rep's new PQLs instead of one message each."""
    lines = [f"• *{c['name']}*{' (' + c['company'] + ')' if c['company'] else ''} — {c['score']['combined']} "
             f"({c['score']['band']}): {c['top_signals'] or '—'}" for c in items]
    return [{"type": "header", "text": {"type": "plain_text", "text": _cut(f"Your {len(items)} new PQL(s)", 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut("\n".join(lines), 3000)}}]
