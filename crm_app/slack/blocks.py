"""PURE Block Kit builders for the PQL alert, its handled state, bundles and the daily digest.

Builders return drafts; `finish` is the one place every message, update, ephemeral and modal goes through
before it leaves: it escapes untrusted text (api.slack.com/reference/surfaces/formatting#escaping: `&`, `<`
and `>` become entities) and keeps only our own `<url|label>` links (see `crm_app.slack.text`).

Limits from Slack's Block Kit reference (api.slack.com/reference/block-kit/block-elements#button):
button text <= 75 characters, action_id <= 255, value <= 2000; a static select has <= 100 options
(…/block-elements#static_select); a header's text <= 150 characters (…/blocks#header); a message has at most
50 blocks (…/reference/block-kit/blocks).
"""
from __future__ import annotations

import datetime as dt

from crm_app.slack.text import Text, finish, link

__all__ = ["ACTION_IDS", "NOT_FIT_VIEW", "BUNDLE_MAX", "finish", "alert_summary", "alert_blocks", "bundle_blocks",
           "bundle_summary", "action_elements", "handled_line", "not_fit_modal", "digest_blocks"]

ACTION_IDS = {"claim": "pql_claim", "assign": "pql_assign", "snooze": "pql_snooze", "not_fit": "pql_not_fit"}
NOT_FIT_VIEW = "pql_not_fit_reason"
DONE = {"claim": "claimed it", "assign": "assigned it to {detail}", "snooze": "snoozed it until {detail}",
        "not_fit": "marked it not a fit ({detail})"}
MAX_BLOCKS = 50
BUNDLE_BLOCKS = 4  # per alert in a bundle: divider, summary, guidance + link, buttons (or who acted)
BUNDLE_MAX = (MAX_BLOCKS - 1) // BUNDLE_BLOCKS  # alerts per bundled message, after its header


def _md(*parts, limit: int = 3000) -> dict:
    return {"type": "mrkdwn", "text": Text(*parts, limit=limit)}


def _plain(*parts, limit: int = 3000) -> dict:
    return {"type": "plain_text", "text": Text(*parts, limit=limit)}


def _button(label: str, action: str, alert_id: int, style: str | None = None) -> dict:
    button = {"type": "button", "text": _plain(label, limit=75), "action_id": ACTION_IDS[action],
              "value": str(alert_id)}
    if style:
        button["style"] = style
    return button


