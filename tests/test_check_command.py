"""`check`: every error of a file set, as file:line: key: message (did you mean ...?); golden invalid files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crm_app.specs.loader import SpecDirs, check_spec_set

GOLDEN = Path(__file__).parent / "golden" / "invalid"
ROOT = Path(__file__).resolve().parent.parent


def spec_tree(tmp_path: Path, rule_files: list[Path]) -> SpecDirs:
    for name in ("rules", "field_specs", "playbooks"):
        (tmp_path / name).mkdir()
    shutil.copy(ROOT / "rules" / "lists.yaml", tmp_path / "rules" / "lists.yaml")
    for path in rule_files:
        shutil.copy(path, tmp_path / "rules" / path.name)
    return SpecDirs.under(tmp_path)


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_golden_invalid_file(golden, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    errors = check_spec_set(spec_tree(tmp_path, [golden]))
    expected = golden.with_suffix(".expected").read_text().splitlines()
    assert [str(e) for e in errors] == expected


def test_every_error_of_every_file_is_reported_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = sorted(GOLDEN.glob("*.yaml"))
    errors = check_spec_set(spec_tree(tmp_path, files))
    expected = sorted(line for f in files for line in f.with_suffix(".expected").read_text().splitlines())
    assert sorted(str(e) for e in errors) == expected


def test_check_command_passes_on_the_shipped_files(runner):
    code, out, err = runner("check")
    assert code == 0, err
    assert out.startswith("OK: ")


def test_check_command_fails_and_prints_each_error(runner, tmp_path, monkeypatch):
    spec_tree(tmp_path, [GOLDEN / "bad_values.yaml", GOLDEN / "unknown_key.yaml"])
    monkeypatch.setenv("SPECS_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code, out, err = runner("check")
    assert code == 1
    assert sorted(out.splitlines()) == sorted(
        (GOLDEN / "bad_values.expected").read_text().splitlines()
        + (GOLDEN / "unknown_key.expected").read_text().splitlines())
    assert "nothing was applied" in err


def test_an_invalid_set_is_never_applied(runner, tmp_path, monkeypatch):
    spec_tree(tmp_path, [GOLDEN / "unknown_key.yaml"])
    monkeypatch.setenv("SPECS_ROOT", str(tmp_path))
    code, _, err = runner("score")
    assert code == 2
    assert "unknown key 'pionts'" in err


def test_two_valid_files_defining_one_model_clash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dirs = spec_tree(tmp_path, [ROOT / "rules" / "conversion.yaml"])
    shutil.copy(ROOT / "rules" / "conversion.yaml", tmp_path / "rules" / "copy.yaml")
    assert [str(e) for e in check_spec_set(dirs)] == [
        "rules/copy.yaml:1: model: model 'conversion' is already defined in rules/conversion.yaml; rename one of them"]
