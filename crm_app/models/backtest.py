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


def _rate(hits: np.ndarray) -> float | None:
    return round(float(hits.mean()), 4) if len(hits) else None


def bucket_table(s: Samples) -> list[dict]:
    """Conversion by score bucket 0–25, 26–50, 51–75, 76–100."""
    out = []
    for lo, hi in BUCKETS:
        inside = (s.score >= lo) & (s.score <= hi)
        out.append({"bucket": f"{lo}-{hi}", "subjects": int(inside.sum()), "converted": int(s.converted[inside].sum()),
                    "conversion": _rate(s.converted[inside])})
    return out


def weekly_volume(s: Samples, threshold: float, reps: int, step: int) -> float | None:
    """New PQLs per rep per week: subjects crossing the threshold for the first time, after the first date."""
    dates = np.unique(s.as_of)
    if len(dates) < 2:
        return None
    pql = s.score >= threshold
    first: dict = {}
    for subject, when in zip(s.subject[pql], s.as_of[pql]):
        if subject not in first or when < first[subject]:
            first[subject] = when
    new = sum(1 for when in first.values() if when > dates[0])  # the first date only warms up
    weeks = (len(dates) - 1) * step / WEEK
    return round(new / weeks / max(1, reps), 3)


def threshold_stats(s: Samples, threshold: float, reps: int, step: int) -> dict:
    """PQL conversion against non-PQL, their ratio (lift), precision, recall and weekly volume per rep."""
    pql = s.score >= threshold
    rate_pql, rate_non = _rate(s.converted[pql]), _rate(s.converted[~pql])
    lift = round(rate_pql / rate_non, 3) if rate_pql is not None and rate_non else None
    converted = int(s.converted.sum())
    return {"threshold": threshold, "pqls": int(pql.sum()), "non_pqls": int((~pql).sum()),
            "pql_conversion": rate_pql, "non_pql_conversion": rate_non, "lift": lift,
            "precision": rate_pql, "recall": round(int(s.converted[pql].sum()) / converted, 4) if converted else None,
            "pqls_per_rep_per_week": weekly_volume(s, threshold, reps, step)}


def suggest_threshold(s: Samples, reps: int, step: int, target_lift: float | None = None,
                      target_volume: float | None = None, min_pqls: int = 10) -> dict | None:
    """The lowest threshold reaching the target lift, or the one whose weekly volume is closest to target."""
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


def report(s: Samples, threshold: float, reps: int, step: int, target_lift: float | None = None,
           target_volume: float | None = None) -> dict:
    """Everything the backtest shows for one rule set."""
    stats = threshold_stats(s, threshold, reps, step)
    lift = stats["lift"]
    return {"samples": int(len(s.score)), "subjects": int(len(np.unique(s.subject))),
            "dates": int(len(np.unique(s.as_of))), "converted": int(s.converted.sum()),
            "base_conversion": _rate(s.converted), "buckets": bucket_table(s), "threshold": stats,
            "meets_guide": None if lift is None else lift >= 3.0,
            "suggestion": suggest_threshold(s, reps, step, target_lift, target_volume)}
