"""PURE: when a CRM record changed, from the vendor's own stamp (the sync watermark's time part).

Salesforce's is SystemModstamp (ISO text), HubSpot's lastmodifieddate / hs_lastmodifieddate (epoch ms, as the
adapter keys it), the sandbox's modified_at (ISO text). A stamp in the future (a skewed vendor clock) is clamped
to the sync time, and a missing or unreadable one falls back to it.
"""
from __future__ import annotations

from crm_app.crm.values import epoch_ms


def change_time(watermark: str | None, synced_at: int) -> int:
    """Epoch seconds of the record's last modification, never after `synced_at`."""
    stamp = str(watermark or "").partition("|")[0].strip()
    if not stamp:
        return synced_at
    try:
        ms = int(stamp) if stamp.isdigit() else epoch_ms(stamp)
    except (ValueError, OverflowError):
        return synced_at
    return min(ms // 1000, synced_at)
