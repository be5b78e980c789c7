"""Backtest figures from (score, PQL, converted) samples: bucket conversion, lift, precision, volume."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BUCKETS = ((0, 25), (26, 50), (51, 75), (76, 100))
WEEK = 7 * 86400


@dataclass(frozen=True)
class Samples:
    """One row per subject and as-of date: its score then, and whether it reached the goal in the window."""

    subject: np.ndarray
    as_of: np.ndarray
    score: np.ndarray
    converted: np.ndarray  # bool


@dataclass(frozen=True)
class Tally:
    """Samples summed up per distinct score (ascending): all the figures need, whatever the number of samples."""

    score: np.ndarray  # the distinct scores
    samples: np.ndarray  # samples with that score
    converted: np.ndarray  # of those, the converted
    best: np.ndarray  # subjects whose highest score over the dates is that score
    first: np.ndarray  # samples with that score on the first date
    dates: int

    @property
    def subjects(self) -> int:
        return int(self.best.sum())


def tally(s: Samples) -> Tally:
    """The tally of row-wise samples."""
    if not len(s.score):
        empty = np.array([], dtype=np.int64)
        return Tally(np.array([], dtype=float), empty, empty, empty, empty, 0)
    score = np.asarray(s.score, dtype=float)
    values, at = np.unique(score, return_inverse=True)
    converted = np.asarray(s.converted, dtype=bool)
    subjects, of = np.unique(s.subject, return_inverse=True)
    best = np.full(len(subjects), -1, dtype=np.int64)
    np.maximum.at(best, of, at)
    dates = np.unique(s.as_of)
    n = len(values)
    return Tally(values, np.bincount(at, minlength=n), np.bincount(at[converted], minlength=n),
                 np.bincount(best, minlength=n), np.bincount(at[s.as_of == dates[0]], minlength=n), len(dates))


def as_tally(s: Samples | Tally) -> Tally:
    return s if isinstance(s, Tally) else tally(s)


def _rate(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def bucket_table(s: Samples | Tally) -> list[dict]:
    """Conversion by score bucket 0–25, 26–50, 51–75, 76–100."""
    t, out = as_tally(s), []
    for lo, hi in BUCKETS:
        inside = (t.score >= lo) & (t.score <= hi)
        n, hits = int(t.samples[inside].sum()), int(t.converted[inside].sum())
        out.append({"bucket": f"{lo}-{hi}", "subjects": n, "converted": hits, "conversion": _rate(hits, n)})
    return out


def weekly_volume(s: Samples | Tally, threshold: float, reps: int, step: int) -> float | None:
    """New PQLs per rep per week: subjects crossing the threshold for the first time, after the first date."""
    t = as_tally(s)
    if t.dates < 2:
        return None
    pql = t.score >= threshold
    new = int(t.best[pql].sum()) - int(t.first[pql].sum())  # the first date only warms up
    weeks = (t.dates - 1) * step / WEEK
    return round(new / weeks / max(1, reps), 3)


def threshold_stats(s: Samples | Tally, threshold: float, reps: int, step: int) -> dict:
    """PQL conversion against non-PQL, their ratio (lift), precision, recall and weekly volume per rep."""
    t = as_tally(s)
    pql = t.score >= threshold
    pqls, non = int(t.samples[pql].sum()), int(t.samples[~pql].sum())
    hits, hits_non = int(t.converted[pql].sum()), int(t.converted[~pql].sum())
    rate_pql, rate_non = _rate(hits, pqls), _rate(hits_non, non)
    lift = round(rate_pql / rate_non, 3) if rate_pql is not None and rate_non else None
    converted = hits + hits_non
    return {"threshold": threshold, "pqls": pqls, "non_pqls": non,
            "pql_conversion": rate_pql, "non_pql_conversion": rate_non, "lift": lift,
            "precision": rate_pql, "recall": round(hits / converted, 4) if converted else None,
            "pqls_per_rep_per_week": weekly_volume(t, threshold, reps, step)}


def suggest_threshold(s: Samples | Tally, reps: int, step: int, target_lift: float | None = None,
                      target_volume: float | None = None, min_pqls: int = 10) -> dict | None:
    """The lowest threshold reaching the target lift, or the one whose weekly volume is closest to target."""
    s = as_tally(s)
    candidates = [threshold_stats(s, t, reps, step) for t in range(1, 101)]
    candidates = [c for c in candidates if c["pqls"] >= min_pqls and c["non_pqls"] > 0]
    if target_volume is not None:
        with_volume = [c for c in candidates if c["pqls_per_rep_per_week"] is not None]
        if not with_volume:
            return None
        best = min(with_volume, key=lambda c: (abs(c["pqls_per_rep_per_week"] - target_volume), -c["threshold"]))
        return dict(best, reason=f"weekly PQLs per rep closest to {target_volume:g}")
    target = 3.0 if target_lift is None else target_lift
    reaching = [c for c in candidates if c["lift"] is not None and c["lift"] >= target]
    if not reaching:
        best = max((c for c in candidates if c["lift"] is not None), key=lambda c: c["lift"], default=None)
        return None if best is None else dict(best, reason=f"no threshold reaches lift {target:g}; this one lifts most")
    return dict(reaching[0], reason=f"lowest threshold with PQLs converting at {target:g}x non-PQLs or better")


def report(s: Samples | Tally, threshold: float, reps: int, step: int, target_lift: float | None = None,
           target_volume: float | None = None) -> dict:
    """Everything the backtest shows for one rule set."""
    s = as_tally(s)
    stats = threshold_stats(s, threshold, reps, step)
    lift = stats["lift"]
    samples, converted = int(s.samples.sum()), int(s.converted.sum())
    return {"samples": samples, "subjects": s.subjects, "dates": s.dates, "converted": converted,
            "base_conversion": _rate(converted, samples), "buckets": bucket_table(s), "threshold": stats,
            "meets_guide": None if lift is None else lift >= 3.0,
            "suggestion": suggest_threshold(s, reps, step, target_lift, target_volume)}
