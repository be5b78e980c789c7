"""PURE usage-shape values from features: growth, spike, quota percent and projected days to the limit."""
from __future__ import annotations

from typing import Mapping

from crm_app.engine.operators import as_number
from crm_app.specs.usage import SPIKE_SPANS

DAY = 86400


def prior_key(cond, spans: int) -> str:
    """Feature key of the count over `spans` windows just before the condition's own window."""
    return f"prior{spans}/{cond.selector.key}"


def count_key(cond) -> str:
    """Feature key of the plain count in the condition's window (shared with `count:` conditions)."""
    return f"count()/{cond.selector.key}"


def growth(cond, features: Mapping):
    """Percent change of the window's count against the window before; None without an earlier baseline."""
    before = features.get(prior_key(cond, 1)) or 0
    if not before:
        return None
    now = features.get(count_key(cond)) or 0
    return 100.0 * (now - before) / before


def spike(cond, features: Mapping):
    """The window's count as a multiple of the average per window over the SPIKE_SPANS windows before."""
    before = features.get(prior_key(cond, SPIKE_SPANS)) or 0
    if not before:
        return None
    return (features.get(count_key(cond)) or 0) / (before / SPIKE_SPANS)


def quota_limit(cond, record: Mapping):
    """The plan limit: a number in the rule, or the number in the named field; None when unknown or <= 0."""
    limit = cond.limit if isinstance(cond.limit, (int, float)) else as_number(record.get(cond.limit))
    return limit if limit and limit > 0 else None


def quota_value(cond, record: Mapping, features: Mapping, as_of: int):
    """Percent of the limit used, or projected whole days until the limit at the recent rate."""
    usage = features.get(cond.feature_key)  # (value now, at, value before, at) from the store
    limit = quota_limit(cond, record)
    if usage is None or limit is None or usage[0] is None:
        return None
    now, now_at, before, before_at = usage
    if cond.measure == "percent":
        return 100.0 * now / limit
    if now >= limit:
        return 0
    if before is None or before_at is None or now_at <= before_at:
        return None
    per_day = (now - before) / ((now_at - before_at) / DAY)
    if per_day <= 0:
        return None  # flat or falling usage never reaches the limit
    return int((limit - now) / per_day)
