"""Time-aware validation: out-of-time and rolling-origin splits, model choice by the later period, a training
window, and the report's per-period metrics and calibration."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from crm_app.models import validation as timing
from crm_app.models.dataset import Column, to_matrix
from crm_app.models.train import fit
from crm_app.services.lifecycle.report import format_report
from crm_app.services.lifecycle.training import train
from tests.helpers import AS_OF, DAY
from tests.test_propensity_scoring import lifecycle_spec

DRIFT_AT = 50.0


def drifting_history(n: int, seed: int, start: float = 0.0, end: float = 100.0):
    """Before DRIFT_AT the outcome is an interaction (x1 x x2: only trees see it); after, linear in x3."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(start, end, n))
    x1, x2, x3 = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    logit = np.where(t < DRIFT_AT, 3.0 * np.sign(x1 * x2), 0.9 * x3)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    cols = [Column(f"x{i}", "numeric", tuple(v.tolist()), "field") for i, v in enumerate((x1, x2, x3), 1)]
    return cols, y, t


@pytest.mark.parametrize("seed", [0, 1])
def test_out_of_time_picks_the_model_better_on_the_later_period_and_shuffled_cv_does_not(seed):
    cols, y, t = drifting_history(3000, seed)
    by_time, by_time_metrics = fit(cols, y, "auto", times=t, validation="out_of_time")
    shuffled, shuffled_metrics = fit(cols, y, "auto", times=t, validation="shuffled")
    assert by_time_metrics["validation"] == "out_of_time" and shuffled_metrics["validation"] == "shuffled"
    assert (by_time.algorithm, shuffled.algorithm) == ("logistic", "gradient_boosting")
    cands = by_time_metrics["candidates"]
    assert cands["gradient_boosting"]["roc_auc"] > cands["logistic"]["roc_auc"]  # shuffled CV prefers trees
    assert cands["logistic"]["time_aware_roc_auc"] > cands["gradient_boosting"]["time_aware_roc_auc"]
    # Judged on fresh subjects from the later period, the out-of-time choice is the better model.
    later_cols, later_y, _ = drifting_history(2000, seed + 100, start=100, end=150)
    later = to_matrix(later_cols, by_time.categories)[0]
    assert roc_auc_score(later_y, by_time.predict(later)) > roc_auc_score(later_y, shuffled.predict(later)) + 0.05


def test_auto_validation_is_out_of_time_when_subjects_have_times_and_shuffled_when_not():
    cols, y, t = drifting_history(600, 3)
    assert fit(cols, y, "logistic", times=t)[1]["validation"] == "out_of_time"
    _, metrics = fit(cols, y, "logistic", times=np.full(len(y), 5.0), validation="rolling")
    assert metrics["validation"] == "shuffled" and "validation: rolling was asked" in metrics["validation_note"]
    assert fit(cols, y, "logistic")[1]["validation"] == "shuffled"


def test_rolling_origin_reports_each_period_with_its_calibration():
    cols, y, t = drifting_history(1500, 4)
    _, metrics = fit(cols, y, "auto", folds=4, times=t, validation="rolling")
    periods = metrics["time_aware"]["periods"]
    assert len(periods) == 4 and [p["from"] for p in periods] == sorted(p["from"] for p in periods)
    assert all(p["trained_on"] < q["trained_on"] for p, q in zip(periods, periods[1:]))
    for p in periods:
        assert 0 <= p["predicted"] <= 1 and 0 <= p["observed"] <= 1 and p["brier"] >= 0
    # Early periods (before the drift) are learnable; the trend is visible, not averaged away.
    assert periods[0]["roc_auc"] > periods[-1]["roc_auc"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e9, allow_nan=False), min_size=60, max_size=300), st.sampled_from(timing.TIME_AWARE),
       st.integers(0, 2 ** 16))
def test_every_validated_subject_is_later_than_every_subject_its_model_learned_from(times, kind, seed):
    times = np.array(times)
    y = np.random.default_rng(seed).integers(0, 2, len(times))
    for period in timing.periods(kind, times, y, 0.25, 3):
        assert times[period.train].max() <= times[period.test].min()
        assert not set(period.train) & set(period.test)


def test_a_model_trains_on_one_window_and_reports_both_metrics(store):
    from tests.test_propensity_scoring import seed_history
    seed_history(store, n=400)
    from crm_app.store import schema
    from sqlalchemy import update
    with store.begin() as conn:  # sign-ups spread over 100 days
        conn.execute(update(schema.people).values(created_at=AS_OF - 100 * DAY + schema.people.c.id * 21600))
    report = train(store, lifecycle_spec(), AS_OF)
    assert report["metrics"]["validation"] == "out_of_time"
    text = format_report(report)
    assert "chosen by out_of_time ROC AUC" in text and "per period:" in text and "cross-validated" in text
    windowed = train(store, lifecycle_spec(), AS_OF, window=(AS_OF - 100 * DAY, AS_OF - 50 * DAY))
    assert 180 <= windowed["positives"] + windowed["negatives"] <= 220
    assert windowed["window"] == [AS_OF - 100 * DAY, AS_OF - 50 * DAY]


def test_the_validation_keys_are_checked_with_file_and_line():
    from tests.test_propensity_scoring import SPEC
    from crm_app.errors import ErrorCollector
    from crm_app.specs.lifecycle import parse_lifecycle
    from crm_app.specs.yamlsource import parse_yaml
    errors = ErrorCollector()
    text = SPEC + "validation: out_of_tme\nholdout: 0.9\n"
    parse_lifecycle(parse_yaml(text, "lifecycle/lead.yaml", errors), "lifecycle/lead.yaml", errors, {})
    found = "\n".join(str(e) for e in errors.sorted())
    assert "lifecycle/lead.yaml:" in found and "validation" in found and "out_of_time" in found
    assert "holdout" in found
