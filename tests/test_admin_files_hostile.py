"""Hostile admin files: `check` never raises, every error names file:line, and alias bombs are refused fast."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_app.specs.loader import SpecDirs, check_spec_set
from crm_app.specs.yamlsource import MAX_DEPTH

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "rules" / "conversion.yaml"
MODEL_HEAD = "model: zz\nlabel: Z\nstage: conversion\nsubject: person\n"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    text = "lists:\n  l0: &l0 [" + ", ".join(['"x"'] * width) + "]\n"
    for level in range(1, levels):
        text += f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]\n"
    return text


def seconds_to_check(dirs: SpecDirs) -> float:
    started = time.perf_counter()
    check_spec_set(dirs)
    return time.perf_counter() - started


def spec_dirs(tmp_path: Path, files: dict[str, str]) -> SpecDirs:
    for folder in ("rules", "field_specs", "playbooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder, dirs_exist_ok=True)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return SpecDirs.under(tmp_path)


HOSTILE = {
    "non-finite points": (MODEL_HEAD + "fit:\n  - id: a\n    when: {field: {x: {at_least: 1}}}\n    points: .inf\n",
                          "not a finite number"),
    "NaN threshold": (MODEL_HEAD + "pql: {threshold: .nan}\n", "not a finite number"),
    "deep nesting": (MODEL_HEAD + "lists:\n  deep: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    "nesting past the depth limit": (MODEL_HEAD + "lists:\n  deep: " + "[" * (MAX_DEPTH + 2)
                                     + "]" * (MAX_DEPTH + 2) + "\n", "nested more than"),
    "python tag": ("model: !!python/name:os.system zz\n", "could not determine a constructor"),
    "custom tag": (MODEL_HEAD.replace("label: Z", "label: !secret x"), "could not determine a constructor"),
    "alias bomb": (MODEL_HEAD + alias_bomb(), "aliases expand"),
    "binary value": (MODEL_HEAD.replace("label: Z", "label: !!binary aGVsbG8="), "label"),
    "timestamp label": (MODEL_HEAD.replace("label: Z", "label: 2001-12-14"), "label"),
    "not a mapping": ("- just\n- a list\n", ""),
    "bad syntax": (MODEL_HEAD + "fit: [\n", "YAML syntax error"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_rule_file_is_an_error_with_file_and_line(case, tmp_path):
    text, expected = HOSTILE[case]
    baseline = seconds_to_check(spec_dirs(tmp_path / "clean", {}))
    dirs = spec_dirs(tmp_path, {"rules/zz.yaml": text})
    started = time.perf_counter()
    errors = check_spec_set(dirs)
    assert time.perf_counter() - started < baseline + 1.0  # the hostile file itself costs under a second
    mine = [e for e in errors if e.file.endswith("zz.yaml")]
    assert mine, f"{case}: no error reported"
    assert all(e.line >= 1 for e in errors)
    assert any(expected in e.message or expected in e.key for e in mine), [str(e) for e in mine]


def test_a_small_alias_chain_that_stays_in_budget_is_fine(tmp_path):
    dirs = spec_dirs(tmp_path, {"rules/zz_lists.yaml": alias_bomb(levels=3, width=3)})
    assert check_spec_set(dirs) == []


@pytest.mark.parametrize("folder", ["rules", "field_specs", "playbooks"])
def test_an_alias_bomb_costs_no_time_in_any_folder(folder, tmp_path):
    baseline = seconds_to_check(spec_dirs(tmp_path / "clean", {}))
    dirs = spec_dirs(tmp_path, {f"{folder}/zz.yaml": alias_bomb()})
    started = time.perf_counter()
    errors = check_spec_set(dirs)
    assert time.perf_counter() - started < baseline + 1.0
    assert any("aliases expand" in e.message for e in errors)


MUTATIONS = st.sampled_from(["delete", "duplicate", "indent", "dedent", "value", "truncate"])
VALUES = st.sampled_from(["", "~", ".nan", "-.inf", "[]", "{}", "*x", "&x", "!!str", "1e400", "'", "\"", "- a",
                          "{a: [b, {c: d}]}", "99999999999999999999999999", "\t", "%YAML 1.1", "---", "? a"])


def mutate(text: str, kind: str, at: int, value: str) -> str:
    lines = text.splitlines()
    i = at % len(lines)
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "indent":
        lines[i] = "  " + lines[i]
    elif kind == "dedent":
        lines[i] = lines[i].lstrip()
    elif kind == "value":
        head = lines[i].split(":", 1)[0] if ":" in lines[i] else lines[i]
        lines[i] = f"{head}: {value}"
    else:
        lines = lines[:i]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(MUTATIONS, st.integers(0, 10_000), VALUES), min_size=1, max_size=3))
def test_mutated_shipped_rules_never_raise_and_every_error_has_a_line(steps, tmp_path):
    text = SHIPPED.read_text()
    for kind, at, value in steps:
        text = mutate(text, kind, at, value)
    dirs = spec_dirs(tmp_path, {"rules/conversion.yaml": text})
    errors = check_spec_set(dirs)  # must not raise
    assert all(e.file and e.line >= 1 for e in errors), [str(e) for e in errors]
