"""From a stored result row to the canonical value each score field shows in the CRM. Pure."""
from __future__ import annotations

from crm_app.crm.values import canonical, iso_from_epoch

_EPOCH_VALUES = ("pql_since", "pql_first_at", "last_activity")


def field_value(spec, row: dict | None):
    """The canonical value of one field spec for one result row (None when there is no result)."""
    if row is None or spec.value not in row:
        return None
    raw = row[spec.value]
    if raw is None:
        return None
    if spec.value in _EPOCH_VALUES:
        iso = iso_from_epoch(raw)
        return iso[:10] if spec.type == "date" else iso if spec.type == "datetime" else canonical(spec.type, raw)
    if spec.value == "reasons":
        return _reasons_text(raw)[: spec.length or 32768] or None
    if spec.type == "picklist":
        return _option(spec.options, raw)
    return canonical(spec.type, raw)


def _reasons_text(reasons) -> str:
    """Reasons as rep-readable lines, 'Invited 4 teammates: +25', as ScoreResult.reasons_text writes them."""
    return "\n".join(f"{text}: {int(points):+d}" for _rule, text, points in reasons or [])


def _option(options: tuple, raw) -> str:
    """The picklist option matching a value case-insensitively ('high' -> 'High')."""
    for option in options:
        if option.lower() == str(raw).lower():
            return option
    return str(raw)
