"""Documentation is part of the feature: every operator, command and setting appears in the README or docs/."""
from __future__ import annotations

import re

import pytest

from crm_app.cli import build_parser
from crm_app.config import SETTINGS
from crm_app.specs.operators import COMBINATORS, COMPARISONS, EVENT_MEASURES, FIELD_OPERATORS, SUBJECTS
from tests.conftest import ROOT

README_ONLY = (ROOT / "README.md").read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))
README = "\n".join([README_ONLY, *(doc.read_text() for doc in DOCS)])


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("operator", sorted(FIELD_OPERATORS))
def test_every_field_operator_has_a_documented_example(operator):
    assert re.search(rf"\|\s*`{operator}`\s*\|\s*`\{{field: [^`]*\b{operator}:", README), operator


@pytest.mark.parametrize("measure", sorted(EVENT_MEASURES))
def test_every_event_measure_has_a_documented_example(measure):
    assert re.search(rf"\|\s*`{measure}`\s*\|\s*`\{{event: [^`]*\b{measure}:", README), measure


@pytest.mark.parametrize("word", sorted(set(COMPARISONS) | set(COMBINATORS) | set(SUBJECTS)))
def test_every_comparison_combinator_and_subject_is_documented(word):
    assert f"`{word}`" in README or f"{word}:" in README


@pytest.mark.parametrize("command", commands())
def test_every_command_is_documented(command):
    assert re.search(rf"\|\s*`{command}\b", README), command


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_every_setting_is_documented(setting):
    assert re.search(rf"\|\s*`{setting}`\s*\|", README), setting


def test_readme_opens_with_the_demo_and_test_commands():
    first_block = README_ONLY.split("```bash", 1)[1].split("```", 1)[0]
    assert "python -m crm_app demo" in first_block and "pytest" in first_block


def test_engine_and_spec_registries_agree():
    from crm_app.engine.operators import COMPARE, OPERATORS
    assert set(OPERATORS) == set(FIELD_OPERATORS)
    assert set(COMPARE) == set(COMPARISONS)
