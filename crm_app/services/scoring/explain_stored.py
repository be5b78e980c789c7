"""What `explain` compares: the stored result, a fresh rescore, and the values last written to the CRM."""
from __future__ import annotations

import json

from sqlalchemy import select

from crm_app.store import Store
from crm_app.store.crm import crm_links, crm_written
from crm_app.store.scoring.results import stored_result

COMPARED = ("combined", "fit", "behaviour", "band", "pql")


def stored_views(store: Store, models: list, person_id: int) -> tuple[dict, list]:
    """(model name -> the stored result or None, [(crm, object, record id, field, value last written)])."""
    with store.read() as conn:
        links = conn.execute(select(crm_links.c.crm, crm_links.c.object_type, crm_links.c.record_id)
                             .where(crm_links.c.person_id == person_id)).all()
        written = []
        for crm, object_type, record_id in links:
            written += [(crm, object_type, record_id, row.field, json.loads(row.value) if row.value else None)
                        for row in conn.execute(select(crm_written.c.field, crm_written.c.value).where(
                            crm_written.c.crm == crm, crm_written.c.object_type == object_type,
                            crm_written.c.record_id == record_id).order_by(crm_written.c.field))]
        return {m.name: stored_result(conn, m.name, person_id) for m in models}, written


def differences(stored: dict | None, fresh) -> list[str]:
    """The compared values that differ between the stored result and a fresh rescore, as `name stored → fresh`."""
    if stored is None:
        return ["not stored yet (never scored, or scored outside this model's population)"]
    out = []
    for name in COMPARED:
        before, now = stored[name], getattr(fresh, name)
        if (bool(before) if name == "pql" else before) != (bool(now) if name == "pql" else now):
            out.append(f"{name} {before} → {now}")
    return out


def format_stored(stored: dict | None, iso) -> str:
    """The stored result and its reasons, as text."""
    if stored is None:
        return "  Stored: none (this person has no stored result for the model)"
    lines = [f"  Stored (scored as of {iso(stored['as_of'])}, rules {stored['rules_hash']}): combined "
             f"{stored['combined']}/100  band {stored['band']}  PQL {'yes' if stored['pql'] else 'no'}  "
             f"fit {stored['fit']}  behaviour {stored['behaviour']}"]
    for rule, text, points, *_ in stored.get("reasons") or []:
        lines.append(f"    {points:+4d}  {text}")
    return "\n".join(lines)


def format_crm(crm_values: list) -> str:
    """The values last confirmed written to the person's CRM records."""
    if not crm_values:
        return "In the CRM: nothing written yet (no linked record, or no write-back has run)"
    return "\n".join(["In the CRM (last confirmed write):"]
                     + [f"  {crm} {object_type} {record_id}: {field} = " + str(value).replace("\n", "\n      ")
                        for crm, object_type, record_id, field, value in crm_values])
