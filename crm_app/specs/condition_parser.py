"""Condition language: admin-written mappings -> frozen condition objects. Data, never code."""
from __future__ import annotations

import re

from crm_app.errors import did_you_mean
from crm_app.specs.conditions import (AllOf, AnyOf, Comparison, Condition, EventCondition, EventSelector,
                                      FieldCondition, MetricCondition, Not, ScoreCondition)
from crm_app.specs.operators import (COMBINATORS, COMPARISONS, EVENT_MEASURES, FIELD_OPERATORS,
                                     PROPERTY_OPERATORS, SUBJECTS)
from crm_app.specs.reader import Reader, Where, item_where
from crm_app.specs.usage import (check_window, level_names_to_numbers, measure_keys,
                                 parse_levels, parse_quota)


def parse_condition(node, where: Where, reader_errors, lists: dict) -> Condition | None:
    """Turn one condition mapping into a Condition; problems are recorded with file:line and key."""
    r = Reader(node, where, reader_errors, "a condition")
    if not r.ok:
        return None
    keys = set(r.node)
    for combinator in COMBINATORS:
        if combinator in keys:
            return _parse_combinator(r, combinator, lists)
    subjects = [k for k in SUBJECTS if k in keys]
    if len(subjects) != 1:
        valid = list(SUBJECTS) + list(COMBINATORS)
        unknown = next(iter(keys), "")
        hint = did_you_mean(unknown, valid) if unknown else None
        r.error(where, f"a condition needs exactly one of: {', '.join(valid)} (found {', '.join(map(str, keys)) or 'none'})",
                hint)
        return None
    subject = subjects[0]
    if subject == "field":
        return _parse_field(r, lists)
    if subject == "event":
        return _parse_event(r, lists)
    if subject == "quota":
        return parse_quota(r, lambda reader: _parse_comparison(reader, lists))
    if subject == "metric":
        name = r.text("metric")
        comparison = _parse_comparison(r, lists)
        r.finish()
        return MetricCondition(name, comparison) if r.ok else None
    model = r.text("score")
    comparison = _parse_comparison(r, lists)
    r.finish()
    return ScoreCondition(model, comparison) if r.ok else None


def _parse_combinator(r: Reader, combinator: str, lists: dict):
    value = r.raw(combinator)
    r.finish([combinator])
    where = r.at(combinator)
    if combinator == "not":
        inner = parse_condition(value, where, r.errors, lists)
        return Not(inner) if inner is not None and r.ok else None
    if not isinstance(value, list) or not value:
        r.error(where, f"'{combinator}' takes a non-empty list of conditions")
        return None
    items = [parse_condition(item, item_where(where, value, i), r.errors, lists) for i, item in enumerate(value)]
    if any(item is None for item in items) or not r.ok:
        return None
    return (AllOf if combinator == "all" else AnyOf)(tuple(items))


def _parse_field(r: Reader, lists: dict, subject: str = "field", operators=FIELD_OPERATORS):
    name = r.text(subject)
    ops = [k for k in r.node if k in operators]
    others = [k for k in r.node if k != subject and k not in operators]
    if len(ops) != 1:
        hint = did_you_mean(others[0], operators) if others else None
        r.error(r.where, f"a {subject} condition needs exactly one operator out of: {', '.join(operators)}", hint)
        return None
    op = ops[0]
    value = _parse_operand(r, op, lists)
    r.finish([subject, *operators])
    return FieldCondition(name, op, value) if r.ok else None


def _parse_operand(r: Reader, op: str, lists: dict):
    kind = FIELD_OPERATORS[op][0]
    raw = _resolve_list(r, op, r.raw(op), lists)
    where = r.at(op)
    if kind == "list":
        values = raw if isinstance(raw, (list, tuple)) else [raw]
        return tuple(_norm(v) for v in values)
    if kind == "text_or_list":
        values = raw if isinstance(raw, (list, tuple)) else [raw]
        return tuple(str(v).lower() for v in values)
    if kind == "pair":
        if not (isinstance(raw, (list, tuple)) and len(raw) == 2 and all(_is_number(v) for v in raw)):
            r.error(where, f"'between' takes two numbers, low and high, such as [50, 500]; got {raw!r}")
            return None
        if raw[0] > raw[1]:
            r.error(where, f"'between' low {raw[0]} is above high {raw[1]}; swap them")
            return None
        return (float(raw[0]), float(raw[1]))
    if kind == "number":
        if not _is_number(raw):
            r.error(where, f"'{op}' takes a number, got {raw!r}")
            return None
        return float(raw)
    if kind == "regex":
        try:
            re.compile(str(raw))
        except re.error as exc:
            r.error(where, f"invalid regular expression: {exc}")
            return None
        return str(raw)
    if kind == "bool":
        if not isinstance(raw, bool):
            r.error(where, f"'exists' takes true or false, got {raw!r}")
            return None
        return raw
    if isinstance(raw, (list, dict)):
        r.error(where, f"'{op}' takes a single value; use 'in' for a list")
        return None
    return _norm(raw)


