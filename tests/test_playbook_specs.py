"""Playbook and routing files: the defaults load, and every mistake names file:line, the key and a fix."""
from __future__ import annotations

import pytest

from crm_app.specs.loader import SpecDirs, check_spec_set, load_spec_set
from tests.playbook_support import NEW_PQL, ROOT_DIR, playbook_set, routing_yaml, spec_errors


def test_default_playbooks_load_and_check_validates_them():
    specs = load_spec_set(SpecDirs.under(ROOT_DIR))
    names = [p.name for p in specs.playbooks.playbooks]
    assert names == ["health_risk", "new_pql", "score_drop", "several_ready_users", "upsell_candidate"]
    risk = specs.playbooks.get("health_risk")
    assert (risk.trigger.type, risk.trigger.segment) == ("entered_segment", "risk")
    assert [a.type for a in risk.actions] == ["slack_alert", "create_task"] and risk.actions[1].params["due_in"] == 86400
    assert specs.playbooks.routing.default_pool == "inbound"
    assert specs.playbooks.get("new_pql").actions[0].params["strategies"][0] == "keep_current"


def test_check_reports_a_broken_playbook_file(tmp_path):
    for name in ("rules", "playbooks"):
        (tmp_path / name).mkdir()
    (tmp_path / "rules" / "conversion.yaml").write_text((ROOT_DIR / "rules" / "conversion.yaml").read_text())
    (tmp_path / "rules" / "lists.yaml").write_text((ROOT_DIR / "rules" / "lists.yaml").read_text())
    (tmp_path / "playbooks" / "bad.yaml").write_text("playbook: bad\ntriger: {type: became_pql}\nactions: []\n")
    errors = [str(e) for e in check_spec_set(SpecDirs.under(tmp_path))]
    assert any(":2: triger: unknown key" in e and "did you mean 'trigger'" in e for e in errors), errors


BAD = [
    ("playbook: x\ntrigger: {type: became_pq}\nactions: [{type: set_field, field: F, value: v}]\n",
     "pb0.yaml:2: trigger.type: 'became_pq' is not one of", "became_pql"),
    ("playbook: x\ntrigger: {type: score_crossed}\nactions: [{type: set_field, field: F, value: v}]\n",
     "pb0.yaml:2: trigger.value: required key 'value' is missing", None),
    ("playbook: x\ntrigger: {type: band_changed, to: hot}\nactions: [{type: set_field, field: F, value: v}]\n",
     "pb0.yaml:2: trigger.to: 'hot' is not one of: high, medium, low", None),
    ("playbook: x\ntrigger: {type: became_pql}\nactions:\n  - {type: asign, strategy: round_robin}\n",
     "pb0.yaml:4: actions[0].type: 'asign' is not one of", "assign"),
    ("playbook: x\ntrigger: {type: became_pql}\nactions:\n  - {type: assign, strategy: round_robin, pool: nope}\n",
     "pb0.yaml:4: pool: no pool named 'nope'", None),
    ("playbook: x\ntrigger: {type: became_pql}\nactions:\n  - {type: assign, strategy: teritory}\n",
     "pb0.yaml:4: actions[0].strategy: 'teritory' is not one of", "territory"),
    ("playbook: x\ntrigger: {type: became_pql}\nactions:\n  - {type: create_task, subject: 'Hi {{ name '}\n",
     "pb0.yaml:4: actions[0].subject: template error", None),
    ("playbook: x\ntrigger: {type: became_pql}\nactions:\n  - {type: slack_alert, channel: '#a', to: owner}\n",
     "pb0.yaml:4: actions[0]: a slack_alert needs exactly one of", None),
    ("playbook: x\ntrigger: {type: became_pql}\nwhen: {field: score.combined, at_lest: 80}\n"
     "actions: [{type: set_field, field: F, value: v}]\n",
     "pb0.yaml:3: when: a field condition needs exactly one operator", "at_least"),
    ("playbook: x\ntrigger: {type: became_pql}\nlimits: {per_person: {alerts: 1, per: often}}\n"
     "actions: [{type: set_field, field: F, value: v}]\n",
     "pb0.yaml:3: limits.per_person.per: expected a duration", None),
    ("playbook: x\nmodel: conversoin\ntrigger: {type: became_pql}\nactions: [{type: set_field, field: F, value: v}]\n",
     "pb0.yaml:2: model: no model named 'conversoin'", "conversion"),
]


@pytest.mark.parametrize("text,expected,suggestion", BAD, ids=[b[1].split(": ", 2)[1] for b in BAD])
def test_playbook_errors_name_file_line_key_and_fix(text, expected, suggestion):
    errors = spec_errors(text)
    assert any(e.startswith(expected) for e in errors), errors
    if suggestion:
        assert any(f"did you mean {suggestion!r}" in e for e in errors), errors


ROUTING_BAD = [
    ("routing:\n  reps: [{email: a@x.com}]\n  pools: {p: [b@x.com]}\n", "routing.yaml:3: routing.pools.p: 'b@x.com' is not one of the reps"),
    ("routing:\n  reps: [{email: a@x.com}]\n  pools: {p: [a@x.com]}\n  territories:\n    - {field: state, in: [CA], pool: q}\n",
     "routing.yaml:5: routing.territories[0].pool: no pool named 'q'"),
    ("routing:\n  reps: [{email: nobody}]\n", "routing.yaml:2: routing.reps[0].email: 'nobody' is not an email"),
    ("routing:\n  reps: [{email: a@x.com, wekly_cap: 3}]\n", "routing.yaml:2: routing.reps[0].wekly_cap: unknown key"),
]


@pytest.mark.parametrize("routing,expected", ROUTING_BAD, ids=range(len(ROUTING_BAD)))
def test_routing_errors_name_file_line_and_key(routing, expected):
    errors = spec_errors(routing=routing)
    assert any(e.startswith(expected) for e in errors), errors


def test_all_errors_of_a_set_are_reported_at_once():
    bad = "playbook: x\ntrigger: {type: nope}\nactions:\n  - {type: nope}\n"
    assert len(spec_errors(bad, bad.replace("x", "y"))) >= 4


def test_a_valid_playbook_parses_to_frozen_objects():
    pbs = playbook_set(NEW_PQL, routing=routing_yaml())
    pb = pbs.get("new_pql")
    assert [a.type for a in pb.actions] == ["assign", "create_task", "slack_alert", "set_field"]
    assert pb.trigger.type == "became_pql" and pb.trigger.hysteresis == 10
    with pytest.raises(AttributeError):
        pb.name = "other"
