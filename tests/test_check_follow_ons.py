"""One mistake, one headline: `check` prints the error that caused others first and folds what follows from it
(a model, list or pool that a broken file failed to define) under it, counted past the first few. Golden files
hold the whole output of `check` for one mistake in a copy of the shipped admin files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crm_app.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "follow_ons"

# case -> (file, text replaced, replacement); the golden output is GOLDEN/<case>.expected
MISTAKES = {
    "typo_in_a_model_key": ("rules/conversion.yaml", "\npql:", "\npqll:"),
    "model_file_emptied": ("rules/conversion.yaml", None, "# rewritten later\n"),
    "model_renamed_by_a_bad_value": ("rules/upsell.yaml", "model: upsell", "model: Upsell"),
    "lists_file_unreadable": ("rules/lists.yaml", "lists:\n", "lists: [\n"),
    "routing_file_unreadable": ("playbooks/routing.yaml", "routing:\n", "routing: {\n"),
    "unrelated_error_stays_its_own": ("field_specs/conversion.yaml", "label: PQL Fit Score", "lable: PQL Fit Score"),
}


def run_check(root: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setenv("SPECS_ROOT", str(root))
    monkeypatch.chdir(root)
    code = main(["check"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", MISTAKES)
def test_check_prints_the_cause_first_with_what_follows_from_it_folded(case, tmp_path, monkeypatch, capsys):
    for name in ("rules", "field_specs", "playbooks", "mapping"):
        shutil.copytree(ROOT / name, tmp_path / name)
    relative, old, new = MISTAKES[case]
    path = tmp_path / relative
    text = path.read_text()
    assert old is None or old in text
    path.write_text(new if old is None else text.replace(old, new, 1))
    code, out, err = run_check(tmp_path, monkeypatch, capsys)
    assert code == 1
    assert out == (GOLDEN / f"{case}.expected").read_text()
    assert not out.splitlines()[0].startswith(" "), "the first line is a cause"
    assert "nothing was applied" in err


def test_an_error_in_its_own_right_is_never_folded(tmp_path, monkeypatch, capsys):
    for name in ("rules", "field_specs", "playbooks", "mapping"):
        shutil.copytree(ROOT / name, tmp_path / name)
    (tmp_path / "playbooks" / "new_pql.yaml").write_text(
        (ROOT / "playbooks" / "new_pql.yaml").read_text().replace("model: conversion", "model: conversoin"))
    code, out, _ = run_check(tmp_path, monkeypatch, capsys)
    assert out.splitlines() == ["playbooks/new_pql.yaml:4: model: no model named 'conversoin' "
                                "(did you mean 'conversion'?)"]


def test_the_dashboard_rule_preview_keeps_the_cause_first_and_the_rest_folded():
    from crm_app.services.admin import rule_files, versions
    files = versions.read_admin_files(ROOT)
    text = files["rules/conversion.yaml"].decode().replace("\npql:", "\npqll:", 1)
    checked = versions.validate_files(rule_files.with_file(files, "rules/conversion.yaml", text))
    errors = checked.errors
    assert checked.specs is None and errors[0].file == "rules/conversion.yaml" and errors[0].cause is None
    assert len(errors) == 13 and all(e.cause is not None for e in errors[1:])
