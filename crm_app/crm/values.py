"""Canonical field values and their spelling in each CRM. Pure: no I/O.

Canonical values: number -> int/float, boolean -> bool, date -> 'YYYY-MM-DD', datetime -> 'YYYY-MM-DDTHH:MM:SSZ',
text / long_text / picklist -> str; None means empty. The diff behind write-back compares canonical values,
so a value read back from any CRM must canonicalise to exactly what was written.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def canonical(ftype: str, value):
    """Bring a value read from any CRM (or computed by us) to its canonical form."""
    if value is None or value == "":
        return None
    if ftype == "number":
        number = float(value)
        return int(number) if number.is_integer() else round(number, 6)
    if ftype == "boolean":
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    if ftype == "date":
        return str(value)[:10]
    if ftype == "datetime":
        return _canonical_datetime(value)
    return str(value)


def _canonical_datetime(value) -> str:
    if isinstance(value, (int, float)) or str(value).isdigit():
        seconds = float(value) / (1000 if float(value) > 10**11 else 1)
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    match = _ISO.match(str(value))
    if not match:
        raise ValueError(f"not a date-time: {value!r}")
    zone = match.group(3) or "Z"
    if zone in ("Z", "+0000", "+00:00"):
        return f"{match.group(1)}T{match.group(2)}Z"
    parsed = datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}{zone[:3]}:{zone[-2:]}")
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_salesforce(ftype: str, value):
    """A canonical value as Salesforce REST JSON takes it (null clears)."""
    if value is None:
        return None
    if ftype == "datetime":
        return value.replace("Z", ".000+0000")
    return value


def to_hubspot(ftype: str, value) -> str:
    """A canonical value as a HubSpot property string; '' clears (CRM v3 properties are strings)."""
    if value is None:
        return ""
    if ftype == "boolean":
        return "true" if value else "false"
    if ftype == "datetime":
        return value.replace("Z", ".000Z")
    return str(value)


def to_bulk_csv(ftype: str, value) -> str:
    """A canonical value as a Bulk API 2.0 CSV cell: '#N/A' sets null, since an empty cell keeps the old value."""
    if value is None:
        return "#N/A"
    if ftype == "boolean":
        return "true" if value else "false"
    return str(to_salesforce(ftype, value))


def iso_from_epoch(seconds: int | float) -> str:
    """Epoch seconds as a canonical datetime."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(iso: str) -> int:
    """An ISO datetime as epoch milliseconds, keeping its milliseconds (HubSpot search filters and watermarks)."""
    text = str(iso).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # +0000 -> +00:00
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return round(parsed.timestamp() * 1000)
