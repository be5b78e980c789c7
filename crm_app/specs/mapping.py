"""Import mappings: which CSV column holds the id, email and account, and what each column is called."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from crm_app.errors import ErrorCollector, SpecSetInvalid
from crm_app.specs.reader import Reader, Where
from crm_app.specs.yamlsource import load_yaml

MAPPING_KEYS = ("id", "email", "account", "fields", "skip", "missing_values", "as_of", "event", "timestamp")


@dataclass(frozen=True)
class ImportMapping:
    """How the columns of an imported CSV become record fields."""

    id_column: str | None = None
    email_column: str | None = None
    account_column: str | None = None
    as_of_column: str | None = None
    fields: tuple = ()  # (column, field name) pairs; other columns get their snake_case name
    skip: tuple = ()
    missing_values: tuple = ("",)
    event_key: str | None = None  # events: the key or column holding the event name (e.g. Sparkify's `page`)
    timestamp_key: str | None = None  # events: the key holding the time (ISO-8601, epoch s or ms)

    @property
    def maps_events(self) -> bool:
        return self.event_key is not None

    def field_name(self, column: str) -> str:
        return dict(self.fields).get(column) or snake_case(column)


def snake_case(name: str) -> str:
    """'Total Time Spent on Website' -> 'total_time_spent_on_website'."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "column"


def load_mapping(path: Path) -> ImportMapping:
    """Read a mapping YAML file; raise SpecSetInvalid with file:line errors when it is wrong."""
    errors = ErrorCollector()
    doc = load_yaml(path, errors, str(path))
    if errors:
        raise SpecSetInvalid(errors.sorted())
    r = Reader(doc, Where(str(path), getattr(doc, "line", 1), ""), errors, "a mapping file")
    id_column = r.text("id", default=None)
    email = r.text("email", default=None)
    account = r.text("account", default=None)
    as_of = r.text("as_of", default=None)
    fields = r.mapping("fields") or {}
    skip = r.sequence("skip") or []
    missing = r.sequence("missing_values")
    event = r.text("event", default=None)
    timestamp = r.text("timestamp", default=None)
    if (event is None) != (timestamp is None) and not errors:
        r.error(r.where, "an event mapping needs both 'event' (name key) and 'timestamp' (time key)")
    r.finish(MAPPING_KEYS)
    if errors:
        raise SpecSetInvalid(errors.sorted())
    return ImportMapping(id_column, email, account, as_of, tuple((str(k), str(v)) for k, v in fields.items()),
                         tuple(str(s) for s in skip),
                         tuple(str(m) for m in missing) if missing is not None else ("",), event, timestamp)
