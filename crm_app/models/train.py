"""Fit a propensity model: cross-validated algorithm choice, calibrated probabilities, 1-100 scores."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from crm_app.models import validation as timing
from crm_app.models.dataset import Column, to_matrix

Progress = Callable[[str], None]
# One thread: the worker shares its machine, and OpenMP threads spinning on busy cores cost 2-10x wall time.
THREADS = 1
CANDIDATES = {"auto": ("logistic", "gradient_boosting"), "logistic": ("logistic",),
              "gradient_boosting": ("gradient_boosting",)}


@dataclass
class Fitted:
    """What scoring needs later: the model, its calibrator, the column layout and the reference distribution."""

    estimator: object
    calibrator: object  # maps the model's raw probability to a calibrated one
    columns: list  # (name, kind)
    categories: dict
    reference: np.ndarray  # sorted out-of-fold calibrated probabilities of the training population
    algorithm: str
    oof: np.ndarray | None = None  # out-of-fold calibrated probabilities, in training order
    inputs: dict = field(default_factory=dict)  # event names, windows and metrics the columns are computed from
    baseline: np.ndarray | None = None  # per column, the typical training value (median, or most frequent code)
    reason_columns: list = field(default_factory=list)  # columns worth explaining, most influential first

    def probabilities(self, columns: list[Column]) -> np.ndarray:
        by_name = {c.name: c for c in columns}
        n = len(columns[0].values) if columns else 0
        ordered = [by_name.get(name) or Column(name, kind, (None,) * n, "field") for name, kind in self.columns]
        matrix, _ = to_matrix(ordered, self.categories)
        return self.predict(matrix)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of a matrix laid out as `columns`: one predict_proba for all its rows."""
        return apply_calibrator(self.calibrator, self.estimator.predict_proba(matrix)[:, 1])

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        return percentile_scores(self.reference, probabilities)


def percentile_scores(reference: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """1-100 by rank against the training population: 80 means likelier than 80% of it."""
    if len(reference) == 0:
        return np.ones(len(probabilities), dtype=int)
    rank = np.searchsorted(reference, probabilities, side="right") / len(reference)
    return np.clip(np.ceil(rank * 100), 1, 100).astype(int)


def _signed_log(x):
    return np.sign(x) * np.log1p(np.abs(x))


def make_estimator(algorithm: str, kinds: list[str]):
    """The scikit-learn pipeline for an algorithm, over a matrix of numbers and category codes."""
    numeric = [i for i, k in enumerate(kinds) if k == "numeric"]
    categorical = [i for i, k in enumerate(kinds) if k == "categorical"]
    if algorithm == "gradient_boosting":
        return HistGradientBoostingClassifier(categorical_features=[k == "categorical" for k in kinds] or None,
                                              learning_rate=0.08, max_iter=300, l2_regularization=1.0,
                                              early_stopping=True, n_iter_no_change=15, random_state=0)
    parts = []
    if numeric:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                           FunctionTransformer(_signed_log), StandardScaler()), numeric))
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical))
    return make_pipeline(ColumnTransformer(parts), LogisticRegression(max_iter=3000, C=0.5))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).reshape(-1, 1)


def fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray):
    """Platt scaling (sigmoid) or isotonic regression from raw out-of-fold probabilities to observed rates."""
    if method == "isotonic":
        return IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw, y)
    return LogisticRegression(C=1e6).fit(_logit(raw), y)


def apply_calibrator(calibrator, raw: np.ndarray) -> np.ndarray:
    if isinstance(calibrator, IsotonicRegression):
        return calibrator.predict(raw)
    return calibrator.predict_proba(_logit(raw))[:, 1]


def out_of_fold(matrix: np.ndarray, y: np.ndarray, algorithm: str, kinds: list[str], folds: int,
                progress: Progress | None = None) -> np.ndarray:
    """Raw probabilities for every subject from a model that never saw it."""
    oof = np.zeros(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for k, (train, test) in enumerate(splitter.split(matrix, y), 1):
        model = make_estimator(algorithm, kinds).fit(matrix[train], y[train])
        oof[test] = model.predict_proba(matrix[test])[:, 1]
        if progress:
            progress(f"{algorithm}: fold {k}/{folds}")
    return oof


def calibrated_out_of_fold(method: str, raw: np.ndarray, y: np.ndarray, folds: int) -> np.ndarray:
    """Calibrated out-of-fold probabilities: each calibrator is fitted on the other folds' subjects."""
    out = np.zeros(len(y))
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=2).split(raw, y):
        out[test] = apply_calibrator(fit_calibrator(method, raw[train], y[train]), raw[test])
    return out


