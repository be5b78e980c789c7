"""Shared test helpers: models from inline YAML, and a plain-Python reference for event features."""
from __future__ import annotations

import textwrap

from crm_app.engine.plan import feature_plan
from crm_app.errors import ErrorCollector, SpecSetInvalid
from crm_app.specs.rules import parse_model
from crm_app.specs.yamlsource import parse_yaml

DAY = 86400
HOUR = 3600
AS_OF = 1_790_000_000  # 2026-09-21T14:13:20Z, a fixed moment: tests never read the clock


def model_from_yaml(text: str, lists: dict | None = None, name: str = "test.yaml"):
    """A Model from inline YAML; raises SpecSetInvalid listing every error."""
    errors = ErrorCollector()
    doc = parse_yaml(textwrap.dedent(text), name, errors)
    model = parse_model(doc, name, errors, lists or {}) if doc is not None else None
    if errors:
        raise SpecSetInvalid(errors.sorted())
    return model


def errors_of(text: str, lists: dict | None = None, name: str = "test.yaml") -> list[str]:
    """The error lines a model file produces."""
    try:
        model_from_yaml(text, lists, name)
    except SpecSetInvalid as exc:
        return [str(e) for e in exc.errors]
    return []


def _matches(selector, event: dict, as_of: int) -> bool:
    if selector.names and event["event"].lower() not in selector.names:
        return False
    if selector.within and event["ts"] < as_of - selector.within:
        return False
    for cond in selector.where:
        from crm_app.engine.operators import field_predicate
        if not field_predicate(cond.op, cond.value)(event.get("properties", {}).get(cond.field)):
            return False
    return True


def reference_features(models, events: list[dict], as_of: int) -> dict:
    """Features computed naively in Python, one event at a time: the oracle for the SQL implementation."""
    known = [e for e in events if e["ts"] <= as_of]
    features: dict = {}
    for agg in feature_plan(models):
        if agg.measure == "quota":
            continue  # read from metrics, not events
        hits = [e for e in known if _matches(agg.selector, e, as_of)]
        if agg.measure in ("prior", "active_weeks", "sophistication"):
            value = _usage_reference(agg, known, hits, as_of)
        elif agg.measure == "count":
            value = len(hits)
        elif agg.measure == "last_at":
            value = max((e["ts"] for e in hits), default=None)
        elif agg.measure == "distinct":
            if agg.of == "event":
                value = len({e["event"].lower() for e in hits})
            else:
                value = len({str(e["properties"][agg.of]).lower() for e in hits
                             if e.get("properties", {}).get(agg.of) is not None})
        else:
            numbers = [float(e["properties"][agg.of]) for e in hits
                       if isinstance(e.get("properties", {}).get(agg.of), (int, float))]
            value = (sum(numbers) / len(numbers) if agg.measure == "average" else sum(numbers)) if numbers else None
        if value is not None:
            features[agg.key] = value
    return features


def _usage_reference(agg, known: list, hits: list, as_of: int):
    """Usage-shape aggregates, naively: earlier-window counts, active weeks, sophistication level."""
    from crm_app.specs.conditions import EventSelector
    if agg.measure == "prior":
        window, spans = agg.selector.within, agg.extra[0]
        plain = EventSelector(agg.selector.names, agg.selector.where, None)
        return len([e for e in known if _matches(plain, e, as_of)
                    and as_of - (spans + 1) * window <= e["ts"] < as_of - window])
    if agg.measure == "active_weeks":
        return len({(as_of - e["ts"]) // (7 * DAY) for e in hits})
    intermediate, advanced = agg.extra
    levels = [3 if str(e["properties"].get(agg.of)).lower() in advanced else
              2 if str(e["properties"].get(agg.of)).lower() in intermediate else 1 for e in hits]
    return max(levels, default=None)


def ev(name: str, ts: int, **properties) -> dict:
    """An event as the reference features take it."""
    return {"event": name, "ts": ts, "properties": properties}
