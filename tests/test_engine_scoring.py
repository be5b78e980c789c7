"""Windows, recency, decay, floor, clamp, bands, PQL and its sticky dates, activation and reason texts."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crm_app.engine import evaluate
from crm_app.engine.scoring import recency_factor, round_half_up
from crm_app.specs.rules import Recency
from tests.helpers import AS_OF, DAY, HOUR, ev, model_from_yaml, reference_features

SCORING = """
model: t
fit:
  - {id: icp, label: ICP industry match, points: 20, when: {field: industry, equals: software}}
  - {id: competitor, label: Competitor domain, points: -50, when: {field: email_domain, equals: rival.com}}
  - {id: big, label: Big company, points: 90, when: {field: employees, at_least: 1000}}
behaviour:
  - id: logins
    label: 5+ logins in 7 days
    reason: "{count} logins in the past {window}"
    points: 15
    when: {event: Login, within: 7d, count: {at_least: 5}}
  - id: velocity
    label: 5+ key actions in 48 hours
    reason: "{count} key actions in the past {window}"
    points: 25
    when: {event: [Report, Invite], within: 48h, count: {at_least: 5}}
  - id: invited
    label: Invited teammates
    reason: Invited {count} teammate(s)
    points: 40
    when: {event: Invite, count: {at_least: 1}}
  - id: quiet
    label: No login for 14+ days
    reason: No login for {days} days
    points: -10
    when: {event: Login, days_since_last: {at_least: 14}}
