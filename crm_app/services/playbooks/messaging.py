"""What a rep reads: the alert/task context, follow-up guidance by score, and sandboxed Jinja rendering."""
from __future__ import annotations

from crm_app.specs.routing import Routing
from crm_app.specs.templates.compiler import ENVIRONMENT
# Follow-up guidance by combined score: (lowest score, tier, what to do).
GUIDANCE = ((80, "hot", "Reach out now: call or email today while they are active."),
            (60, "warm", "Nurture and offer a demo; follow up within the week."),
            (0, "nurture", "Leave to automated nurture; no personal outreach yet."))
FIRMOGRAPHICS = (("account.industry", "Industry"), ("account.employees", "Employees"), ("country", "Country"),
                 ("state", "State"), ("region", "Region"), ("title", "Title"), ("account.plan", "Plan"),
                 ("plan", "Plan"))  # the first of a label that is present wins


def guidance(combined: int | None) -> dict:
    """The follow-up tier for a score: 80–100 hot, 60–79 warm, below 60 automated nurture."""
    score = combined or 0
    for low, tier, advice in GUIDANCE:
        if score >= low:
            return {"tier": tier, "advice": advice}
    return {"tier": "nurture", "advice": GUIDANCE[-1][2]}


def top_signals(reasons: list, n: int = 3, behaviour: frozenset | None = None) -> list[str]:
    """The strongest positive behaviour reasons (what they did, not who they are), largest first."""
    positive = [r for r in reasons or [] if len(r) >= 3 and (r[2] or 0) > 0
                and (behaviour is None or r[0] in behaviour)]
    return [r[1] for r in sorted(positive, key=lambda r: -r[2])[:n]]


def signals_sentence(signals: list[str]) -> str:
    """'a, b and c' — the person's actual top signals in one line."""
    items = [s[0].lower() + s[1:] if s and not s[:2].isupper() else s for s in signals]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def firmographics(record: dict) -> list:
    """[label, value] of the key firmographics the record has, each label once."""
    found, seen = [], set()
    for key, label in FIRMOGRAPHICS:
        if record.get(key) not in (None, "") and label not in seen:
            seen.add(label)
            found.append([label, str(record[key])])
    return found


def person_name(record: dict) -> str:
    first, last = record.get("first_name") or "", record.get("last_name") or ""
    return (record.get("name") or f"{first} {last}".strip() or record.get("email")
            or record.get("external_id") or "Unknown person")


def build_context(record: dict, row: dict, routing: Routing, owner: str | None, playbook: str,
                  behaviour: frozenset | None = None, crm: tuple = (None, None)) -> dict:
    """Everything a template, a task body or the Slack blocks may show about one person."""
    crm_object, crm_id = crm
    rep = routing.rep(owner)
    signals = top_signals(row.get("reasons"), behaviour=behaviour)
    url = routing.crm_url.format(object=crm_object, id=crm_id) if routing.crm_url and crm_id else ""
    return {
        "playbook": playbook, "subject_id": row["subject_id"], "model": row["model"],
        "name": person_name(record), "email": record.get("email"), "company": record.get("account.name") or "",
        "score": {k: row.get(k) for k in ("combined", "fit", "behaviour", "band", "pql")},
        "reasons": [r[1] + f": {r[2]:+d}" for r in sorted(row.get("reasons") or [], key=lambda r: -abs(r[2]))][:5],
        "signals": signals, "top_signals": signals_sentence(signals), "guidance": guidance(row.get("combined")),
        "firmographics": firmographics(record),
        "owner": {"email": owner or "", "name": rep.name if rep else (owner or "")},
        "crm": {"id": crm_id, "object": crm_object, "url": url},
    }


def render(template: str, context: dict) -> str:
    """Render an admin's template in Jinja's sandbox: no attribute tricks, no code."""
    return ENVIRONMENT.from_string(template).render(**context)


def default_task_body(context: dict) -> str:
    """A task body that suggests messaging from the person's actual top signals and the score's guidance."""
    g = context["guidance"]
    lines = [f"{context['name']} scored {context['score']['combined']} ({context['score']['band']}) — "
             f"{g['tier']}: {g['advice']}"]
    if context["top_signals"]:
        lines.append(f"Suggested opener: they {context['top_signals']} — ask what they are trying to get done.")
    lines += ["", "Why:"] + [f"• {r}" for r in context["reasons"]]
    if context["crm"]["url"]:
        lines.append(context["crm"]["url"])
    return "\n".join(lines)
