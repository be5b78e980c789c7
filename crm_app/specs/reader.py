"""Strict reading of one YAML mapping: typed keys, unknown-key errors with suggestions."""
from __future__ import annotations

import re
from dataclasses import dataclass

from crm_app.errors import ErrorCollector, did_you_mean
from crm_app.specs.yamlsource import LocatedDict, LocatedList

_MISSING = object()
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Where:
    """A position in an admin file: file name, line and dotted key path."""

    file: str
    line: int
    path: str

    def child(self, key, line: int | None = None) -> "Where":
        joined = f"{self.path}.{key}" if self.path else str(key)
        if isinstance(key, int):
            joined = f"{self.path}[{key}]"
        return Where(self.file, line or self.line, joined)


class Reader:
    """Reads keys from one mapping; every problem is recorded, never raised."""

    def __init__(self, node, where: Where, errors: ErrorCollector, what: str = "this section"):
        self.errors = errors
        self.where = where
        self.ok = True
        if not isinstance(node, dict):
            self.error(where, f"{what} must be a mapping of keys to values, got {_kind(node)}")
            node = LocatedDict()
            node.line, node.key_lines = where.line, {}
        self.node = node
        self.seen: set = set()

    def error(self, where: Where, message: str, suggestion: str | None = None, missing: tuple | None = None) -> None:
        self.ok = False
        self.errors.add(where.file, where.line, where.path, message, suggestion, missing)

    def at(self, key) -> Where:
        line = getattr(self.node, "key_lines", {}).get(key, getattr(self.node, "line", self.where.line))
        return self.where.child(key, line)

    def has(self, key) -> bool:
        return key in self.node

    def raw(self, key, default=_MISSING, required: bool = False):
        """The value of a key as written, or the default."""
        self.seen.add(key)
        if key in self.node:
            return self.node[key]
        if required:
            self.error(self.where.child(key), f"required key '{key}' is missing")
        return None if default is _MISSING else default

    def text(self, key, default=_MISSING, required: bool = False) -> str | None:
        value = self.raw(key, default, required)
        if value is None or value is default:
            return value
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.error(self.at(key), f"expected text, got {_kind(value)}")
            return None
        return str(value)

    def number(self, key, default=_MISSING, required: bool = False, minimum=None, maximum=None):
        value = self.raw(key, default, required)
        if value is None and self.has(key) and default is not None:
            where = self.at(key)
            if self.errors.at(where.file, where.line):
                self.ok = False  # the YAML reader already said why this value is unusable
            else:
                self.error(where, "expected a number, got nothing; write one or remove the key")
            return None
        if value is None or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(self.at(key), f"expected a number, got {_kind(value)} {value!r}")
            return None
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            self.error(self.at(key), f"{value} is out of range; use a number from {minimum} to {maximum}")
            return None
        return value

    def boolean(self, key, default=_MISSING):
        value = self.raw(key, default)
        if value is default or isinstance(value, bool):
            return value
        self.error(self.at(key), f"expected true or false, got {value!r}")
        return default if default is not _MISSING else None

    def duration(self, key, default=_MISSING, required: bool = False) -> int | None:
        """A duration such as 7d, 48h or 30m, in seconds."""
        value = self.raw(key, default, required)
        if value is None or value is default:
            return value
        seconds = parse_duration(value)
        if seconds is None:
            self.error(self.at(key), f"expected a duration such as 7d, 48h or 30m, got {value!r}")
        return seconds

    def mapping(self, key, required: bool = False):
        value = self.raw(key, None, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(self.at(key), f"expected a mapping of keys to values, got {_kind(value)}")
            return None
        return value

    def sequence(self, key, required: bool = False):
        value = self.raw(key, None, required)
        if value is None:
            return None
        if not isinstance(value, list):
            self.error(self.at(key), f"expected a list, got {_kind(value)}")
            return None
        return value

    def choice(self, key, options, default=_MISSING, required: bool = False):
        value = self.raw(key, default, required)
        if value is None or value is default:
            return value
        if value not in options:
            self.error(self.at(key), f"{value!r} is not one of: {', '.join(map(str, options))}",
                       did_you_mean(value, options))
            return None
        return value

    def finish(self, allowed=None) -> None:
        """Report keys that were never read as unknown, suggesting the closest valid one."""
        valid = sorted(set(allowed or ()) | self.seen, key=str)
        for key in self.node:
            if key not in self.seen:
                self.error(self.at(key), f"unknown key '{key}'; valid keys here: {', '.join(map(str, valid))}",
                           did_you_mean(key, valid))


def parse_duration(value) -> int | None:
    """Seconds in '7d', '48h', '30m', '90s', '2w'; a bare number counts as days."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value * 86400) if value >= 0 else None
    match = _DURATION.match(str(value))
    if not match:
        return None
    return int(float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def item_where(parent: Where, seq, index: int) -> Where:
    """The location of the index-th item of a located list."""
    lines = getattr(seq, "item_lines", None)
    line = lines[index] if lines and index < len(lines) else getattr(seq, "line", parent.line)
    return parent.child(index, line)


def _kind(value) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return "text"


__all__ = ["Reader", "Where", "parse_duration", "item_where", "LocatedDict", "LocatedList"]