def _cut(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_summary(ctx: dict) -> str:
    """The notification text (also what screen readers and push notifications show).

    Plain untrusted text, stored with the ledger entry; `finish` escapes it on the way out.
    """
    s = ctx["score"]
    return _cut(f"New PQL: {ctx['name']}{' at ' + ctx['company'] if ctx['company'] else ''} — "
                f"score {s['combined']} ({s['band']})", 3000)


def _crm_line(ctx: dict) -> tuple:
    g = ctx["guidance"]
    crm = ctx["crm"]
    target = link(crm["url"], "Open in CRM") if crm["url"] else None
    return (f"*{str(g['tier']).title()}*: ", g["advice"], "\n",
            target if target is not None else Text("CRM id ", crm["id"] or "—"))


def alert_blocks(ctx: dict, alert_id: int, reps: list, handled: str | None = None) -> list:
    """The alert: who, scores, top reasons, firmographics, a CRM link, and the buttons (or who acted)."""
    s = ctx["score"]
    blocks = [
        {"type": "header", "text": _plain("New PQL: ", ctx["name"], limit=150)},
        {"type": "section", "fields": [
            _md("*Company*\n", ctx["company"] or "—"),
            _md("*Combined*\n", f"{s['combined']} ({s['band']})"),
            _md("*Fit*\n", str(s["fit"])),
            _md("*Behaviour*\n", str(s["behaviour"]))]},
        {"type": "section", "text": _md("*Top reasons*\n", *(_reasons(ctx) or ["—"]))},
    ]
    if ctx["firmographics"]:
        blocks.append({"type": "context", "elements": [_md(*_firmographics(ctx))]})
    blocks.append({"type": "section", "text": _md(*_crm_line(ctx))})
    blocks.append(_outcome(alert_id, reps, handled))
    return blocks


def _reasons(ctx: dict) -> list:
    parts = []
    for i, reason in enumerate(ctx["reasons"][:3]):
        parts += (["\n"] if i else []) + ["• ", reason]
    return parts


def _firmographics(ctx: dict) -> list:
    parts = []
    for i, (k, v) in enumerate(ctx["firmographics"]):
        parts += ([" · "] if i else []) + ["*", k, ":* ", v]
    return parts


def _outcome(alert_id: int, reps: list, handled: str | None) -> dict:
    if handled:
        return {"type": "context", "elements": [_md(handled)]}
    return {"type": "actions", "block_id": f"pql_alert_{alert_id}", "elements": action_elements(alert_id, reps)}


def bundle_summary(texts: list) -> str:
    """The notification text of a bundled message: each alert's own text, one a line (plain, untrusted)."""
    return _cut("\n".join([f"{len(texts)} new PQLs"] + [str(t) for t in texts]), 3000)


def bundle_blocks(items: list, reps: list) -> list:
    """Several alerts in one message, each with its own buttons: [(context, alert id, handled line or None)].

    At most BUNDLE_MAX alerts, so the message stays within Slack's 50 blocks.
    """
    if len(items) > BUNDLE_MAX:
        raise ValueError(f"a bundle holds at most {BUNDLE_MAX} alerts")
    blocks = [{"type": "header", "text": _plain(f"{len(items)} new PQLs", limit=150)}]
    for ctx, alert_id, handled in items:
        s = ctx["score"]
        blocks += [{"type": "divider"},
                   {"type": "section", "text": _md(
                       "*", ctx["name"], "*", *((" at ", ctx["company"]) if ctx["company"] else ()),
                       f" — {s['combined']} ({s['band']}), fit {s['fit']}, behaviour {s['behaviour']}\n",
                       *(_reasons(ctx) or ["—"]))},
                   {"type": "context", "elements": [_md(*_crm_line(ctx))]},
                   _outcome(alert_id, reps, handled)]
    return blocks


def action_elements(alert_id: int, reps: list) -> list:
    """Claim, Assign to… (a select of reps), Snooze 3 days, Not a fit (which asks for a reason)."""
    elements = [_button("Claim", "claim", alert_id, "primary")]
    options = [{"text": _plain(name or email, limit=75), "value": f"{alert_id}|{email}"}
               for email, name in reps[:100]]
    if options:
        elements.append({"type": "static_select", "action_id": ACTION_IDS["assign"], "options": options,
                         "placeholder": _plain("Assign to…")})
    elements.append(_button("Snooze 3 days", "snooze", alert_id))
    elements.append(_button("Not a fit", "not_fit", alert_id, "danger"))
    return elements


def handled_line(action: str, who: str, at: int, detail: str | None) -> str:
    """'✅ ana@example.com claimed it at 2026-11-22 10:50 UTC' (plain text; `finish` escapes it)."""
    when = dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"✅ {who} {DONE[action].format(detail=detail or '')} at {when}"


def not_fit_modal(alert_id: int) -> dict:
    """The dialog that asks why a PQL is not a fit (views.open; api.slack.com/surfaces/modals)."""
    return {"type": "modal", "callback_id": NOT_FIT_VIEW, "private_metadata": str(alert_id),
            "title": _plain("Not a fit"), "submit": _plain("Record"),
            "blocks": [{"type": "input", "block_id": "reason", "label": _plain("Why?"),
                        "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True}}]}


def digest_blocks(owner: str, items: list) -> list:
    """One daily message listing a rep's new PQLs instead of one message each."""
    parts = []
    for i, c in enumerate(items):
        parts += (["\n"] if i else []) + ["• *", c["name"], "*", *((" (", c["company"], ")") if c["company"] else ()),
                                          f" — {c['score']['combined']} ({c['score']['band']}): ",
                                          c["top_signals"] or "—"]
    return [{"type": "header", "text": _plain(f"Your {len(items)} new PQL(s)", limit=150)},
            {"type": "section", "text": _md(*parts)}]
