"""Values that read as sales-activity outcomes: what happened when sales reached out ("SMS sent", "no answer",
"email bounced", "had a phone conversation") or where a deal stands ("not interested", "closed won").

A product or fit field records what the subject did or is ("pricing page", "working professional", "two-year
contract", a signup channel such as "Email" or "Live chat"); an activity field records what sales did and how
the subject answered, written as contact happens and so around the outcome. The vocabulary is generic CRM
wording, matched on whole words: bare channel names (call, email, SMS, chat, phone) are not outcomes and do not
count; a verb or state of outreach or of a deal does.
"""
from __future__ import annotations

import re

import numpy as np

from crm_app.models.dataset import Column
from crm_app.models.indicators import STRONG, breakdown

OUTREACH = {"sent", "emailed", "called", "texted", "messaged", "contacted", "approached", "reached", "unreachable",
            "dialed", "dialled", "ringing", "busy", "voicemail", "hangup", "unanswered", "replied", "responded",
            "opened", "clicked", "bounced", "unsubscribed", "resubscribed", "spam", "conversation", "meeting", "demo",
            "callback", "followup", "pitched", "revert"}
DEAL = {"interested", "uninterested", "converted", "won", "lost", "closed", "qualified", "disqualified",
        "unqualified", "junk", "rejected", "declined", "nurture", "nurturing"}
PHRASES = ("no answer", "not answering", "not reachable", "switched off", "wrong number", "invalid number",
           "hang up", "hung up", "left message", "left a message", "follow up", "call back", "phone call",
           "cold call", "no response", "not responding", "no show")

ACTIVITY_SHARE = 0.40  # most of the filled-in values are activity outcomes: an activity column
LIFTED_SHARE = 0.10  # subjects whose activity value tells the outcome (lift >= 2 either way)
MIN_VALUE_SUBJECTS = 30
TIMED_SHARE = 0.20  # converted subjects whose activity value was written after they reached the goal
MIN_TIMED = 20


def words(value: str) -> list[str]:
    return re.findall(r"[a-z]+", value.lower())


def is_activity(value) -> bool:
    """Whether a value names a sales-activity outcome (whole words, any case)."""
    if value is None or isinstance(value, (int, float)):
        return False
    tokens = words(str(value))
    text = f" {' '.join(tokens)} "
    return bool(OUTREACH.intersection(tokens) or DEAL.intersection(tokens)
                or any(f" {p} " in text for p in PHRASES))


def activity_share(col: Column) -> float:
    """Share of the filled-in values that are sales-activity outcomes."""
    present = [v for v in col.values if v is not None]
    return sum(map(is_activity, present)) / len(present) if present else 0.0


def lifted_values(col: Column, y: np.ndarray) -> tuple[float, list]:
    """(share of subjects whose value is an activity outcome with lift >= 2 or <= 1/2 against the goal, the
    largest such values as (subjects, value, conversion))."""
    floor = max(MIN_VALUE_SUBJECTS, int(0.01 * len(y)))
    found = [(r["subjects"], r["value"], r["conversion"]) for r in breakdown(col, y)
             if r["subjects"] >= floor and is_activity(r["value"])
             and (r["lift"] >= STRONG or r["lift"] <= 1 / STRONG)]
    return sum(n for n, _, _ in found) / max(1, len(y)), sorted(found, reverse=True)[:2]


def finding(col: Column, y: np.ndarray, timing: tuple | None = None) -> str | None:
    """Why the column is a sales-activity leak, or None: most of its values are activity outcomes, and either
    those values tell the outcome (lift) or field history shows them written after the goal was reached."""
    if col.kind != "categorical" or col.source != "field":
        return None
    share = activity_share(col)
    if share < ACTIVITY_SHARE:
        return None
    head = f"{share:.0%} of its values are sales-activity outcomes"
    lifted, values = lifted_values(col, y)
    if lifted >= LIFTED_SHARE:
        base = float(y.mean())
        shown = ", ".join(f"'{v}' ({rate:.0%} of {n} reach the goal)" for n, v, rate in values)
        return (f"{head} and for {lifted:.0%} of subjects they tell the outcome ({shown}, against {base:.0%} "
                "overall)")
    if timing and timing[1] >= MIN_TIMED:
        after = timing[0] + (timing[2] if len(timing) > 2 else 0)
        if after >= TIMED_SHARE * timing[1]:
            return (f"{head} and field history shows them written after the goal was reached for {after} of "
                    f"{timing[1]} converted subjects")
    return None
