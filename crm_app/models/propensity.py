"""Apply a fitted propensity model set-wise: its columns for a chunk of subjects, one prediction for the whole
chunk, 1-100 scores, and the indicators that moved each score most (the reasons a rep reads)."""
from __future__ import annotations

import numpy as np

from crm_app.models.dataset import Column, event_columns, metric_columns, to_matrix, typed_field_column
from crm_app.models.train import Fitted

REASONS_KEPT = 3
EXPLAINED_COLUMNS = 12  # each explained column costs one more prediction per chunk
EXPLAIN_SAMPLE = 2000


def layout_columns(fitted: Fitted, ids: list, records: dict, features: dict, as_of: int) -> list[Column]:
    """The model's indicators for these subjects, computed the way training computed them, in its order."""
    inputs = fitted.inputs
    computed = {c.name: c for c in event_columns(ids, features, list(inputs.get("events", [])),
                                                 tuple(inputs.get("windows", ())), as_of)}
    computed.update({c.name: c for c in metric_columns(ids, features, list(inputs.get("metrics", [])))})
    return [computed.get(name) or typed_field_column(name, kind, [records.get(i, {}).get(name) for i in ids])
            for name, kind in fitted.columns]


def prepare_reasons(fitted: Fitted, columns: list[Column]) -> None:
    """Keep each column's typical value and the columns whose change moves predictions most.

    A reason is the difference between a subject's prediction and the prediction with one indicator set to
    its typical value; only the most influential columns on a training sample are explained, so scoring pays
    a fixed number of extra predictions per chunk whatever the number of indicators.
    """
    matrix, _ = to_matrix(columns, fitted.categories)
    baseline = np.zeros(matrix.shape[1])
    for j, (_, kind) in enumerate(fitted.columns):
        present = matrix[:, j][~np.isnan(matrix[:, j])]
        if len(present) == 0:
            baseline[j] = np.nan
        elif kind == "numeric":
            baseline[j] = float(np.median(present))
        else:
            values, counts = np.unique(present, return_counts=True)
            baseline[j] = values[np.argmax(counts)]
    fitted.baseline = baseline
    sample = matrix[np.random.default_rng(0).permutation(len(matrix))[:EXPLAIN_SAMPLE]]
    base = fitted.predict(sample)
    influence = [float(np.mean(np.abs(base - fitted.predict(_with_column(sample, j, baseline[j])))))
                 for j in range(matrix.shape[1])]
    ranked = sorted(range(len(influence)), key=lambda j: -influence[j])
    fitted.reason_columns = [int(j) for j in ranked[:EXPLAINED_COLUMNS] if influence[j] > 0]


def _with_column(matrix: np.ndarray, j: int, value: float) -> np.ndarray:
    out = matrix.copy()
    out[:, j] = value
    return out


def score_columns(fitted: Fitted, columns: list[Column]) -> tuple[np.ndarray, list[list]]:
    """(1-100 scores, reasons) for every subject of the columns: [indicator, text, points] per reason."""
    matrix, _ = to_matrix(columns, fitted.categories)
    scores = fitted.scores(fitted.predict(matrix))
    if not fitted.reason_columns or fitted.baseline is None or len(matrix) == 0:
        return scores, [[] for _ in range(len(matrix))]
    explained = fitted.reason_columns
    deltas = np.column_stack([scores - fitted.scores(fitted.predict(_with_column(matrix, j, fitted.baseline[j])))
                              for j in explained])
    order = np.argsort(-np.abs(deltas), axis=1, kind="stable")[:, :REASONS_KEPT]
    reasons = []
    for row in range(len(matrix)):
        kept = []
        for k in order[row]:
            points = int(deltas[row, k])
            if points:
                column = columns[explained[k]]
                kept.append([column.name, f"{indicator_label(column.name)}: {_shown(column.values[row])}", points])
        reasons.append(kept)
    return scores, reasons


def indicator_label(name: str) -> str:
    """A readable name: events.login.count_7d -> 'login in 7d', metric.seats -> 'seats'."""
    if name.startswith("events."):
        _, slug, measure = name.split(".", 2)
        event = "any event" if slug == "any" else slug.replace("_", " ")
        if measure == "days_since_last":
            return f"days since last {event}"
        if measure == "count_all":
            return f"{event} (all time)"
        return f"{event} in {measure.removeprefix('count_')}"
    return name.removeprefix("metric.").replace("_", " ")


def _shown(value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    return str(value)
