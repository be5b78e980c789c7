"""Time-aware validation: models are judged on subjects later than the ones they learned from.

Shuffled cross-validation mixes periods, so a model that memorises an old pattern looks as good as one that
holds up after the world changed. Out-of-time validation trains on the earlier subjects and validates on the
latest `holdout` share; rolling-origin validation repeats that from several origins (train on blocks 1..k,
validate on block k+1). Subjects are ordered by their time (when they entered, by default `created_at`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.metrics import roc_auc_score

MIN_PERIOD = 20  # fewer subjects (or no positive or no negative) in a period: it cannot be judged
TIME_AWARE = ("out_of_time", "rolling")


@dataclass(frozen=True)
class Period:
    """One validated block: the rows a model learned from and the later rows it is judged on."""

    train: np.ndarray
    test: np.ndarray
    start: float  # time of the first and last validated subject
    end: float


def has_time(times: np.ndarray) -> bool:
    """Enough subjects carry a time, and the times spread so an earlier and a later period exist."""
    present = times[~np.isnan(times)]
    if len(present) < 0.9 * len(times) or len(present) < 2 * MIN_PERIOD:
        return False
    low, high = np.quantile(present, [0.1, 0.9])
    return bool(high > low)


def _order(times: np.ndarray) -> np.ndarray:
    """Indices by time (missing times first: they are never judged as 'later')."""
    return np.argsort(np.nan_to_num(times, nan=-np.inf), kind="stable")


def _judgeable(y: np.ndarray, test: np.ndarray) -> bool:
    return len(test) >= MIN_PERIOD and 0 < y[test].sum() < len(test)


def periods(kind: str, times: np.ndarray, y: np.ndarray, holdout: float = 0.25, origins: int = 4) -> list[Period]:
    """The validated periods of an out-of-time or rolling-origin split (empty when none can be judged)."""
    order = _order(times)
    n = len(order)
    if kind == "out_of_time":
        cut = int(round(n * (1 - holdout)))
        blocks = [(order[:cut], order[cut:])]
    else:
        edges = np.linspace(0, n, origins + 2).round().astype(int)
        blocks = [(order[:edges[k]], order[edges[k]:edges[k + 1]]) for k in range(1, origins + 1)]
    found = []
    for train, test in blocks:
        if _judgeable(y, test) and 0 < y[train].sum() < len(train):
            found.append(Period(np.sort(train), np.sort(test), float(times[test].min()), float(times[test].max())))
    return found


def validate(matrix: np.ndarray, y: np.ndarray, chosen: list[Period], fit_predict: Callable) -> dict:
    """Train on each period's earlier rows, predict its later rows: per-period and pooled ROC AUC.

    `fit_predict(train_rows, test_rows)` returns raw probabilities for the test rows.
    """
    pooled_idx, pooled_p, table = [], [], []
    for period in chosen:
        p = fit_predict(period.train, period.test)
        pooled_idx.append(period.test)
        pooled_p.append(p)
        table.append({"from": period.start, "to": period.end, "n": int(len(period.test)),
                      "trained_on": int(len(period.train)), "positives": int(y[period.test].sum()),
                      "roc_auc": round(float(roc_auc_score(y[period.test], p)), 4)})
    idx, p = np.concatenate(pooled_idx), np.concatenate(pooled_p)
    # The mean of the periods' AUCs, not a pooled AUC: pooling would compare scores of different models.
    return {"roc_auc": round(float(np.mean([t["roc_auc"] for t in table])), 4), "periods": table,
            "rows": idx, "raw": p}


def period_calibration(y: np.ndarray, calibrated: np.ndarray, result: dict) -> list[dict]:
    """Per validated period: mean predicted against observed rate, Brier score and expected calibration error."""
    out, start = [], 0
    for period in result["periods"]:
        part = slice(start, start + period["n"])
        rows = result["rows"][part]
        p, actual = calibrated[part], y[rows]
        order = np.argsort(p, kind="stable")
        ece = sum(len(b) / len(p) * abs(float(p[b].mean()) - float(actual[b].mean()))
                  for b in np.array_split(order, 10) if len(b))
        out.append({**period, "predicted": round(float(p.mean()), 4), "observed": round(float(actual.mean()), 4),
                    "brier": round(float(np.mean((p - actual) ** 2)), 4), "expected_calibration_error": round(ece, 4)})
        start += period["n"]
    return out


def resolve(requested: str, times: np.ndarray | None) -> tuple[str, str | None]:
    """(the validation used, why it differs from the one asked for, if it does)."""
    if requested == "shuffled":
        return "shuffled", None
    if times is not None and has_time(times):
        return ("out_of_time" if requested == "auto" else requested), None
    why = ("the subjects carry no usable time (90% need one, and the times must spread)"
           if times is not None else "no subject times were given")
    return "shuffled", None if requested == "auto" else f"validation: {requested} was asked, but {why}; " \
                                                         "shuffled cross-validation was used"
