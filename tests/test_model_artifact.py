"""The stored model format: every kind we train survives the round trip; anything else is refused unread."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import skops.io as sio

from crm_app.models import artifact
from crm_app.models.dataset import Column, to_matrix
from crm_app.models.propensity import prepare_reasons
from crm_app.models.train import fit

KINDS = [(a, c) for a in ("logistic", "gradient_boosting") for c in ("sigmoid", "isotonic")]


def columns_and_labels(n: int = 300):
    rng = np.random.default_rng(3)
    a, c = rng.normal(size=n), rng.choice(["x", "y", "z"], n)
    b = np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n))
    y = (a + (c == "x") + rng.normal(size=n) > 0.5).astype(int)
    return [Column("a", "numeric", tuple(a.tolist()), "field"),
            Column("b", "numeric", tuple(None if np.isnan(v) else v for v in b), "field"),
            Column("c", "categorical", tuple(c.tolist()), "field")], y


@pytest.fixture(scope="module", params=KINDS, ids=lambda k: "-".join(k))
def fitted(request):
    cols, y = columns_and_labels()
    model, _ = fit(cols, y, *request.param, folds=3)
    model.inputs = {"events": ["login"], "windows": [604800], "metrics": []}
    prepare_reasons(model, cols)
    return model, cols


def test_every_kind_we_train_round_trips_with_identical_predictions(fitted):
    model, cols = fitted
    loaded = artifact.load(artifact.dump(model))
    matrix, _ = to_matrix(cols, model.categories)
    assert np.array_equal(loaded.predict(matrix), model.predict(matrix))
    assert np.array_equal(loaded.reference, model.reference)
    assert loaded.columns == model.columns and loaded.inputs == model.inputs
    assert loaded.reason_columns == model.reason_columns and np.array_equal(loaded.baseline, model.baseline,
                                                                            equal_nan=True)


def test_the_trusted_types_are_exactly_what_our_models_contain():
    cols, y = columns_and_labels()
    needed = set()
    for kind in KINDS:
        model, _ = fit(cols, y, *kind, folds=3)
        needed |= set(sio.get_untrusted_types(data=artifact.dump(model)))
    assert needed == artifact.TRUSTED


class Foreign:
    """A type this project never writes into a model."""

    def __init__(self):
        self.payload = "x"


def _exploit(marker):
    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    return pickle.dumps(Exploit())


@pytest.mark.parametrize("make, message", [
    (lambda fitted, marker: _exploit(marker), "not a skops file"),
    (lambda fitted, marker: pickle.dumps(fitted), "not a skops file"),
    (lambda fitted, marker: sio.dumps({"estimator": Foreign()}), "types this project never writes"),
    (lambda fitted, marker: artifact.dump(fitted)[:400], "cannot be read"),
    (lambda fitted, marker: sio.dumps({"format": 1, "estimator": "x"}), "layout this version writes"),
    (lambda fitted, marker: b"", "no fitted model"),
    (lambda fitted, marker: None, "no fitted model"),
], ids=["pickle-exploit", "pickled-model", "foreign-type", "truncated", "wrong-layout", "empty", "none"])
def test_a_foreign_or_tampered_artifact_is_refused_before_anything_runs(fitted, tmp_path, make, message):
    marker = tmp_path / "owned"
    blob = make(fitted[0], marker)
    with pytest.raises(artifact.ArtifactRefused, match=message):
        artifact.load(blob)
    assert not marker.exists()


def test_a_trusted_file_holding_another_estimator_is_refused(fitted):
    """skops trusts every scikit-learn estimator by default; only the ones we train may score."""
    from sklearn.dummy import DummyClassifier
    cols, y = columns_and_labels()
    model = fitted[0]
    other = DummyClassifier(strategy="constant", constant=1).fit(to_matrix(cols, model.categories)[0], y)
    model_copy = type(model)(**{**model.__dict__, "estimator": other})
    with pytest.raises(artifact.ArtifactRefused, match="not one of the estimators"):
        artifact.load(artifact.dump(model_copy))
