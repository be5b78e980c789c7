"""Error types. Every error about an admin file names file:line, the key path and the fix."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field


def did_you_mean(word: str, candidates) -> str | None:
    """Return the closest valid candidate to a mistyped word, if one is close enough."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True)
class SpecError:
    """One problem in an admin file, located precisely enough to fix without searching."""

    file: str
    line: int
    key: str
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        key = f" {self.key}:" if self.key else ""
        return f"{self.file}:{self.line}:{key} {self.message}{hint}"


@dataclass
class ErrorCollector:
    """Gathers every error of a file set so all of them are reported at once."""

    errors: list[SpecError] = field(default_factory=list)

    def add(self, file: str, line: int, key: str, message: str, suggestion: str | None = None) -> None:
        self.errors.append(SpecError(file, line, key, message, suggestion))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def at(self, file: str, line: int) -> list[SpecError]:
        return [e for e in self.errors if e.file == file and e.line == line]

    def sorted(self) -> list[SpecError]:
        return sorted(self.errors, key=lambda e: (e.file, e.line, e.key, e.message))


class SpecSetInvalid(Exception):
    """Raised when a set of admin files has errors; the set is never applied."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class IngestError(ValueError):
    """A message from the ingest API or an import file that cannot be stored, with the reason."""


class ConfigError(Exception):
    """A setting from the environment is missing or malformed."""