def calibration_summary(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """Predicted against observed rates in deciles of the prediction, Brier score and expected error."""
    order = np.argsort(p, kind="stable")
    table, ece = [], 0.0
    for part in np.array_split(order, bins):
        if len(part) == 0:
            continue
        predicted, observed = float(p[part].mean()), float(y[part].mean())
        ece += len(part) / len(y) * abs(predicted - observed)
        table.append({"n": int(len(part)), "predicted": round(predicted, 4), "observed": round(observed, 4)})
    return {"brier": round(float(brier_score_loss(y, p)), 4), "expected_calibration_error": round(ece, 4),
            "deciles": table}


def metrics_of(y: np.ndarray, p: np.ndarray) -> dict:
    return {"roc_auc": round(float(roc_auc_score(y, p)), 4), "pr_auc": round(float(average_precision_score(y, p)), 4),
            "base_rate": round(float(y.mean()), 4)}


def fit(columns: list[Column], y: np.ndarray, algorithm: str = "auto", method: str = "sigmoid", folds: int = 5,
        progress: Progress | None = None, times: np.ndarray | None = None, validation: str = "auto",
        holdout: float = 0.25) -> tuple[Fitted, dict]:
    """Validate each candidate algorithm, keep the best, refit it on everyone, calibrate.

    With subject times (and validation auto, out_of_time or rolling) the best is the one with the best ROC AUC on
    later subjects than it learned from; otherwise the best by shuffled cross-validation. Calibration reuses
    the shuffled cross-validation: the calibrator maps out-of-fold probabilities to outcomes (as
    CalibratedClassifierCV with ensemble=False does), so no extra round of fits is needed.
    """
    with threadpool_limits(THREADS):
        return _fit(columns, y, algorithm, method, folds, progress, times, validation, holdout)


def _fit(columns: list[Column], y: np.ndarray, algorithm: str, method: str, folds: int,
         progress: Progress | None, times, validation: str, holdout: float) -> tuple[Fitted, dict]:
    matrix, categories = to_matrix(columns)
    kinds = [c.kind for c in columns]
    folds = max(2, min(folds, int(y.sum()), int(len(y) - y.sum())))
    kind, note = timing.resolve(validation, times)
    periods = timing.periods(kind, times, y, holdout, folds) if kind in timing.TIME_AWARE else []
    if kind in timing.TIME_AWARE and not periods:
        kind, note = "shuffled", f"no later period has both outcomes ({timing.MIN_PERIOD}+ subjects each); " \
                                 "shuffled cross-validation was used"
    tried, timed = {}, {}
    for name in CANDIDATES[algorithm]:
        raw = out_of_fold(matrix, y, name, kinds, folds, progress)
        tried[name] = (metrics_of(y, raw), raw)
        if periods:
            timed[name] = timing.validate(matrix, y, periods, _fit_predict(matrix, y, name, kinds))
            if progress:
                progress(f"{name}: {kind} ROC AUC {timed[name]['roc_auc']:.3f}")
    best = max(tried, key=lambda n: timed[n]["roc_auc"] if timed else tried[n][0]["roc_auc"])
    raw = tried[best][1]
    final = make_estimator(best, kinds).fit(matrix, y)
    calibrator = fit_calibrator(method, raw, y)
    if progress:
        progress(f"{best}: final fit")
    oof = calibrated_out_of_fold(method, raw, y, folds)
    candidates = {n: dict(m, **({"time_aware_roc_auc": timed[n]["roc_auc"]} if timed else {}))
                  for n, (m, _) in tried.items()}
    metrics = dict(tried[best][0], algorithm=best, folds=folds, calibration_method=method, candidates=candidates,
                   calibration=calibration_summary(y, oof), validation=kind,
                   selected_by=f"{kind} ROC AUC" if timed else "shuffled cross-validated ROC AUC")
    if note:
        metrics["validation_note"] = note
    if timed:
        result = timed[best]
        metrics["time_aware"] = {"kind": kind, "roc_auc": result["roc_auc"], "periods": timing.period_calibration(
            y, apply_calibrator(calibrator, result["raw"]), result)}
    fitted = Fitted(final, calibrator, [(c.name, c.kind) for c in columns], categories, np.sort(oof), best, oof)
    return fitted, metrics


def _fit_predict(matrix: np.ndarray, y: np.ndarray, algorithm: str, kinds: list[str]):
    def run(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        return make_estimator(algorithm, kinds).fit(matrix[train], y[train]).predict_proba(matrix[test])[:, 1]
    return run


def single_feature_auc(column: Column, y: np.ndarray, folds: int = 5) -> float:
    """Out-of-fold AUC of one indicator alone (binned target rate): how much of the goal it gives away."""
    from crm_app.models.indicators import bin_labels
    labels = np.array(bin_labels(column), dtype=object)
    oof = np.zeros(len(y))
    folds = max(2, min(folds, int(y.sum()), int(len(y) - y.sum())))
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=1).split(labels, y):
        rates: dict = {}
        for label, target in zip(labels[train], y[train]):
            hit = rates.setdefault(label, [0, 0])
            hit[0] += target
            hit[1] += 1
        prior = float(y[train].mean())
        oof[test] = [(rates[lb][0] + prior) / (rates[lb][1] + 1) if lb in rates else prior for lb in labels[test]]
    auc = float(roc_auc_score(y, oof))
    return max(auc, 1 - auc)
