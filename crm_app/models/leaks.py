"""Evidence that an indicator is written after the outcome, read from how its values behave against the goal.

A column's name is a hint and never the only evidence. Each finding is strong (enough alone) or supporting
(two of them, or one with a name hint and signal, make a likely leak; one alone asks the admin to check):
- strong: the values separate the outcome almost perfectly, alone (ROC AUC >= 0.90) or per category (at least
  5% of subjects have a value after which the outcome is all but certain, and such values exist both ways:
  some where >= 95% reach the goal and some where <= 5% do, as a sales disposition has "won" and "lost");
- strong: field history shows it filled in only after the goal was reached, for most converted subjects whose
  moment of reaching it is known (mostly missing before the outcome and present after), or its value changed
  after the goal for most of them (a sales activity or disposition updated once the outcome is known);
- strong: most of its values are sales-activity outcomes (models.activity_values: "SMS sent", "no answer",
  "not interested") and those values tell the outcome (lift >= 2 either way for 10% of subjects), or field
  history shows them written after the goal for a fifth of converted subjects;
- supporting: near-certain values for 2% or more of subjects, one way only (a real behaviour can make an
  outcome very unlikely: a two-year contract rarely churns); or presence that tells the outcome (the field is
  filled in far more often for one outcome: recorded because of it, as a field missing before the outcome and
  present after it would be).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from crm_app.models import activity_values
from crm_app.models.dataset import Column
from crm_app.models.indicators import bin_labels
from crm_app.models.train import single_feature_auc

GOAL_LIKE_AUC = 0.90
CERTAIN = 0.05  # a value after which at most 5% (or at least 95%) of subjects reach the goal
PURE_SHARE_STRONG = 0.05
PURE_SHARE_SUPPORT = 0.02
PRESENCE_AUC = 0.62  # presence alone predicting the goal this well: filled in because of the outcome
MIN_VALUE_SUBJECTS = 30
AFTER_OUTCOME_SHARE = 0.5
MIN_TIMED = 20


@dataclass(frozen=True)
class Evidence:
    strong: list
    supporting: list
    auc: float  # the indicator's own out-of-fold ROC AUC


def near_certain_values(col: Column, y: np.ndarray) -> tuple[float, list, bool]:
    """(share of subjects whose value all but decides the outcome, the largest such values, whether such values
    decide it both ways)."""
    labels = np.array([str(v) for v in bin_labels(col)], dtype=object)
    present = np.array([v is not None for v in col.values])
    values, inverse = np.unique(labels, return_inverse=True)
    floor = max(MIN_VALUE_SUBJECTS, int(0.01 * len(y)))
    share, found = 0.0, []
    for k, value in enumerate(values):
        rows = (inverse == k) & present
        if rows.sum() < floor:
            continue
        rate = float(y[rows].mean())
        if rate <= CERTAIN or rate >= 1 - CERTAIN:
            share += rows.sum() / len(y)
            found.append((int(rows.sum()), value, rate))
    both = any(rate >= 1 - CERTAIN for _, _, rate in found) and any(rate <= CERTAIN for _, _, rate in found)
    return share, sorted(found, reverse=True)[:2], both


def presence_auc(col: Column, y: np.ndarray) -> float:
    present = np.array([v is not None for v in col.values], dtype=float)
    if present.min() == present.max() or y.min() == y.max():
        return 0.5
    auc = float(roc_auc_score(y, present))
    return max(auc, 1 - auc)


def evidence(col: Column, y: np.ndarray, timing: tuple | None = None) -> Evidence:
    """What the column's behaviour says about when it is written; `timing` is (filled only after the goal,
    converted subjects whose moment is known, changed after the goal) from field history."""
    strong, supporting = [], []
    if timing and timing[1] >= MIN_TIMED and timing[0] >= AFTER_OUTCOME_SHARE * timing[1]:
        strong.append(f"field history shows it filled in only after the goal was reached for {timing[0]} of "
                      f"{timing[1]} converted subjects")
    if timing and len(timing) > 2 and timing[1] >= MIN_TIMED and timing[2] >= AFTER_OUTCOME_SHARE * timing[1]:
        strong.append(f"field history shows its value changed after the goal was reached for {timing[2]} of "
                      f"{timing[1]} converted subjects, so the model would learn from values recorded after the "
                      "outcome")
    activity = activity_values.finding(col, y, timing)
    if activity:
        strong.append(activity)
    auc = single_feature_auc(col, y)
    if auc >= GOAL_LIKE_AUC:
        strong.append(f"alone it predicts the goal with ROC AUC {auc:.2f}")
    share, values, both = near_certain_values(col, y)
    if values:
        shown = ", ".join(f"'{v}' ({rate:.0%} of {n} reach the goal)" for n, v, rate in values)
        text = f"{share:.0%} of subjects have a value that all but decides the outcome: {shown}"
        if share >= PURE_SHARE_STRONG and both:
            strong.append(text)
        elif share >= PURE_SHARE_SUPPORT:
            supporting.append(text)
    if col.source == "field":  # a missing event count means 'never did it', not 'not recorded yet'
        presence = presence_auc(col, y)
        if presence >= PRESENCE_AUC:
            pos = y == 1
            filled = [1 - np.mean([col.values[i] is None for i in np.flatnonzero(side)]) for side in (pos, ~pos)]
            supporting.append(f"whether it is filled in predicts the goal (ROC AUC {presence:.2f}): filled for "
                              f"{filled[0]:.0%} of converted but {filled[1]:.0%} of not converted")
    return Evidence(strong, supporting, auc)
