"""Playbook templates are compiled by `check`: syntax, unknown filters and tests, and variables or keys that the
alert context can never hold are errors at file:line with the fix; whatever passes renders for a real person."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from jinja2 import TemplateError

from crm_app.services.playbooks.messaging import build_context, render
from crm_app.specs.routing import Routing
from crm_app.specs.templates.compiler import VARIABLES, template_problems
from tests.playbook_support import REASONS, spec_errors

RECORD = {"name": "Ada Lovelace", "email": "ada@corp.com", "account.name": "Corp", "title": "CTO"}
ROW = {"subject_id": 7, "model": "conversion", "combined": 88, "fit": 60, "behaviour": 70, "band": "high",
       "pql": True, "reasons": REASONS}


def context() -> dict:
    return build_context(RECORD, ROW, Routing(), "rep@corp.com", "new_pql", crm=("Lead", "00Q1"))


def task_with(subject: str) -> str:
    quoted = subject.replace("'", "''")
    return f"playbook: x\ntrigger: {{type: became_pql}}\nactions:\n  - {{type: create_task, subject: '{quoted}'}}\n"


BAD = [  # (template, error at pb0.yaml:4, did-you-mean)
    ("Hi {{ name|uper }}", "actions[0].subject: unknown filter 'uper'; use a Jinja built-in filter", "upper"),
    ("{% if company %}{{ company|titel }}{% endif %}", "actions[0].subject: unknown filter 'titel'", "title"),
    ("{% if name is emty %}x{% endif %}", "actions[0].subject: unknown test 'emty'", None),
    ("Hi {{ nme }}", "actions[0].subject: 'nme' is not a template variable; use one of: playbook,", "name"),
    ("{{ score.cmbined }}", "actions[0].subject: 'score' has no 'cmbined'; use one of: band, behaviour, combined",
     "combined"),
    ("{{ owner['mail'] }}", "actions[0].subject: 'owner' has no 'mail'; use one of: email, name", "email"),
    ("{{ company.tier }}", "actions[0].subject: 'company' is text, with no 'tier'; write {{ company }}", None),
    ("{{ reasons['first'] }}", "actions[0].subject: 'reasons' is a list, with no 'first'", None),
    ("Hi {{ name ", "actions[0].subject: template error", None),
    ("{% for r in reasons %}{{ r }}", "actions[0].subject: template error", None),
    ("{% block a %}{% endblock %}{% block a %}{% endblock %}", "actions[0].subject: template error: block 'a'", None),
]


@pytest.mark.parametrize("template,expected,suggestion", BAD, ids=[b[0] for b in BAD])
def test_check_reports_a_template_that_cannot_render_at_file_line_with_the_fix(template, expected, suggestion):
    errors = spec_errors(task_with(template))
    assert any(e.startswith(f"pb0.yaml:4: {expected}") for e in errors), errors
    if suggestion:
        assert any(f"did you mean {suggestion!r}" in e for e in errors), errors
    with pytest.raises(TemplateError):
        render(template, context())


GOOD = ["Hi {{ name|upper }}{% if company %} ({{ company }}){% endif %}",
        "{{ score.combined }} / {{ score['band'] }} by {{ owner.name|default('nobody') }}",
        "{% for r in reasons %}{{ loop.index }}. {{ r }}{% endfor %}",
        "{% set first = signals[0] if signals else 'none' %}{{ first }}",
        "{% for label, value in firmographics %}{{ label }}={{ value }} {% endfor %}{{ crm.url }}",
        "{{ guidance.tier }}: {{ guidance.advice }} {{ owner.items()|list|length }}"]


@pytest.mark.parametrize("template", GOOD)
def test_a_template_that_passes_check_renders_for_a_real_person(template):
    assert spec_errors(task_with(template)) == []
    assert render(template, context())


def test_a_line_inside_a_multi_line_template_is_named():
    text = "playbook: x\ntrigger: {type: became_pql}\nactions:\n  - type: create_task\n    subject: |\n" \
           "      Hello {{ name }}\n      {{ company|nope }}\n"
    errors = spec_errors(text)
    assert any(e.startswith("pb0.yaml:5: actions[0].subject: unknown filter 'nope'") and "(line 2 of the template)"
               in e for e in errors), errors


def test_the_checked_variables_are_exactly_what_the_alert_context_holds():
    ctx = context()
    assert set(ctx) == set(VARIABLES)
    for name, keys in VARIABLES.items():
        if isinstance(keys, frozenset):
            assert set(ctx[name]) == keys, name
        else:
            assert isinstance(ctx[name], keys), name


NAMES = sorted(VARIABLES) + ["nme", "owner_email", "scores", "loop"]
KEYS = sorted({k for keys in VARIABLES.values() if isinstance(keys, frozenset) for k in keys}) + [
    "cmbined", "mail", "uid", "upper", "count", "real"]
FILTERS = ["upper", "lower", "title", "length", "string", "uper", "lenght", "escape_html"]


@st.composite
def templates(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        expr = draw(st.sampled_from(NAMES))
        if draw(st.booleans()):
            expr += "." + draw(st.sampled_from(KEYS))
        if draw(st.booleans()):
            expr = f"({expr} or '')|string|" + draw(st.sampled_from(FILTERS))
        parts.append("{{ " + expr + " }}")
    return " ".join(parts)


@settings(max_examples=150, deadline=None)
@given(templates())
def test_check_accepts_a_template_exactly_when_it_renders(template):
    try:
        render(template, context())
        renders = True
    except TemplateError:
        renders = False
    assert (template_problems(template) == []) == renders, template
