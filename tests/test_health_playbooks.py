"""The shipped health playbooks fire on segment entry: Risk -> Slack alert + retention task within 24 hours,
Upsell Candidate -> premium-offer task; exactly once."""
from __future__ import annotations

import datetime as dt

from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.services.scoring.segments import update_segments
from crm_app.slack.senders import outbox_messages
from crm_app.specs.rules import RuleSet
from crm_app.store.scoring.results import save_results
from tests.fake_crm import FakeCrm
from tests.helpers import model_from_yaml
from tests.playbook_support import NOW, REPS, ROOT_DIR, add_people, runtime

HEALTH = (ROOT_DIR / "rules" / "health.yaml").read_text()
UPSELL = """
model: upsell
stage: expansion
behaviour:
  - {id: any, label: Anything, points: 1, when: {field: external_id, exists: true}}
"""
RULES = RuleSet(models=(model_from_yaml(HEALTH), model_from_yaml(UPSELL)), hash="pb-test")


def put_scores(store, scores: dict, model: str, as_of: int = NOW) -> None:
    """Current results (and history) for a model, as a scoring run stores them."""
    rows = [{"model": model, "subject_id": sid, "as_of": as_of, "fit": 0, "fit_raw": 0, "behaviour": c,
             "behaviour_before_decay": c, "decay": 0, "combined": c, "band": "low", "pql": False, "pql_since": None,
             "pql_first_at": None, "activation": None, "milestones": 0, "last_activity": as_of, "days_inactive": 0,
             "reasons": [], "rules_hash": "t", "digest": f"{sid}:{c}:{as_of}"} for sid, c in scores.items()]
    history = [{k: r[k] for k in ("model", "subject_id", "as_of", "fit", "behaviour", "combined", "band", "pql",
                                  "rules_hash")} for r in rows]
    with store.begin() as conn:
        save_results(conn, rows, history)


def shipped_playbooks():
    texts = [(ROOT_DIR / "playbooks" / f"{name}.yaml").read_text() for name in ("health_risk", "upsell_candidate")]
    from crm_app.errors import ErrorCollector
    from crm_app.specs.playbooks import parse_playbook_set
    from crm_app.specs.yamlsource import parse_yaml
    from tests.playbook_support import routing_yaml
    errors = ErrorCollector()
    docs = [("routing.yaml", parse_yaml(routing_yaml(), "routing.yaml", errors))]
    docs += [(f"pb{i}.yaml", parse_yaml(t, f"pb{i}.yaml", errors)) for i, t in enumerate(texts)]
    result = parse_playbook_set(docs, errors, {}, ["health", "upsell"])
    assert not errors, errors.sorted()
    return result


def test_risk_and_upsell_playbooks(store):
    at_risk, fine, star = add_people(store, 3)
    put_scores(store, {at_risk: 20, fine: 60, star: 90}, "health")
    put_scores(store, {at_risk: 0, fine: 0, star: 30}, "upsell")
    update_segments(store, RULES, NOW)
    crm, pbs = FakeCrm(REPS), shipped_playbooks()
    first = run_playbooks(runtime(store, pbs, crm), NOW)
    tasks = sorted(crm.tasks.values(), key=lambda t: t.subject)
    assert [t.subject.split(" for ")[0].split(":")[0] for t in tasks] == ["Premium offer", "Retention call"]
    retention = tasks[1]
    assert "Person 0" in retention.subject and retention.priority == "High"
    assert dt.date.fromisoformat(retention.due[:10]) <= dt.datetime.fromtimestamp(NOW + 86400, dt.timezone.utc).date()
    alerts = outbox_messages(store, 100)
    assert len(alerts) == 1 and "entered Risk" in str(alerts[0])
    second = run_playbooks(runtime(store, pbs, crm), NOW + 60)
    assert first["sent"] == 3 and second["sent"] == 0 and len(crm.tasks) == 2  # exactly once
