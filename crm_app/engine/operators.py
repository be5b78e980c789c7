"""Field operator predicates, keyed by the names in specs.operators.FIELD_OPERATORS."""
from __future__ import annotations

import re
from typing import Callable

Predicate = Callable[[object], bool]


def normalize(value):
    """Text compares case-insensitively and trimmed; booleans as 'true'/'false'; lists element-wise."""
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return tuple(normalize(v) for v in value)
    return value


def as_number(value):
    """A number from a number or numeric text; None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return None


def _present(value) -> bool:
    return value is not None and value != "" and value != ()


def _equals(target) -> Predicate:
    if isinstance(target, (int, float)):
        return lambda v: as_number(v) == target
    return lambda v: (target in v) if isinstance(v, tuple) else v == target


def _in(target) -> Predicate:
    options = frozenset(target)
    numbers = frozenset(t for t in target if isinstance(t, (int, float)))

    def check(v):
        if isinstance(v, tuple):
            return any(x in options for x in v)
        return v in options or (bool(numbers) and as_number(v) in numbers)
    return check


def _numeric(test) -> Callable:
    def make(target) -> Predicate:
        def check(v):
            n = as_number(v)
            return n is not None and test(n, target)
        return check
    return make


def _text(test) -> Callable:
    def make(targets) -> Predicate:
        def check(v):
            if isinstance(v, tuple):
                return any(isinstance(x, str) and any(test(x, t) for t in targets) for x in v)
            return isinstance(v, str) and any(test(v, t) for t in targets)
        return check
    return make


def _contains(targets) -> Predicate:
    def check(v):
        if isinstance(v, tuple):
            return any(t in v for t in targets)
        return isinstance(v, str) and any(t in v for t in targets)
    return check


def _matches(pattern) -> Predicate:
    compiled = re.compile(pattern, re.IGNORECASE)
    return lambda v: isinstance(v, str) and compiled.search(v) is not None


def _exists(target) -> Predicate:
    return lambda v: _present(v) == target


# Each maker takes the operator's value from the spec and returns a predicate over a normalized value.
# Except `exists`, a missing value never matches: an unknown region is not "outside the target regions".
OPERATORS: dict[str, Callable[[object], Predicate]] = {
    "equals": _equals,
    "not_equals": lambda t: (lambda eq: lambda v: _present(v) and not eq(v))(_equals(t)),
    "in": _in,
    "not_in": lambda t: (lambda inside: lambda v: _present(v) and not inside(v))(_in(t)),
    "between": _numeric(lambda n, t: t[0] <= n <= t[1]),
    "at_least": _numeric(lambda n, t: n >= t),
    "more_than": _numeric(lambda n, t: n > t),
    "at_most": _numeric(lambda n, t: n <= t),
    "less_than": _numeric(lambda n, t: n < t),
    "contains": _contains,
    "starts_with": _text(str.startswith),
    "ends_with": _text(str.endswith),
    "matches": _matches,
    "exists": _exists,
}

COMPARE: dict[str, Callable[[float, object], bool]] = {
    "at_least": lambda n, t: n >= t,
    "more_than": lambda n, t: n > t,
    "at_most": lambda n, t: n <= t,
    "less_than": lambda n, t: n < t,
    "equals": lambda n, t: n == t,
    "between": lambda n, t: t[0] <= n <= t[1],
}


def field_predicate(op: str, target) -> Predicate:
    """A predicate over a raw record value for a field operator."""
    test = OPERATORS[op](target)
    if op == "exists":
        return lambda v: test(normalize(v))
    return lambda v: v is not None and test(normalize(v))
