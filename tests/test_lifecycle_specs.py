"""Lifecycle model files: parsed into typed objects; every mistake named with file:line, key and fix."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crm_app.specs.loader import SpecDirs, check_spec_set, load_spec_set

REPO = Path(__file__).resolve().parents[1]


def _dirs(tmp: Path, text: str) -> SpecDirs:
    (tmp / "rules").mkdir()
    (tmp / "lifecycle").mkdir()
    for name in ("conversion.yaml", "lists.yaml"):
        shutil.copy(REPO / "rules" / name, tmp / "rules")
    (tmp / "lifecycle" / "m.yaml").write_text(text)
    return SpecDirs.under(tmp)


def test_shipped_examples_are_valid(tmp_path):
    (tmp_path / "rules").mkdir()
    shutil.copytree(REPO / "examples" / "lifecycle", tmp_path / "lifecycle")
    for name in ("conversion.yaml", "lists.yaml"):
        shutil.copy(REPO / "rules" / name, tmp_path / "rules")
    specs = load_spec_set(SpecDirs.under(tmp_path))
    models = {m.name: m for m in specs.lifecycle}
    assert models["lead_conversion"].goal_fields() == ("converted",)
    assert "lead_quality" in models["lead_conversion"].exclude
    assert models["sparkify_churn"].goal_events() == ("cancellation confirmation",)
    assert models["sparkify_upgrade"].horizon == 30 * 86400


def test_a_full_definition(tmp_path):
    specs = load_spec_set(_dirs(tmp_path, """
model: expansion_upsell
stage: expansion
subject: account
goal: {field: plan, in: [Business, Premium, Enterprise]}
filter: {field: arr, more_than: 500}
exclude: [Lead Quality, events.invite_sent]
windows: [7d, 48h]
algorithm: logistic
"""))
    m = specs.lifecycle[0]
    assert (m.stage, m.subject, m.algorithm) == ("expansion", "account", "logistic")
    assert m.exclude == ("lead_quality", "events.invite_sent")
    assert m.windows == (48 * 3600, 7 * 86400)


@pytest.mark.parametrize("text,expected", [
    ("model: m\nstage: convertion\ngoal: {field: arr, more_than: 0}\n",
     "lifecycle/m.yaml:2: stage: 'convertion' is not one of: conversion, onboarding, expansion, retention "
     "(did you mean 'conversion'?)"),
    ("model: m\nstage: retention\ngoal: {field: arr, more_than: 0}\nexclud: [x]\n",
     "lifecycle/m.yaml:4: exclud: unknown key 'exclud'"),
    ("model: m\nstage: retention\n", "lifecycle/m.yaml:1: goal: required key 'goal' is missing"),
    ("model: m\nstage: retention\ngoal: {feild: arr, more_than: 0}\n", "lifecycle/m.yaml:3: goal: a condition needs"),
    ("model: conversion\nstage: retention\ngoal: {field: arr, more_than: 0}\n",
     "model 'conversion' is already defined in rules/"),
    ("model: m\nstage: retention\ngoal: {event: Logged In, within: 90d, count: {equals: 0}}\nhorizon: 0\n",
     "'horizon' must be longer than zero"),
])
def test_errors_name_file_line_key_and_fix(tmp_path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    errors = [str(e) for e in check_spec_set(_dirs(tmp_path, text))]
    assert any(expected in e for e in errors), errors
