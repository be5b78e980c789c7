"""Backtest on generated history with a planted signal: the reported lift and bucket rates must recover it.

Tolerance: each rate is compared with its exact expected value (history_gen.expected_rates) within three
standard errors. The same person appears at several as-of dates, so samples are not independent; the
standard error uses n / dates as the effective sample size, the worst case where a person's repeated
samples carry no new information. Three such errors keep a false failure below about 0.3%.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from crm_app.cli import main
from crm_app.models import backtest as figures
from crm_app.services.lifecycle.backtest import run
from crm_app.specs.loader import SpecDirs, load_spec_set
from crm_app.store import Store
from tests.history_gen import DAY, START, expected_rates, generate

RULES = """
model: planted
stage: conversion
behaviour:
  - {id: invited, label: Sent an invite, points: 80, when: {event: Invite Sent, count: {at_least: 1}}}
  - {id: logged_in, label: Logged in this week, points: 30, when: {event: Logged In, within: 7d, count: {at_least: 1}}}
pql: {threshold: 75}
"""
EDITED = RULES.replace("points: 80", "points: 20").replace("points: 30", "points: 80")
GOAL = "model: upgraded\nstage: conversion\ngoal: {event: Upgrade Completed, count: {at_least: 1}}\n"


def _write(root: Path, rules: str) -> SpecDirs:
    for sub in ("rules", "lifecycle"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "rules" / "planted.yaml").write_text(rules)
    (root / "lifecycle" / "upgraded.yaml").write_text(GOAL)
    return SpecDirs.under(root)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    events, people = generate(root)
    url = f"sqlite:///{root / 'store.db'}"
    import os
    env = dict(os.environ)
    os.environ.update(DATABASE_URL=url, SPECS_ROOT=str(root))
    try:
        assert main(["import", "people", str(people), "--quiet"]) == 0
        assert main(["import", "events", str(events), "--quiet"]) == 0
    finally:
        os.environ.clear()
        os.environ.update(env)
    return root, Store(url)


def _tolerance(rate: float, n: int, dates: int) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / max(1, n / dates))


def test_backtest_recovers_planted_lift_and_buckets(history):
    root, store = history
    specs = load_spec_set(_write(root / "live", RULES))
    out = run(store, [specs.rules.model("planted")], specs.lifecycle[0], START + 30 * DAY, START + 84 * DAY,
              30 * DAY, 7 * DAY, reps=2, target_lift=3.0)
    r = out["results"]["planted"]
    p_inv, p_not = expected_rates(30)
    t, dates = r["threshold"], r["dates"]
    assert abs(t["pql_conversion"] - p_inv) <= _tolerance(p_inv, t["pqls"], dates)
    assert abs(t["non_pql_conversion"] - p_not) <= _tolerance(p_not, t["non_pqls"], dates)
    true_lift = p_inv / p_not
    low = (p_inv - _tolerance(p_inv, t["pqls"], dates)) / (p_not + _tolerance(p_not, t["non_pqls"], dates))
    high = (p_inv + _tolerance(p_inv, t["pqls"], dates)) / (p_not - _tolerance(p_not, t["non_pqls"], dates))
    assert low <= t["lift"] <= high and low <= true_lift <= high
    buckets = {b["bucket"]: b for b in r["buckets"]}
    # Logins are noise: 0-25 (no login) and 26-50 (login only) both convert like the not-invited.
    for name in ("0-25", "26-50"):
        assert abs(buckets[name]["conversion"] - p_not) <= _tolerance(p_not, buckets[name]["subjects"], dates)
    assert abs(buckets["76-100"]["conversion"] - p_inv) <= _tolerance(p_inv, buckets["76-100"]["subjects"], dates)
    assert buckets["51-75"]["subjects"] == 0
    assert r["suggestion"]["lift"] >= 3.0 and r["suggestion"]["threshold"] <= 75
    assert t["pqls_per_rep_per_week"] > 0
    assert 0 < t["recall"] < 1 and t["precision"] == t["pql_conversion"]


def test_compare_live_and_edited_rules_on_the_same_history(history):
    root, store = history
    live = load_spec_set(_write(root / "live", RULES))
    edited = load_spec_set(_write(root / "edited", EDITED))
    out = run(store, [live.rules.model("planted"), edited.rules.model("planted")], live.lifecycle[0],
              START + 30 * DAY, START + 58 * DAY, 30 * DAY, 7 * DAY, save=False)
    live_r, edited_r = out["results"]["live"], out["results"]["edited"]
    assert live_r["samples"] == edited_r["samples"]
    assert live_r["threshold"]["lift"] > 3
    # The edit makes a login-only PQL: logins carry no signal, so its PQLs convert like everyone else.
    assert 0.5 < edited_r["threshold"]["lift"] < 1.6


def test_backtest_command_prints_and_stores(history, monkeypatch, capsys):
    root, store = history
    _write(root / "cli", RULES)
    monkeypatch.setenv("DATABASE_URL", store.url)
    monkeypatch.setenv("SPECS_ROOT", str(root / "cli"))
    assert main(["backtest", "--from", "2023-12-15", "--to", "2024-01-12", "--window", "30d", "--quiet",
                 "--reps", "3", "--target-volume", "5"]) == 0
    text = capsys.readouterr().out
    assert "threshold 75: PQLs convert" in text and "suggested threshold" in text and "score 76-100" in text
    assert main(["monitor"]) in (0, 1)
    assert "pql_lift" in capsys.readouterr().out
    assert main(["health"]) in (0, 1)  # the deprecated alias runs the same checks and says so
    alias = capsys.readouterr()
    assert "pql_lift" in alias.out and "`health` is deprecated" in alias.err and "use `monitor`" in alias.err


@pytest.mark.parametrize("scores,converted,threshold,expect_lift", [
    ([10, 20, 80, 90], [False, False, True, False], 75, None),  # non-PQL rate 0: no finite lift
    ([10, 20, 80, 90], [True, False, True, True], 75, 2.0),
    ([80, 90, 95, 99], [True, False, True, True], 75, None),  # no non-PQLs
])
def test_threshold_stats_table(scores, converted, threshold, expect_lift):
    s = figures.Samples(np.arange(len(scores)), np.zeros(len(scores)), np.array(scores, dtype=float),
                        np.array(converted))
    stats = figures.threshold_stats(s, threshold, 1, 7 * DAY)
    assert stats["lift"] == expect_lift
    assert stats["pqls"] == sum(x >= threshold for x in scores)


@pytest.mark.parametrize("rows,threshold,volume", [
    # (subject, date index, score): subject 1 is a PQL from the first date (warm-up), 2 crosses later, 3 never
    ([(1, 0, 80), (1, 1, 90), (2, 0, 10), (2, 1, 80), (3, 0, 10), (3, 1, 20)], 75, 1),
    ([(1, 0, 80), (2, 1, 76), (2, 2, 90), (3, 2, 99)], 75, 2),  # 2 appears after the first date
    ([(1, 0, 80), (1, 1, 10), (1, 2, 80)], 75, 0),  # dropping out and back in is not new
])
def test_the_tally_counts_new_pqls_and_subjects_as_the_samples_do(rows, threshold, volume):
    subject, when, score = (np.array(c) for c in zip(*rows))
    s = figures.Samples(subject, when * 7 * DAY, score.astype(float), score > 50)
    t = figures.tally(s)
    weeks = (len(set(when.tolist())) - 1)
    assert figures.weekly_volume(t, threshold, 1, 7 * DAY) == round(volume / weeks, 3)
    assert t.subjects == len(set(subject.tolist())) and t.dates == len(set(when.tolist()))
    assert figures.report(s, threshold, 1, 7 * DAY) == figures.report(t, threshold, 1, 7 * DAY)