def _resolve_list(r: Reader, key, raw, lists: dict):
    """Replace a '$name' reference with the named list it names."""
    if isinstance(raw, str) and raw.startswith("$"):
        name = raw[1:]
        if name not in lists:
            r.error(r.at(key), f"no list named '{name}'; define it under 'lists:'", did_you_mean(name, lists),
                    ("list", name))
            return ()
        return lists[name]
    return raw


def _parse_event(r: Reader, lists: dict) -> EventCondition | None:
    names_raw = _resolve_list(r, "event", r.raw("event"), lists)
    if names_raw in ("*", "any"):
        names = ()
    elif isinstance(names_raw, (list, tuple)):
        names = tuple(str(n).strip().lower() for n in names_raw)
    else:
        names = (str(names_raw).strip().lower(),)
    within = r.duration("within", None)
    filters = _parse_where(r, lists)
    measures = [k for k in r.node if k in EVENT_MEASURES]
    if len(measures) != 1:
        others = [k for k in r.node if k not in ("event", "within", "where") and k not in EVENT_MEASURES]
        r.error(r.where, f"an event condition needs exactly one measure out of: {', '.join(EVENT_MEASURES)}",
                did_you_mean(others[0], EVENT_MEASURES) if others else None)
        return None
    measure = measures[0]
    needs_of = EVENT_MEASURES[measure][0]
    block = r.raw(measure)
    mr = Reader(level_names_to_numbers(block) if measure == "sophistication" else block, r.at(measure),
                r.errors, f"'{measure}'")
    of = mr.text("of", required=needs_of) if needs_of else None
    levels = parse_levels(mr, _resolve_list_in(lists)) if measure == "sophistication" else ()
    comparison = _parse_comparison(mr, lists)
    mr.finish(measure_keys(measure, needs_of))
    r.finish(["event", "within", "where", *EVENT_MEASURES])
    if not (r.ok and mr.ok) or comparison is None or not check_window(r, measure, within):
        return None
    if measure == "days_since_last" and within is not None:
        r.error(r.at("within"), "'within' has no meaning with days_since_last; remove it")
        return None
    return EventCondition(EventSelector(names, filters, within), measure, of, comparison, levels)


def _resolve_list_in(lists: dict):
    return lambda reader, key, raw: _resolve_list(reader, key, raw, lists)


def _parse_where(r: Reader, lists: dict) -> tuple:
    raw = r.raw("where", None)
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    parsed = []
    for i, item in enumerate(items):
        where = item_where(r.at("where"), raw, i) if isinstance(raw, list) else r.at("where")
        pr = Reader(item, where, r.errors, "a property filter")
        if not pr.ok:
            continue
        if "property" not in pr.node:
            pr.error(where, "a 'where' filter needs 'property:' and one operator, e.g. {property: topic, in: [billing]}")
            continue
        cond = _parse_field(pr, lists, "property", {op: FIELD_OPERATORS[op] for op in PROPERTY_OPERATORS})
        if cond is not None:
            parsed.append(cond)
    return tuple(parsed)


def _parse_comparison(r: Reader, lists: dict) -> Comparison | None:
    ops = [k for k in r.node if k in COMPARISONS]
    if len(ops) != 1:
        others = [k for k in r.node if k not in COMPARISONS and k not in ("of", "metric", "score")]
        r.error(r.where, f"needs exactly one comparison out of: {', '.join(COMPARISONS)}",
                did_you_mean(others[0], COMPARISONS) if others else None)
        return None
    op = ops[0]
    raw = r.raw(op)
    if op == "between":
        if not (isinstance(raw, list) and len(raw) == 2 and all(_is_number(v) for v in raw) and raw[0] <= raw[1]):
            r.error(r.at(op), f"'between' takes [low, high] numbers, got {raw!r}")
            return None
        return Comparison(op, (float(raw[0]), float(raw[1])))
    if not _is_number(raw):
        r.error(r.at(op), f"'{op}' takes a number, got {raw!r}")
        return None
    return Comparison(op, float(raw))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _norm(value):
    """Values compare case-insensitively; numbers stay numbers."""
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, bool):
        return str(value).lower()
    return value
