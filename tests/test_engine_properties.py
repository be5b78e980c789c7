"""Property-based checks of the engine over the shipped rules (hypothesis)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_app.engine import evaluate
from tests.helpers import AS_OF, DAY, reference_features

EVENTS = ["Logged In", "Onboarding Completed", "Report Created", "Invite Sent", "Integration Connected",
          "Premium Feature Used", "Feature Used", "Session Ended", "Page Viewed", "Upgrade Started",
          "Support Contacted", "Data Exported", "Email Unsubscribed", "Account Data Deleted", "Alert Created"]
# Events that only ever add points: count rules with positive points, no averages, no penalties.
POSITIVE = ["Onboarding Completed", "Report Created", "Invite Sent", "Integration Connected",
            "Premium Feature Used", "Upgrade Started", "Data Exported", "Alert Created", "Logged In"]

records = st.fixed_dictionaries({
    "email_domain": st.sampled_from(["acme.io", "gmail.com", "rivalmetrics.com", "mit.edu", None]),
    "title": st.sampled_from(["VP Sales", "Student", "Engineer", "", None]),
    "job_function": st.sampled_from(["Engineering", "Sales", None]),
    "region": st.sampled_from(["Europe", "LATAM", None]),
    "plan": st.sampled_from(["trial", "paid"]),
    "account.industry": st.sampled_from(["Software", "Government", None]),
    "account.employees": st.one_of(st.none(), st.integers(0, 20000)),
    "account.tools": st.lists(st.sampled_from(["Slack", "Jira", "Notion"]), max_size=3),
    # People exist before their events: the store sets created_at to the earliest message seen.
    "created_at": st.integers(AS_OF - 400 * DAY, AS_OF - 121 * DAY),
})


def event(name: str, age: int) -> dict:
    props = {"feature": f"f{age % 5}", "duration_seconds": age % 900, "path": "/pricing" if age % 2 else "/docs",
             "topic": "billing" if age % 3 else "bug"}
    return {"event": name, "ts": AS_OF - age, "properties": props}


events_strategy = st.lists(st.tuples(st.sampled_from(EVENTS), st.integers(0, 120 * DAY)), max_size=40)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(record=records, raw=events_strategy, later=st.integers(0, 400 * DAY))
def test_scores_stay_within_0_100_and_fit_never_changes_with_time(default_rules, record, raw, later):
    model = default_rules.model("conversion")
    events = [event(name, age) for name, age in raw]
    now = evaluate(model, record, reference_features([model], events, AS_OF), AS_OF)
    then = evaluate(model, record, reference_features([model], events, AS_OF + later), AS_OF + later)
    for result in (now, then):
        assert 0 <= result.fit <= 100 and 0 <= result.behaviour <= 100 and 0 <= result.combined <= 100
    assert now.fit == then.fit and now.fit_raw == then.fit_raw


@FAST
@given(record=records, raw=events_strategy, extra=st.sampled_from(POSITIVE), age=st.integers(0, 120 * DAY))
def test_adding_a_positive_event_never_lowers_behaviour_before_decay(default_rules, record, raw, extra, age):
    model = default_rules.model("conversion")
    events = [event(name, a) for name, a in raw]
    before = evaluate(model, record, reference_features([model], events, AS_OF), AS_OF)
    after = evaluate(model, record, reference_features([model], events + [event(extra, age)], AS_OF), AS_OF)
    assert after.behaviour_before_decay >= before.behaviour_before_decay
