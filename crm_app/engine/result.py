"""What scoring produces: one frozen result per subject and model, with its reasons."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Reason:
    """A rule that fired, with the points it gave after recency weighting, in a rep's words."""

    rule: str
    kind: str  # fit | behaviour | decay
    text: str
    points: int
    base_points: float
    factor: float = 1.0
    group: str | None = None

    def line(self) -> str:
        return f"{self.text}: {self.points:+d}"


@dataclass(frozen=True)
class ScoreResult:
    """Everything a model says about one subject as of one moment."""

    model: str
    as_of: int
    fit: int
    fit_raw: int
    behaviour: int
    behaviour_before_decay: int
    decay: int
    combined: int
    band: str
    pql: bool
    pql_since: int | None
    pql_first_at: int | None
    activation: str | None
    milestones: int
    last_activity: int | None
    days_inactive: int | None
    reasons: tuple

    def top_reasons(self, n: int = 3, positive_only: bool = False) -> tuple:
        """The reasons that moved the score most, largest first; ties keep file order."""
        chosen = [r for r in self.reasons if r.points > 0 or not positive_only]
        return tuple(sorted(chosen, key=lambda r: -abs(r.points))[:n])

    def reasons_text(self) -> str:
        """All reasons, one per line, as written into the CRM's long-text field."""
        return "\n".join(r.line() for r in self.reasons)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        """Canonical JSON: identical inputs give identical bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
