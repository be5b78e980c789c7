"""API-call accounting: every provision, sync and write-back records its calls per endpoint family."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from crm_app.store import Store, get_meta, set_meta
from crm_app.store.sync import deletions as crm_deletions
from crm_app.store import crm as crm_store


def record_usage(store: Store, adapter, operation: str) -> dict:
    """Move the adapter's counted calls into the store under an operation; keep its last limit headers."""
    calls = adapter.counter.take()
    with store.begin() as conn:
        crm_store.record_calls(conn, adapter.name, operation, calls)
        if adapter.counter.limits:
            set_meta(conn, f"crm_limits:{adapter.name}", json.dumps(adapter.counter.limits, sort_keys=True))
    return calls


@dataclass
class CrmStatus:
    crm: str
    today: list  # (operation, family, calls) since midnight UTC
    limits: dict  # last seen limit information (Sforce-Limit-Info, X-HubSpot-RateLimit-*, GET limits/)
    watermarks: dict
    failures: list
    deleted_in_crm: int = 0  # people whose record a CRM user deleted: not given a new one


def crm_status(store: Store, crm: str, now: float | None = None) -> CrmStatus:
    """Calls used today per operation and family, the last known limits, watermarks and pending failures."""
    now = time.time() if now is None else now
    midnight = int(now // 86400 * 86400)
    with store.read() as conn:
        return CrmStatus(crm=crm, today=crm_store.call_totals(conn, crm, midnight),
                         limits=json.loads(get_meta(conn, f"crm_limits:{crm}", "{}")),
                         watermarks=crm_store.watermarks(conn, crm), failures=crm_store.failures(conn, crm),
                         deleted_in_crm=crm_deletions.count(conn, crm))


def format_status(status: CrmStatus) -> str:
    """The status as the CLI prints it."""
    lines = [f"CRM: {status.crm}", "API calls today (UTC):"]
    lines += [f"  {op:<10} {family:<22} {calls:>8}" for op, family, calls in status.today] or ["  none"]
    lines.append(f"  {'total':<33} {sum(c for _, _, c in status.today):>8}")
    lines.append("Limits last seen:" if status.limits else "Limits last seen: none yet (run a sync)")
    lines += [f"  {k}: {v}" for k, v in sorted(status.limits.items())]
    lines.append("Watermarks:" if status.watermarks else "Watermarks: none (the next sync reads everything)")
    lines += [f"  {k}: {v}" for k, v in sorted(status.watermarks.items())]
    lines.append(f"Records whose last write failed (retried on the next write-back): {len(status.failures)}")
    lines += [f"  {f['object_type']} {f['record_id']} x{f['attempts']}: {f['error']}" for f in status.failures[:20]]
    lines.append(f"People whose record was deleted in the CRM (no new one is created): {status.deleted_in_crm}")
    return "\n".join(lines)
