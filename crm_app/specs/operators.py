"""The registry of condition operators: their names, what value they take, and what they mean.

The engine evaluates each of these by name; a test checks both registries agree and that docs/rule-reference.md
documents every operator.
"""
from __future__ import annotations

# name -> (kind of value, one-line meaning). Kinds: scalar, list, pair, number, text, regex, bool.
FIELD_OPERATORS: dict[str, tuple[str, str]] = {
    "equals": ("scalar", "the value equals this (text is compared case-insensitively)"),
    "not_equals": ("scalar", "the value is present and differs from this"),
    "in": ("list", "the value is one of these (or a $named_list)"),
    "not_in": ("list", "the value is present and is none of these"),
    "between": ("pair", "a number from the first to the second, both included"),
    "at_least": ("number", "a number >= this"),
    "more_than": ("number", "a number > this"),
    "at_most": ("number", "a number <= this"),
    "less_than": ("number", "a number < this"),
    "contains": ("text_or_list", "text contains this (case-insensitive), or a list holds this; a list of options matches any"),
    "starts_with": ("text_or_list", "text starts with this or any of these (case-insensitive)"),
    "ends_with": ("text_or_list", "text ends with this or any of these (case-insensitive)"),
    "matches": ("regex", "text matches this regular expression (searched, case-insensitive)"),
    "exists": ("bool", "true: the field has a non-empty value; false: it has none"),
}

# Operators that can filter event properties inside SQL (`where:` of an event condition).
PROPERTY_OPERATORS = tuple(op for op in FIELD_OPERATORS if op != "matches")

# Comparisons of a measured number (event measures, metrics, scores).
COMPARISONS: dict[str, str] = {
    "at_least": ">=",
    "more_than": ">",
    "at_most": "<=",
    "less_than": "<",
    "equals": "==",
    "between": "from..to, both included",
}

# Event measures: name -> (needs an `of: property`, meaning).
EVENT_MEASURES: dict[str, tuple[bool, str]] = {
    "count": (False, "how many matching events"),
    "distinct": (True, "how many distinct values of a property (`of: event` counts distinct event names)"),
    "average": (True, "the average of a numeric property"),
    "sum": (True, "the sum of a numeric property"),
    "days_since_last": (False, "whole days since the last matching event (or since the person was created, if none)"),
    "active_weeks": (False, "how many 7-day periods, counted back from now within `within`, had a matching event"),
    "growth": (False, "percent change of the count in `within` against the same span just before it "
                      "(none when that earlier span is empty)"),
    "spike": (False, "the count in `within` as a multiple of the average count per span over the 4 spans "
                     "before it (none when those are empty)"),
    "sophistication": (True, "usage level by the values of `of` used: 0 none, 1 novice, 2 intermediate "
                             "(any of `intermediate:`), 3 advanced (any of `advanced:`); names allowed"),
}

COMBINATORS: dict[str, str] = {
    "all": "every listed condition holds",
    "any": "at least one listed condition holds",
    "not": "the condition does not hold",
}

SUBJECTS: dict[str, str] = {
    "field": "a field of the person or account record (`account.` prefix for the person's account)",
    "event": "product events, by name, list or $named_list",
    "metric": "a rolled-up metric imported per person (e.g. logins_30d)",
    "score": "another model's score for the same subject (e.g. score: propensity_conversion)",
    "quota": "a metric's usage against a plan limit field: percent of the limit, or projected days to it",
}
