"""Maintenance checks (health) and indicator lift: table-driven on known inputs."""
from __future__ import annotations

import numpy as np
import pytest

from crm_app.models import monitoring_checks as checks_of
from crm_app.models.dataset import Column
from crm_app.models.indicators import breakdown, indicator
from crm_app.models.train import percentile_scores


@pytest.mark.parametrize("check,args,status", [
    (checks_of.check_lift, (1.5,), "flag"),
    (checks_of.check_lift, (3.2,), "ok"),
    (checks_of.check_lift, (None,), "unknown"),
    (checks_of.check_not_a_fit, (20, 6), "flag"),
    (checks_of.check_not_a_fit, (20, 5), "ok"),
    (checks_of.check_not_a_fit, (None, None), "unknown"),
    (checks_of.check_volume, (25.0,), "flag"),
    (checks_of.check_volume, (1.0,), "flag"),
    (checks_of.check_volume, (8.0,), "ok"),
    (checks_of.check_sync, (3,), "flag"),
    (checks_of.check_sync, (0,), "ok"),
    (checks_of.check_clustered, ("m", [10] * 6 + [90] * 4), "flag"),
    (checks_of.check_clustered, ("m", [10, 30, 60, 90] * 3), "ok"),
    (checks_of.check_drift, ("m", list(range(100)), list(range(100))), "ok"),
    (checks_of.check_drift, ("m", list(range(100)), [95] * 100), "flag"),
])
def test_checks(check, args, status):
    assert check(*args)["status"] == status


def test_breakdown_reports_shares_of_converted_and_not_converted():
    values = tuple([8.0] * 10 + [1.0] * 90 + [8.0] * 1 + [1.0] * 99)
    y = np.array([1] * 100 + [0] * 100)
    col = Column("users_count", "numeric", values, "field")
    rows = {r["value"]: r for r in breakdown(col, y)}
    assert rows["8"]["converted_share"] == 0.10 and rows["8"]["not_converted_share"] == 0.01
    ind = indicator(col, y)
    assert ind["label"] == "Strong" and ind["sign"] == "+" and ind["top_value"] == "8"
    assert "10% of converted, 1% of not converted" in ind["summary"]


def test_an_unrelated_field_is_no_indicator():
    rng = np.random.default_rng(0)
    col = Column("noise", "categorical", tuple(rng.choice(["a", "b"], 4000)), "field")
    assert indicator(col, rng.integers(0, 2, 4000))["label"] == "None"


def test_scores_are_percentiles_of_the_training_population():
    reference = np.sort(np.linspace(0.01, 0.99, 100))
    scores = percentile_scores(reference, np.array([0.0, 0.5, 0.99, 1.0]))
    assert list(scores) == [1, 50, 100, 100]
