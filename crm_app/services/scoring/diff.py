"""Change detection and tallies: a result as a stored row with its digest, and what a run reports about it."""
from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field

from crm_app.engine.result import ScoreResult
from crm_app.engine.setwise.stored import canonical
from crm_app.store.scoring.results import COMPARED

MOVERS_KEPT = 10
HISTORY_FIELDS = ("fit", "behaviour", "combined", "band", "pql")


@dataclass
class ModelSummary:
    model: str
    scored: int = 0
    changed: int = 0
    rendered: int = 0  # results a set-wise engine brought back to Python to render (its changed candidates)
    bands: dict = field(default_factory=dict)  # everyone's band after the run
    run_bands: dict = field(default_factory=dict)  # bands of the people scored in this run
    new_pqls: list = field(default_factory=list)  # (person external id, combined)
    movers: list = field(default_factory=list)  # (delta, external id, old, new)

    def merge(self, other: "ModelSummary") -> None:
        self.scored += other.scored
        self.changed += other.changed
        self.rendered += other.rendered
        for band, n in other.run_bands.items():
            self.run_bands[band] = self.run_bands.get(band, 0) + n
        self.new_pqls.extend(other.new_pqls)
        self.movers = top_movers(self.movers + other.movers)


def result_row(result: ScoreResult, subject_id: int, rules_hash: str) -> dict:
    """A result as a store row; reasons compact as [rule, text, points] lists; digest of what is compared (the
    set-wise plan takes the same digest in SQL: engine.setwise.stored)."""
    row = {c: getattr(result, c) for c in COMPARED if c != "reasons"}
    row.update(model=result.model, subject_id=subject_id, as_of=result.as_of, days_inactive=result.days_inactive,
               rules_hash=rules_hash, reasons=[[r.rule, r.text, r.points] for r in result.reasons])
    row["digest"] = hashlib.md5(canonical([row[c] for c in COMPARED]).encode(), usedforsecurity=False).hexdigest()
    return row


def top_movers(movers: list) -> list:
    return heapq.nsmallest(MOVERS_KEPT, movers, key=lambda m: (-abs(m[0]), str(m[1])))


def tally(tally: ModelSummary, row: dict, before: dict | None, external_id) -> None:
    tally.scored += 1
    tally.run_bands[row["band"]] = tally.run_bands.get(row["band"], 0) + 1
    if before is not None and row["digest"] == before["digest"]:
        return
    tally.changed += 1
    if row["pql"] and not (before and before.get("pql")):
        tally.new_pqls.append((external_id, row["combined"]))
    old = before["combined"] if before else 0
    if row["combined"] != old:
        tally.movers.append((row["combined"] - old, external_id, old, row["combined"]))
