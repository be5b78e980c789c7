"""Usage-shape signals for every model: growth, spikes, active weeks, sophistication, and quota.

Event measures (`growth`, `spike`, `active_weeks`, `sophistication`) are read by specs.conditions'
event parser through the helpers here; `quota:` is a condition subject of its own. docs/accounts-and-health.md "Usage-shape
signals" documents each with an example.
"""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.specs.reader import Reader

WINDOWED = ("growth", "spike", "active_weeks")  # measures that need `within:`
SPIKE_SPANS = 4  # a spike compares the window with the average of this many windows before it
LEVELS = {"none": 0, "novice": 1, "intermediate": 2, "advanced": 3}
QUOTA_MEASURES = {
    "percent": "usage as a percent of the limit (80 = at 80% of the plan limit)",
    "days_to_limit": "projected days until usage reaches the limit at the rate of the last `rate_over` "
                     "(default 30d); none when usage is flat or falling, 0 when already at the limit",
}
DEFAULT_RATE_WINDOW = 30 * 86400


@dataclass(frozen=True)
class QuotaCondition:
    """A metric's usage against a plan limit held in a field, as a percent or as projected days to the limit."""

    metric: str
    limit: str  # field of the record holding the limit (e.g. account.api_call_limit) or a number
    measure: str  # percent | days_to_limit
    comparison: object
    rate_window: int = DEFAULT_RATE_WINDOW

    @property
    def feature_key(self) -> str:
        return f"quota:{self.metric}@{self.rate_window}"


def measure_keys(measure: str, needs_of: bool) -> list:
    """Keys allowed inside a measure's block besides the comparison."""
    keys = ["of"] if needs_of else []
    if measure == "sophistication":
        keys += ["intermediate", "advanced"]
    return keys


def parse_levels(mr: Reader, resolve) -> tuple:
    """(intermediate values, advanced values) of a sophistication measure, lower-cased."""
    levels = []
    for key in ("intermediate", "advanced"):
        raw = resolve(mr, key, mr.raw(key, None), )
        if raw is None:
            mr.error(mr.at(key) if mr.has(key) else mr.where,
                     f"'sophistication' needs '{key}:', the {key} feature values (a list or $named_list)")
            raw = ()
        values = raw if isinstance(raw, (list, tuple)) else [raw]
        levels.append(tuple(str(v).strip().lower() for v in values))
    return tuple(levels)


def level_names_to_numbers(node):
    """A copy of a comparison block with level names (novice, intermediate, advanced) as their numbers."""
    if not isinstance(node, dict):
        return node
    copy = type(node)()
    for key, value in node.items():
        if isinstance(value, str) and value.strip().lower() in LEVELS:
            value = LEVELS[value.strip().lower()]
        elif isinstance(value, list):
            value = [LEVELS.get(v.strip().lower(), v) if isinstance(v, str) else v for v in value]
        copy[key] = value
    for attr in ("line", "key_lines"):
        if hasattr(node, attr):
            setattr(copy, attr, getattr(node, attr))
    return copy


def check_window(r: Reader, measure: str, within) -> bool:
    """Windowed usage measures compare spans of time, so they need `within:`."""
    if measure in WINDOWED and within is None:
        r.error(r.where, f"'{measure}' needs 'within:', the span it measures, such as within: 30d")
        return False
    return True


def parse_quota(r: Reader, parse_comparison) -> QuotaCondition | None:
    """`{quota: METRIC, limit: FIELD, percent|days_to_limit: {COMPARISON}, rate_over: 30d}`."""
    metric = r.text("quota")
    limit = r.raw("limit", required=True)
    rate = r.duration("rate_over", DEFAULT_RATE_WINDOW)
    measures = [k for k in r.node if k in QUOTA_MEASURES]
    if len(measures) != 1:
        r.error(r.where, f"a quota condition needs exactly one of: {', '.join(QUOTA_MEASURES)}")
        return None
    measure = measures[0]
    mr = Reader(r.raw(measure), r.at(measure), r.errors, f"'{measure}'")
    comparison = parse_comparison(mr)
    mr.finish([])
    r.finish(["quota", "limit", "rate_over", *QUOTA_MEASURES])
    if limit is not None and not isinstance(limit, (str, int, float)) or isinstance(limit, bool):
        r.error(r.at("limit"), f"'limit' is a field name (such as account.api_call_limit) or a number, got {limit!r}")
    if rate == 0:
        r.error(r.at("rate_over"), "'rate_over' must be longer than zero, such as 30d")
    if not (r.ok and mr.ok) or comparison is None or metric is None:
        return None
    return QuotaCondition(metric, limit, measure, comparison, rate)
