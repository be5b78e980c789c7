"""Health KPIs: rates by score, churn AUC, segment ordering; the default model on the real Telco data."""
from __future__ import annotations

import pytest

from crm_app.services.lifecycle.customer_health_kpis import churn_auc, compute_kpis, health_kpis
from crm_app.services.scoring.run import score
from crm_app.specs.rules import RuleSet
from crm_app.store import events as event_store
from crm_app.store import people as people_store
from tests.conftest import ROOT
from tests.helpers import AS_OF, DAY, model_from_yaml

TELCO = ROOT.parent / "shared" / "datasets" / "telco" / "Telco-Customer-Churn.csv"


@pytest.mark.parametrize("churned,stayed,auc", [
    ([10, 20], [30, 40], 1.0),  # every churner scored lower
    ([30, 40], [10, 20], 0.0),
    ([10, 30], [20, 40], 0.75),  # 3 of 4 pairs ordered right
    ([50], [50], 0.5),  # a tie counts half
    ([50, 50], [50, 60], 0.75),
    ([], [10], None),
])
def test_churn_auc(churned, stayed, auc):
    assert churn_auc(churned, stayed) == auc


def test_kpis_by_score_and_segment():
    rows = [  # (score, segment, churned, upsold)
        (90, "upsell_candidate", False, True), (85, "upsell_candidate", False, False),
        (75, "loyal_customer", False, True), (60, None, True, False), (60, None, False, None),
        (45, "at_risk", True, False), (35, "at_risk", False, False), (20, "risk", True, False),
        (None, None, True, True),  # never scored: left out
    ]
    k = compute_kpis(rows, high=70, low=50)
    assert k.customers == 8
    assert k.upsell_rate_high == pytest.approx(2 / 3) and k.upsell_rate_rest == 0.0
    assert k.churn_rate_low == pytest.approx(2 / 3) and k.churn_rate_rest == pytest.approx(1 / 5)
    # predicted churn = score <= 50: right for 45, 20 (churned) and 90, 85, 75, 60b (stayed) -> 6 of 8
    assert k.churn_accuracy == pytest.approx(6 / 8)
    assert k.segments["at_risk"].churn_rate == 0.5 and k.segments["risk"].churn_rate == 1.0
    assert k.ordered is True  # risk 100% >= at_risk 50% >= none 50% >= loyal 0% >= upsell 0%


def test_misordered_segments_are_flagged():
    k = compute_kpis([(20, "risk", False, None), (45, "at_risk", True, None)])
    assert k.ordered is False


def test_outcomes_from_events_after_the_scores(store):
    model = model_from_yaml("""
        model: health
        behaviour:
          - {id: active, label: Active, points: 80, when: {event: Login, within: 30d, count: {at_least: 1}}}
    """)
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": p} for p in ("keen", "quiet")])
        types = event_store.event_type_ids(conn, ["Login", "Plan Upgraded", "Subscription Cancelled"])
        event_store.insert_events(conn, [
            {"message_id": m, "person_id": ids[p], "anonymous_id": None, "type_id": types[n], "ts": ts,
             "properties": {}, "received_at": ts}
            for m, p, n, ts in [("1", "keen", "login", AS_OF - DAY),
                                ("2", "keen", "plan upgraded", AS_OF + 5 * DAY),
                                ("3", "quiet", "subscription cancelled", AS_OF + 9 * DAY)]])
    score(store, RuleSet(models=(model,), hash="k"), AS_OF, workers=1)
    k = health_kpis(store, since=AS_OF)
    assert (k.upsell_rate_high, k.churn_rate_low, k.churn_auc, k.churn_accuracy) == (1.0, 1.0, 1.0, 1.0)


@pytest.mark.skipif(not TELCO.is_file(), reason=f"{TELCO} not present")
def test_default_health_model_on_telco_orders_churn_risk(tmp_path, monkeypatch):
    import benchmarks.telco_health as telco
    lines = telco.run(TELCO, tmp_path)
    text = "\n".join(lines)
    assert "7043 customers" in text
    assert "segments order churn risk correctly: yes" in text
    at_risk = next(line for line in lines if line.strip().startswith("at_risk"))
    none = next(line for line in lines if line.strip().startswith("(none)"))
    assert float(at_risk.split("churn")[1].split("%")[0]) > float(none.split("churn")[1].split("%")[0])


def test_health_command_check_reports_the_kpis(store):
    from crm_app.services.lifecycle.customer_health_kpis import kpi_checks
    model = model_from_yaml("""
        model: health
        stage: health
        behaviour:
          - {id: loyal, label: Committed, points: 70, when: {field: contract, in: [one year]}}
        segments:
          - {id: at_risk, label: At-Risk, when: {score: health, between: [30, 50]}}
          - {id: risk, label: Risk, when: {score: health, less_than: 30}}
    """)
    rules = RuleSet(models=(model,), hash="h")
    with store.begin() as conn:
        people_store.upsert_people(conn, [{"external_id": f"c{i}", "attributes": {
            "contract": "One year" if i % 2 else "Month-to-month", "churn": "No" if i % 2 or i % 4 == 0 else "Yes"}}
            for i in range(8)])
    assert kpi_checks(store, list(rules.models))[0]["status"] == "unknown"  # nothing scored yet
    score(store, rules, AS_OF, workers=1)
    check = kpi_checks(store, list(rules.models))[0]
    # month-to-month (score 0, Risk): 2 of 4 churn; one year (70): none. AUC: 2 churners x 6 stayers = 12
    # pairs; 8 won outright (vs 70), 4 tied at 0 (half each) -> 10/12
    assert check["status"] == "ok" and check["value"]["churn_by_segment"] == {"risk": 0.5, "(none)": 0.0}
    assert check["value"]["churn_auc"] == pytest.approx(10 / 12)