decay: {points: 10, every: 30d, floor: 0}
recency: {full_points_within: 7d, reduced_after: 30d, reduced_factor: 0.5}
bands: {high: 70, medium: 40}
pql: {threshold: 75, min_fit: 0}
activation: {milestones: [invited, logins], activated_at: 1, power_user_at: 2}
"""


@pytest.fixture(scope="module")
def model():
    return model_from_yaml(SCORING)


def run(model, events, record=None, as_of=AS_OF, previous=None):
    return evaluate(model, record or {}, reference_features([model], events, as_of), as_of, previous)


@pytest.mark.parametrize("offset,counted", [
    (7 * DAY, True),            # exactly 7 days before as_of is inside the window
    (7 * DAY + 1, False),       # one second earlier is outside
    (0, True),                  # at as_of
    (-1, False),                # after as_of: not known yet
])
def test_seven_day_window_edges(model, offset, counted):
    events = [ev("Login", AS_OF - DAY)] * 4 + [ev("Login", AS_OF - offset)]
    assert ("logins" in {r.rule for r in run(model, events).reasons}) is counted


@pytest.mark.parametrize("offset,counted", [(48 * HOUR, True), (48 * HOUR + 1, False)])
def test_48_hour_window_edges(model, offset, counted):
    events = [ev("Report", AS_OF - HOUR)] * 4 + [ev("Report", AS_OF - offset)]
    assert ("velocity" in {r.rule for r in run(model, events).reasons}) is counted


@pytest.mark.parametrize("age_days,factor", [
    (0, 1.0), (7, 1.0), (18.5, 0.75), (30, 0.5), (90, 0.5), (7 + 23 / 10, 0.95),
])
def test_recency_factor_is_linear_between_7_and_30_days(age_days, factor):
    recency = Recency(7 * DAY, 30 * DAY, 0.5)
    assert recency_factor(recency, int(age_days * DAY)) == pytest.approx(factor)


@pytest.mark.parametrize("age_days,points", [(1, 40), (7, 40), (18.5, 30), (30, 20), (60, 20)])
def test_recency_weights_positive_behaviour_points(model, age_days, points):
    result = run(model, [ev("Invite", AS_OF - int(age_days * DAY)), ev("Login", AS_OF)])
    invited = next(r for r in result.reasons if r.rule == "invited")
    assert invited.points == points


def test_recent_actions_count_twice_as_much_as_old_ones(model):
    recent = next(r for r in run(model, [ev("Invite", AS_OF - DAY)]).reasons if r.rule == "invited")
    old = next(r for r in run(model, [ev("Invite", AS_OF - 31 * DAY), ev("Login", AS_OF)]).reasons
               if r.rule == "invited")
    assert recent.points == 2 * old.points


def test_negative_rules_are_not_recency_weighted(model):
    result = run(model, [ev("Login", AS_OF - 20 * DAY), ev("Invite", AS_OF)])
    assert next(r for r in result.reasons if r.rule == "quiet").points == -10


@pytest.mark.parametrize("inactive_seconds,decay", [
    (0, 0), (30 * DAY - 1, 0), (30 * DAY, 10), (59 * DAY, 10), (60 * DAY, 20), (95 * DAY, 30),
])
def test_decay_steps_of_ten_per_thirty_days(model, inactive_seconds, decay):
    result = run(model, [ev("Invite", AS_OF - inactive_seconds)])
    assert result.decay == decay
    assert result.behaviour == max(0, result.behaviour_before_decay - decay)


def test_behaviour_floor_is_zero(model):
    result = run(model, [ev("Login", AS_OF - 100 * DAY)])  # quiet -10, decay -30
    assert result.behaviour_before_decay == -10
    assert result.behaviour == 0


def test_fit_never_decays(model):
    record = {"industry": "Software"}
    fresh = run(model, [ev("Invite", AS_OF)], record)
    stale = run(model, [ev("Invite", AS_OF)], record, as_of=AS_OF + 365 * DAY)
    assert fresh.fit == stale.fit == 20
    assert stale.behaviour < fresh.behaviour


def test_combined_clamps_to_100_and_negative_fit_subtracts(model):
    big = run(model, [ev("Invite", AS_OF)], {"employees": 5000, "industry": "software"})
    assert (big.fit, big.combined) == (100, 100)
    rival = run(model, [ev("Invite", AS_OF)], {"email_domain": "rival.com"})
    assert (rival.fit, rival.fit_raw, rival.combined) == (0, -50, 0)


@pytest.mark.parametrize("fit_points,band", [(70, "high"), (69, "medium"), (40, "medium"), (39, "low"), (0, "low")])
def test_band_boundaries(fit_points, band):
    model = model_from_yaml(f"""
        model: b
        fit: [{{id: f, label: F, points: {fit_points}, when: {{field: x, exists: true}}}}]
        bands: {{high: 70, medium: 40}}
    """)
    assert evaluate(model, {"x": 1}, {}, AS_OF).band == band


def test_pql_date_is_sticky_while_pql_and_first_date_forever(model):
    events = [ev("Invite", AS_OF - HOUR)] + [ev("Login", AS_OF)] * 5  # 20 + 40 + 15 = 75
    record = {"industry": "software"}
    first = run(model, events, record, as_of=AS_OF, previous=None)
    assert first.pql and first.pql_since == AS_OF and first.pql_first_at == AS_OF
    later = run(model, events, record, as_of=AS_OF + DAY, previous=first)
    assert later.pql_since == AS_OF and later.pql_first_at == AS_OF
    dropped = run(model, events, {}, as_of=AS_OF + 2 * DAY, previous=later)
    assert not dropped.pql and dropped.pql_since is None and dropped.pql_first_at == AS_OF
    again = run(model, events, record, as_of=AS_OF + 3 * DAY, previous=dropped)
    assert again.pql_since == AS_OF + 3 * DAY and again.pql_first_at == AS_OF


def test_min_fit_blocks_pql(model):
    result = run(model, [ev("Invite", AS_OF)] * 5 + [ev("Login", AS_OF)] * 5,
                 {"email_domain": "rival.com", "employees": 2000, "industry": "software"})
    assert result.combined >= 75 and result.fit_raw == 60
    strict = model_from_yaml(SCORING.replace("min_fit: 0", "min_fit: 70"))
    assert not run(strict, [ev("Invite", AS_OF)] * 5, {"email_domain": "rival.com", "employees": 2000,
                                                      "industry": "software"}).pql


@pytest.mark.parametrize("events,status", [
    ([], "Not Started"),
    ([ev("Invite", AS_OF)], "Activated"),
    ([ev("Invite", AS_OF)] + [ev("Login", AS_OF)] * 5, "Power User"),
])
def test_activation_status(model, events, status):
    assert run(model, events).activation == status


def test_reason_texts(model):
    events = ([ev("Invite", AS_OF - 15 * DAY)] * 4 + [ev("Login", AS_OF - DAY)] * 6
              + [ev("Report", AS_OF - HOUR)] * 5)
    lines = [r.line() for r in run(model, events, {"industry": "Software"}).reasons]
    assert lines == [
        "ICP industry match: +20",
        "6 logins in the past 7 days: +15",
        "5 key actions in the past 2 days: +25",
        "Invited 4 teammate(s) (2 weeks ago): +33",
    ]


def test_decay_reason_text(model):
    result = run(model, [ev("Invite", AS_OF - 61 * DAY)])
    assert result.reasons[-1].line() == "No product activity for 60+ days (decay): -20"


def test_round_half_up():
    assert [round_half_up(x) for x in (0.5, 1.5, 2.5, -0.5, 2.49)] == [1, 2, 3, -1, 2]


def test_as_of_datetime_must_be_aware(model):
    aware = datetime.fromtimestamp(AS_OF, timezone.utc)
    assert run(model, [], as_of=AS_OF).as_of == evaluate(model, {}, {}, aware).as_of
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(model, {}, {}, datetime(2026, 1, 1))


def test_same_inputs_same_bytes(model):
    events = [ev("Invite", AS_OF - 9 * DAY), ev("Login", AS_OF - DAY)]
    assert run(model, events).to_json() == run(model, events).to_json()
