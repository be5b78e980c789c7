"""The stored form of a fitted model: a skops file that loads only the types our training produces.

pickle runs whatever code a file names, so a row written by anyone with database access (or a restored
backup from elsewhere) could take over every scoring process. skops rebuilds scikit-learn objects from a
declared schema instead and refuses any type it is not told to trust; the list below is exactly what
`models.train` fits, nothing else, so a foreign or tampered artifact is refused before anything in it runs.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from crm_app.models.train import Fitted

FORMAT = 1
# Types outside skops' default trust that our own estimators contain (checked against every kind we fit).
TRUSTED = frozenset({
    "crm_app.models.train._signed_log",  # the logistic pipeline's FunctionTransformer
    "numpy.dtype",
    "functools.partial",  # with check_array: gradient boosting's input validation
    "sklearn.utils.validation.check_array",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})
KEYS = ("format", "estimator", "calibrator", "columns", "categories", "reference", "algorithm", "inputs",
        "baseline", "reason_columns")


class ArtifactRefused(Exception):
    """A stored model that will not be loaded: not ours, tampered with, or from an older format."""


def dump(fitted: Fitted) -> bytes:
    """The fitted model as skops bytes (the out-of-fold training predictions are not kept)."""
    sio = _skops()
    return sio.dumps({
        "format": FORMAT, "estimator": fitted.estimator, "calibrator": fitted.calibrator,
        "columns": [[name, kind] for name, kind in fitted.columns],
        "categories": {k: list(v) for k, v in fitted.categories.items()}, "reference": fitted.reference,
        "algorithm": fitted.algorithm, "inputs": dict(fitted.inputs),
        "baseline": fitted.baseline if fitted.baseline is not None else np.zeros(0),
        "reason_columns": list(fitted.reason_columns)})


def load(blob: bytes | None) -> Fitted:
    """A Fitted from stored bytes, or ArtifactRefused saying why (nothing foreign is ever instantiated)."""
    if not blob:
        raise ArtifactRefused("no fitted model is stored for this version")
    if not bytes(blob[:2]) == b"PK":
        raise ArtifactRefused("the stored model is not a skops file (an older pickled version?); retrain it")
    sio = _skops()
    try:
        untrusted = set(sio.get_untrusted_types(data=bytes(blob)))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is refused the same way
        raise ArtifactRefused(f"the stored model cannot be read: {type(exc).__name__}: {exc}") from None
    foreign = sorted(untrusted - TRUSTED)
    if foreign:
        raise ArtifactRefused(f"the stored model contains types this project never writes: {', '.join(foreign)}")
    try:
        doc = sio.loads(bytes(blob), trusted=sorted(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise ArtifactRefused(f"the stored model cannot be loaded: {type(exc).__name__}: {exc}") from None
    return _fitted(doc)


def _skops():
    # Imported on first use: skops enumerates scikit-learn's types when imported (over a second of CPU), which
    # every process that imports scoring would otherwise pay at start-up, models or not.
    import skops.io

    return skops.io


def _fitted(doc) -> Fitted:
    if not isinstance(doc, dict) or set(doc) != set(KEYS) or doc["format"] != FORMAT:
        raise ArtifactRefused("the stored model does not have the layout this version writes; retrain it")
    if not isinstance(doc["estimator"], (Pipeline, HistGradientBoostingClassifier)) \
            or not isinstance(doc["calibrator"], (LogisticRegression, IsotonicRegression)):
        raise ArtifactRefused("the stored model is not one of the estimators this project trains")
    baseline = np.asarray(doc["baseline"], dtype=float)
    columns = [(str(name), str(kind)) for name, kind in doc["columns"]]
    reasons = [int(j) for j in doc["reason_columns"] if 0 <= int(j) < len(columns)]
    return Fitted(doc["estimator"], doc["calibrator"], columns, dict(doc["categories"]),
                  np.asarray(doc["reference"], dtype=float), str(doc["algorithm"]), None, dict(doc["inputs"]),
                  baseline if len(baseline) == len(columns) else None, reasons)
