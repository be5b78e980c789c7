"""Warnings for event names the admin files use that the store has never received, with the nearest known names.

An unseen name is not an error: the product may not have sent that event yet. A misspelt one, though, makes a
rule that can never hold, silently; so `check` (and the dashboard's rule editor) name it at file:line.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from crm_app.specs.conditions import EventCondition, iter_conditions
from crm_app.store.events import seen_event_names


@dataclass(frozen=True)
class EventWarning:
    file: str
    line: int
    key: str
    event: str
    nearest: tuple

    def __str__(self) -> str:
        hint = f"; nearest known: {', '.join(repr(n) for n in self.nearest)}" if self.nearest else ""
        return (f"{self.file}:{self.line}: {self.key}: warning: event '{self.event}' has never been received by "
                f"the store{hint}")


def unseen_event_warnings(store, rules, playbooks=None, lifecycle=()) -> list[EventWarning]:
    """One warning per (place, event name) the store has never seen; [] when the store has no events at all
    (a new install: every name would be unseen, and none is suspect)."""
    with store.read() as conn:
        known = seen_event_names(conn)
    if not known:
        return []
    found = {_warning(where, name, known) for where, names in _event_uses(rules, playbooks, lifecycle)
             for name in names if name not in known}
    return sorted(found, key=lambda w: (w.file, w.line, w.event))


def _event_uses(rules, playbooks, lifecycle=()):
    """(file:line and key, event names) of every place that names events: rules, populations, segments,
    activity events, playbook conditions and lifecycle models' goals and filters."""
    for model in rules.models:
        for rule in model.rules:
            yield (rule.source, f"{rule.kind}.{rule.id}"), _names(rule.when)
        for segment in model.segments:
            yield (segment.source or f"{model.source}:1", f"segments.{segment.id}"), _names(segment.when)
        yield (f"{model.source}:1", "population"), _names(model.population)
        yield (f"{model.source}:1", "activity_events"), model.activity.names
    for playbook in playbooks.playbooks if playbooks else ():
        yield (playbook.source, "when"), _names(playbook.when)
    for spec in lifecycle:
        source = spec.source if spec.source[-1:].isdigit() else f"{spec.source}:1"
        yield (source, "goal"), _names(spec.goal)
        yield (source, "filter"), _names(spec.filter)


def _names(when) -> list[str]:
    return [n for c in iter_conditions(when) if isinstance(c, EventCondition) for n in c.selector.names]


def _warning(where, name: str, known: dict) -> EventWarning:
    (source, key) = where
    file, line = source.rsplit(":", 1)
    line = _line_naming(file, int(line), name)
    nearest = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return EventWarning(file, line, key, name, tuple(known[n] for n in nearest))


def _line_naming(file: str, start: int, name: str) -> int:
    """The first line at or after `start` that names the event, so the warning points at it."""
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return start
    for number in range(max(start, 1), len(lines) + 1):
        if name in lines[number - 1].lower():
            return number
    return start
