"""Indicators as Correlated shows them: lift per feature, Strong / Slight / None, sign, and a breakdown.

The lift of a value is how much more common it is among subjects who reached the goal than among those
who did not (share of converted / share of not converted). A feature's strength is its most telling value
with enough support to trust.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

from crm_app.models.dataset import MISSING, OTHER, Column

STRONG, SLIGHT = 2.0, 1.25  # lift (or its inverse) of the most telling value
MIN_SUPPORT = 0.02  # a value must hold for 2% of one group to count
MAX_VALUES = 12
SMOOTH = 0.01  # one point of share added to both sides, so a value seen in 4% vs 0% is not "infinite"


def _fmt(x: float) -> str:
    return f"{x:g}" if abs(x) >= 100 or float(x).is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")


def numeric_edges(values: list[float]) -> list[float]:
    """Bin edges at quintiles of the present values (fewer when values repeat)."""
    present = np.array([v for v in values if v is not None], dtype=float)
    if len(present) == 0:
        return []
    return sorted(set(np.quantile(present, [0.2, 0.4, 0.6, 0.8]).round(6).tolist()))


def bin_labels(column: Column) -> list[str]:
    """The bin or value of each subject, as shown in the breakdown ('8+', '3–7', 'Email', '(missing)')."""
    if column.kind == "categorical":
        counts: dict = {}
        for v in column.values:
            counts[v] = counts.get(v, 0) + 1
        kept = set(sorted((k for k in counts if k is not None), key=lambda k: -counts[k])[:MAX_VALUES - 1])
        return [MISSING if v is None else v if v in kept else OTHER for v in column.values]
    distinct = {v for v in column.values if v is not None}
    if len(distinct) <= 6:
        return [MISSING if v is None else _fmt(v) for v in column.values]
    edges = numeric_edges(list(column.values))
    names = _range_names(edges)
    return [MISSING if v is None else names[int(np.searchsorted(edges, v, side="left"))] for v in column.values]


def _range_names(edges: list[float]) -> list[str]:
    """Names of the bins (-inf, e0], (e0, e1], ..., (ek, inf)."""
    names = [f"≤ {_fmt(edges[0])}"]
    names += [f"{_fmt(lo)}–{_fmt(hi)}" if hi > lo else _fmt(hi) for lo, hi in zip(edges, edges[1:])]
    names.append(f"> {_fmt(edges[-1])}")
    return names


def breakdown(column: Column, y: np.ndarray) -> list[dict]:
    """Per value or bin: subjects, share of converted and of not-converted with it, conversion and lift."""
    labels = bin_labels(column)
    pos, neg = max(1, int(y.sum())), max(1, int(len(y) - y.sum()))
    table: dict = {}
    for label, target in zip(labels, y):
        row = table.setdefault(label, [0, 0])
        row[0 if target else 1] += 1
    out = []
    for label, (p, n) in table.items():
        pos_share, neg_share = p / pos, n / neg
        out.append({"value": label, "subjects": p + n, "converted_share": round(pos_share, 4),
                    "not_converted_share": round(neg_share, 4), "conversion": round(p / (p + n), 4),
                    "lift": round((pos_share + SMOOTH) / (neg_share + SMOOTH), 3)})
    return sorted(out, key=lambda r: _order_key(column, r["value"]))


def _order_key(column: Column, label: str):
    if label in (MISSING, OTHER):
        return (2, label)
    if column.kind == "numeric":
        digits = "".join(ch if ch.isdigit() or ch in ".-" else " " for ch in label.replace("–", " ")).split()
        first = float(digits[0]) if digits else 0.0
        return (0 if not label.startswith("≤") else -1, first)
    return (1, label)


def indicator(column: Column, y: np.ndarray) -> dict:
    """Strength (Strong / Slight / None), sign of impact and the telling value of one feature."""
    rows = breakdown(column, y)
    supported = [r for r in rows if max(r["converted_share"], r["not_converted_share"]) >= MIN_SUPPORT]
    best = max(supported, key=lambda r: abs(math.log(r["lift"])), default=None)
    strength = 0.0 if best is None else abs(math.log(best["lift"]))
    label = "Strong" if strength >= math.log(STRONG) else "Slight" if strength >= math.log(SLIGHT) else "None"
    sign = "+" if best is not None and best["lift"] >= 1 else "-"
    if column.kind == "numeric":
        sign = _numeric_sign(column, y) or sign
        # Describe the feature by its most telling bin in the direction of its sign.
        pick = max if sign == "+" else min
        best = pick(supported, key=lambda r: r["lift"], default=best)
    summary = None
    if best is not None:
        summary = (f"{column.name} {best['value']}: {best['converted_share']:.0%} of converted, "
                   f"{best['not_converted_share']:.0%} of not converted")
    return {"name": column.name, "kind": column.kind, "source": column.source, "label": label,
            "lift": round(math.exp(strength), 3), "sign": sign if label != "None" else "",
            "top_value": best["value"] if best else None, "summary": summary,
            "missing_share": round(column.missing_share(), 4), "breakdown": rows}


def _numeric_sign(column: Column, y: np.ndarray) -> str | None:
    """+ when higher values go with the goal (rank correlation over present values), - when lower do."""
    pairs = [(v, t) for v, t in zip(column.values, y) if v is not None]
    if len(pairs) < 10:
        return None
    values = np.array([p[0] for p in pairs], dtype=float)
    targets = np.array([p[1] for p in pairs], dtype=float)
    ranks = rankdata(values)  # average ranks: ties must not take an order from the rows
    if ranks.std() == 0 or targets.std() == 0:
        return None
    return "+" if np.corrcoef(ranks, targets)[0, 1] >= 0 else "-"


def rank_indicators(columns: list[Column], y: np.ndarray) -> list[dict]:
    """Every feature's indicator, strongest lift first."""
    return sorted((indicator(c, y) for c in columns), key=lambda r: (-r["lift"], r["name"]))
