"""The shipped rules express the PQL guide's tables as written, and hand-computed people score as expected."""
from __future__ import annotations

import pytest

from crm_app.engine import evaluate
from tests.helpers import AS_OF, DAY, HOUR, ev, reference_features

GUIDE = [  # (rule id, points) straight from the implementation guide's tables
    ("icp_industry", 20), ("company_size_50_500", 15), ("company_size_500_5000", 20), ("senior_title", 15),
    ("buyer_persona", 10), ("complementary_tools", 10),
    ("competitor", -50), ("student", -40), ("outside_target_regions", -20), ("tiny_company", -15),
    ("personal_email", -10),
    ("onboarding_completed", 15), ("core_feature_used", 20), ("invited_teammates", 25),
    ("integration_connected", 20), ("premium_feature_used", 15),
    ("frequent_logins", 15), ("feature_breadth", 10), ("deep_sessions", 10), ("engagement_velocity", 25),
    ("pricing_viewed_in_trial", 10), ("upgrade_started", 20), ("billing_support", 10), ("data_exported", 5),
    ("no_login_14d", -10), ("no_login_30d", -20), ("unsubscribed", -15), ("data_deleted", -25),
]


@pytest.fixture(scope="module")
def conversion(default_rules):
    return default_rules.model("conversion")


def test_every_guide_rule_is_shipped_with_its_points(conversion):
    assert sorted((r.id, int(r.points)) for r in conversion.rules) == sorted(GUIDE)


def test_decay_recency_threshold_and_bands_as_written(conversion):
    assert (conversion.decay.points, conversion.decay.every, conversion.decay.floor) == (10, 30 * DAY, 0)
    assert (conversion.recency.full_within, conversion.recency.reduced_after) == (7 * DAY, 30 * DAY)
    assert conversion.recency.reduced_factor == 0.5
    assert conversion.pql.threshold == 75 and conversion.clamp == (0, 100)


ANNA = {  # fit: ICP industry 20 + size 50-499 15 + VP title 15 = 50; nothing negative
    "email": "anna@acme.io", "email_domain": "acme.io", "title": "VP Finance", "job_function": "Sales",
    "region": "Europe", "plan": "paid", "account.industry": "Software", "account.employees": 120,
    "account.tools": [],
}


def score(model, events, record=ANNA):
    return evaluate(model, record, reference_features([model], events, AS_OF), AS_OF)


def test_hand_computed_person_lands_exactly_on_the_threshold(conversion):
    # fit 50 + invited teammates 25 (1 day ago: full points) = 75 = the PQL threshold
    result = score(conversion, [ev("Invite Sent", AS_OF - DAY)])
    assert [r.line() for r in result.reasons] == [
        "ICP industry match: +20", "Company size 50–500: +15", "Senior title (VP, Director, C-suite): +15",
        "Invited 1 teammate(s): +25"]
    assert (result.fit, result.behaviour, result.combined, result.band, result.pql) == (50, 25, 75, "high", True)


def test_one_point_less_is_not_a_pql(conversion):
    # The same invite 7.5 days ago earns 25 × 0.989 = 24.7 -> 25 still; 9 days ago: 25 × 0.957 = 23.9 -> 24.
    result = score(conversion, [ev("Invite Sent", AS_OF - 9 * DAY)])
    assert (result.combined, result.pql) == (74, False)


@pytest.mark.parametrize("alerts,combined,pql", [(4, 65, False), (5, 90, True)])
def test_velocity_bonus_alone_crosses_the_threshold(conversion, alerts, combined, pql):
    # fit 50 + onboarding 15 = 65; 5 key actions (Alert Created) within 48 h add the +25 velocity bonus.
    events = [ev("Onboarding Completed", AS_OF - DAY)] + [ev("Alert Created", AS_OF - h * HOUR)
                                                          for h in range(1, alerts + 1)]
    result = score(conversion, events)
    assert (result.combined, result.pql) == (combined, pql)
    assert ("engagement_velocity" in {r.rule for r in result.reasons}) is pql


@pytest.mark.parametrize("record_changes,rule", [
    ({"email_domain": "rivalmetrics.com"}, "competitor"),
    ({"email_domain": "state.edu"}, "student"),
    ({"title": "Graduate Student"}, "student"),
    ({"region": "LATAM"}, "outside_target_regions"),
    ({"account.employees": 5}, "tiny_company"),
    ({"email_domain": "gmail.com"}, "personal_email"),
    ({"job_function": "Data"}, "buyer_persona"),
    ({"account.tools": ["Snowflake"]}, "complementary_tools"),
    ({"account.employees": 500}, "company_size_500_5000"),
])
def test_fit_rules_fire_on_their_field(conversion, record_changes, rule):
    assert rule in {r.rule for r in score(conversion, [], dict(ANNA, **record_changes)).reasons}


@pytest.mark.parametrize("events,record_changes,rule", [
    ([ev("Onboarding Completed", AS_OF)], {}, "onboarding_completed"),
    ([ev("Dashboard Created", AS_OF)], {}, "core_feature_used"),
    ([ev("Integration Connected", AS_OF)], {}, "integration_connected"),
    ([ev("Premium Feature Used", AS_OF)], {}, "premium_feature_used"),
    ([ev("Logged In", AS_OF - DAY)] * 5, {}, "frequent_logins"),
    ([ev("Feature Used", AS_OF, feature=f) for f in "abc"], {}, "feature_breadth"),
    ([ev("Session Ended", AS_OF, duration_seconds=301)], {}, "deep_sessions"),
    ([ev("Page Viewed", AS_OF, path="/pricing")], {"plan": "trial"}, "pricing_viewed_in_trial"),
    ([ev("Upgrade Started", AS_OF)], {}, "upgrade_started"),
    ([ev("Support Contacted", AS_OF, topic="Enterprise")], {}, "billing_support"),
    ([ev("Data Exported", AS_OF)], {}, "data_exported"),
    ([ev("Logged In", AS_OF - 15 * DAY)], {}, "no_login_14d"),
    ([ev("Logged In", AS_OF - 31 * DAY)], {}, "no_login_30d"),
    ([ev("Email Unsubscribed", AS_OF)], {}, "unsubscribed"),
    ([ev("Account Data Deleted", AS_OF)], {}, "data_deleted"),
])
def test_behaviour_rules_fire_on_their_events(conversion, events, record_changes, rule):
    assert rule in {r.rule for r in score(conversion, events, dict(ANNA, **record_changes)).reasons}


def test_inactivity_rules_are_exclusive(conversion):
    fired = {r.rule for r in score(conversion, [ev("Logged In", AS_OF - 40 * DAY)]).reasons}
    assert "no_login_30d" in fired and "no_login_14d" not in fired


def test_pricing_outside_trial_does_not_count(conversion):
    fired = {r.rule for r in score(conversion, [ev("Page Viewed", AS_OF, path="/pricing")]).reasons}
    assert "pricing_viewed_in_trial" not in fired
