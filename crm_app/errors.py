"""Error types. Every error about an admin file names file:line, the key path and the fix."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace


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
    missing: tuple | None = None  # (kind, name) this error says is not defined: 'model', 'list' or 'pool'
    cause: "SpecError | None" = field(default=None, compare=False)  # the error this one follows from

    def __str__(self) -> str:
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        key = f" {self.key}:" if self.key else ""
        return f"{self.file}:{self.line}:{key} {self.message}{hint}"


@dataclass
class ErrorCollector:
    """Gathers every error of a file set so all of them are reported at once."""

    errors: list[SpecError] = field(default_factory=list)

    def add(self, file: str, line: int, key: str, message: str, suggestion: str | None = None,
            missing: tuple | None = None) -> None:
        self.errors.append(SpecError(file, line, key, message, suggestion, missing))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def at(self, file: str, line: int) -> list[SpecError]:
        return [e for e in self.errors if e.file == file and e.line == line]

    def sorted(self) -> list[SpecError]:
        return sorted(self.errors, key=lambda e: (e.file, e.line, e.key, e.message))


def fold_follow_ons(errors: list[SpecError], cause_of) -> list[SpecError]:
    """Each error that only says a name is missing, where `cause_of(kind, name)` finds the error that kept the
    name from being defined, is put right after that cause with `cause` set; the rest keep their order."""
    direct = {id(e): cause_of(*e.missing) if e.missing else None for e in errors}

    def root(error: SpecError) -> SpecError | None:
        seen, cause = {id(error)}, direct[id(error)]
        while cause is not None and id(cause) not in seen and direct.get(id(cause)) is not None:
            seen.add(id(cause))
            cause = direct[id(cause)]
        return None if cause is None or id(cause) in seen else cause

    causes: dict[int, list[SpecError]] = {}
    kept = []
    for error in errors:
        cause = root(error)
        if cause is None:
            kept.append(error)
        else:
            causes.setdefault(id(cause), []).append(replace(error, cause=cause))
    folded = []
    for error in kept:
        folded.append(error)
        folded.extend(causes.pop(id(error), []))
    return folded


FOLLOW_ONS_SHOWN = 3


def format_errors(errors: list[SpecError]) -> list[str]:
    """Lines for a person: each cause, then what follows from it indented under it (the first few, then a count)."""
    lines, shown = [], 0
    for error in errors:
        if error.cause is None:
            lines.append(str(error))
            shown = 0
            continue
        shown += 1
        following = sum(1 for e in errors if e.cause is error.cause)
        if shown == 1:
            lines.append(f"  {following} error(s) follow from it:")
        if shown <= FOLLOW_ONS_SHOWN:
            lines.append(f"    {error}")
        elif shown == FOLLOW_ONS_SHOWN + 1:
            lines.append(f"    ... and {following - FOLLOW_ONS_SHOWN} more")
    return lines


class SpecSetInvalid(Exception):
    """Raised when a set of admin files has errors; the set is never applied."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        super().__init__("\n".join(format_errors(errors)))


class IngestError(ValueError):
    """A message from the ingest API or an import file that cannot be stored, with the reason."""


class ConfigError(Exception):
    """A setting from the environment is missing or malformed."""


class StoreSchemaError(Exception):
    """The store's schema is one this release cannot migrate (a newer release migrated it)."""
