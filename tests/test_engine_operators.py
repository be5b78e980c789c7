"""Every field operator and event measure, table-driven through the real rule parser and engine."""
from __future__ import annotations

import pytest

from crm_app.engine import evaluate
from crm_app.specs.operators import EVENT_MEASURES, FIELD_OPERATORS
from tests.helpers import AS_OF, DAY, ev, model_from_yaml, reference_features


def fit_points(when: str, record: dict, lists: dict | None = None) -> int:
    model = model_from_yaml(f"""
        model: t
        fit:
          - id: r
            label: R
            points: 10
            when: {when}
    """, lists)
    return evaluate(model, record, {}, AS_OF).fit_raw


FIELD_CASES = [
    # (operator, condition, record, fires)
    ("equals", "{field: plan, equals: Trial}", {"plan": "trial"}, True),
    ("equals", "{field: plan, equals: trial}", {"plan": "paid"}, False),
    ("equals", "{field: seats, equals: 5}", {"seats": "5"}, True),
    ("equals", "{field: plan, equals: trial}", {}, False),
    ("not_equals", "{field: plan, not_equals: trial}", {"plan": "paid"}, True),
    ("not_equals", "{field: plan, not_equals: trial}", {}, False),
    ("in", "{field: region, in: [Europe, UK]}", {"region": " europe "}, True),
    ("in", "{field: region, in: $regions}", {"region": "UK"}, True),
    ("in", "{field: region, in: [Europe, UK]}", {"region": "APAC"}, False),
    ("in", "{field: tools, in: [slack]}", {"tools": ["Jira", "Slack"]}, True),
    ("not_in", "{field: region, not_in: [Europe]}", {"region": "APAC"}, True),
    ("not_in", "{field: region, not_in: [Europe]}", {"region": "Europe"}, False),
    ("not_in", "{field: region, not_in: [Europe]}", {}, False),
    ("between", "{field: employees, between: [50, 499]}", {"employees": 50}, True),
    ("between", "{field: employees, between: [50, 499]}", {"employees": 499}, True),
    ("between", "{field: employees, between: [50, 499]}", {"employees": 500}, False),
    ("between", "{field: employees, between: [50, 499]}", {"employees": "1,200"}, False),
    ("between", "{field: employees, between: [50, 499]}", {"employees": "n/a"}, False),
    ("at_least", "{field: employees, at_least: 10}", {"employees": 10}, True),
    ("at_least", "{field: employees, at_least: 10}", {"employees": 9.99}, False),
    ("more_than", "{field: employees, more_than: 10}", {"employees": 10}, False),
    ("at_most", "{field: employees, at_most: 10}", {"employees": 10}, True),
    ("less_than", "{field: employees, less_than: 10}", {"employees": 9}, True),
    ("less_than", "{field: employees, less_than: 10}", {"employees": None}, False),
    ("contains", "{field: title, contains: student}", {"title": "PhD Student"}, True),
    ("contains", "{field: tools, contains: $tools}", {"tools": ["Notion", "Snowflake"]}, True),
    ("contains", "{field: tools, contains: $tools}", {"tools": ["Notion"]}, False),
    ("starts_with", "{field: path, starts_with: [/pricing, /plans]}", {"path": "/Plans/team"}, True),
    ("starts_with", "{field: path, starts_with: /pricing}", {"path": "/docs"}, False),
    ("ends_with", "{field: email_domain, ends_with: .edu}", {"email_domain": "mit.edu"}, True),
    ("ends_with", "{field: email_domain, ends_with: .edu}", {"email_domain": "edu.com"}, False),
    ("matches", r"{field: title, matches: '\b(vp|director)\b'}", {"title": "Director of Data"}, True),
    ("matches", r"{field: title, matches: '\b(vp|director)\b'}", {"title": "Directorate clerk"}, False),
    ("exists", "{field: phone, exists: true}", {"phone": "+1 555"}, True),
    ("exists", "{field: phone, exists: true}", {"phone": ""}, False),
    ("exists", "{field: phone, exists: false}", {}, True),
]


@pytest.mark.parametrize("operator,when,record,fires", FIELD_CASES)
def test_field_operator(operator, when, record, fires):
    lists = {"regions": ("europe", "uk"), "tools": ("slack", "snowflake")}
    assert fit_points(when, record, lists) == (10 if fires else 0)


def test_every_field_operator_has_a_case():
    assert {case[0] for case in FIELD_CASES} == set(FIELD_OPERATORS)


@pytest.mark.parametrize("when,record,fires", [
    ("{all: [{field: a, equals: 1}, {field: b, equals: 2}]}", {"a": 1, "b": 2}, True),
    ("{all: [{field: a, equals: 1}, {field: b, equals: 2}]}", {"a": 1, "b": 3}, False),
    ("{any: [{field: a, equals: 1}, {field: b, equals: 2}]}", {"a": 0, "b": 2}, True),
    ("{any: [{field: a, equals: 1}, {field: b, equals: 2}]}", {}, False),
    ("{not: {field: a, equals: 1}}", {"a": 2}, True),
    ("{not: {field: a, equals: 1}}", {"a": 1}, False),
])
def test_combinators(when, record, fires):
    assert fit_points(when, record) == (10 if fires else 0)


def behaviour_points(when: str, events: list, record: dict | None = None, as_of: int = AS_OF) -> int:
    model = model_from_yaml(f"""
        model: t
        behaviour:
          - id: r
            label: R
            points: 10
            recency_weighted: false
            when: {when}
    """)
    return evaluate(model, record or {}, reference_features([model], events, as_of), as_of).behaviour_before_decay


EVENT_CASES = [
    ("count", "{event: Login, count: {at_least: 2}}", [ev("Login", AS_OF - 10), ev("login", AS_OF - 5)], True),
    ("count", "{event: Login, count: {at_least: 2}}", [ev("Login", AS_OF - 10), ev("Other", AS_OF - 5)], False),
    ("count", "{event: [A, B], count: {equals: 2}}", [ev("A", AS_OF - 1), ev("B", AS_OF - 2)], True),
    ("count", "{event: any, count: {at_least: 3}}", [ev("A", AS_OF - 1), ev("B", AS_OF - 2), ev("C", AS_OF)],
     True),
    ("count", "{event: Login, count: {at_most: 0}}", [], True),
    ("count", "{event: Support, where: {property: topic, in: [billing]}, count: {at_least: 1}}",
     [ev("Support", AS_OF - 1, topic="Billing")], True),
    ("count", "{event: Support, where: {property: topic, in: [billing]}, count: {at_least: 1}}",
     [ev("Support", AS_OF - 1, topic="bug")], False),
    ("count", "{event: Login, count: {at_least: 1}}", [ev("Login", AS_OF + 1)], False),  # the future is unknown
    ("distinct", "{event: Feature Used, distinct: {of: feature, at_least: 3}}",
     [ev("Feature Used", AS_OF - i, feature=f) for i, f in enumerate(["a", "b", "A", "c"])], True),
    ("distinct", "{event: Feature Used, distinct: {of: feature, at_least: 3}}",
     [ev("Feature Used", AS_OF - i, feature=f) for i, f in enumerate(["a", "b", "A"])], False),
    ("distinct", "{event: any, distinct: {of: event, at_least: 2}}", [ev("A", AS_OF), ev("B", AS_OF)], True),
    ("average", "{event: Session, average: {of: secs, more_than: 300}}",
     [ev("Session", AS_OF - 1, secs=200), ev("Session", AS_OF - 2, secs=500)], True),
    ("average", "{event: Session, average: {of: secs, more_than: 300}}",
     [ev("Session", AS_OF - 1, secs=200), ev("Session", AS_OF - 2, secs=400)], False),
    ("average", "{event: Session, average: {of: secs, more_than: 300}}", [], False),
    ("sum", "{event: Seats Added, sum: {of: seats, at_least: 5}}",
     [ev("Seats Added", AS_OF - 1, seats=2), ev("Seats Added", AS_OF - 2, seats=3)], True),
    ("days_since_last", "{event: Login, days_since_last: {at_least: 14}}", [ev("Login", AS_OF - 14 * DAY)], True),
    ("days_since_last", "{event: Login, days_since_last: {at_least: 14}}", [ev("Login", AS_OF - 14 * DAY + 1)],
     False),
    ("days_since_last", "{event: Login, days_since_last: {at_least: 14}}", [ev("Signup", AS_OF - 20 * DAY)], False),
    # usage shape (docs/accounts-and-health.md "Usage-shape signals"); more cases in tests/test_usage_signals.py
    ("active_weeks", "{event: any, within: 28d, active_weeks: {at_least: 2}}",
     [ev("A", AS_OF - DAY), ev("A", AS_OF - 2 * DAY), ev("A", AS_OF - 9 * DAY)], True),
    ("active_weeks", "{event: any, within: 28d, active_weeks: {at_least: 2}}",
     [ev("A", AS_OF - DAY), ev("A", AS_OF - 2 * DAY), ev("A", AS_OF - 30 * DAY)], False),
    ("growth", "{event: Login, within: 30d, growth: {at_least: 50}}",
     [ev("Login", AS_OF - 40 * DAY), ev("Login", AS_OF - 5 * DAY), ev("Login", AS_OF - 6 * DAY)], True),
    ("growth", "{event: Login, within: 30d, growth: {at_least: 50}}", [ev("Login", AS_OF - 5 * DAY)], False),
    ("spike", "{event: Export, within: 1d, spike: {at_least: 3}}",
     [ev("Export", AS_OF - 3 * DAY)] * 2 + [ev("Export", AS_OF - 3600)] * 2, True),
    ("spike", "{event: Export, within: 1d, spike: {at_least: 3}}",
     [ev("Export", AS_OF - 3 * DAY)] * 4 + [ev("Export", AS_OF - 3600)] * 2, False),
    ("sophistication", "{event: Feature Used, sophistication: {of: feature, intermediate: [reports], "
     "advanced: [api, sso], at_least: intermediate}}", [ev("Feature Used", AS_OF - 1, feature="Reports")], True),
    ("sophistication", "{event: Feature Used, sophistication: {of: feature, intermediate: [reports], "
     "advanced: [api, sso], equals: advanced}}", [ev("Feature Used", AS_OF - 1, feature="Reports")], False),
]


@pytest.mark.parametrize("created_days_ago,fires", [(20, True), (13, False), (None, False)])
def test_never_logged_in_counts_from_sign_up(created_days_ago, fires):
    record = {} if created_days_ago is None else {"created_at": AS_OF - created_days_ago * DAY}
    when = "{event: Login, days_since_last: {at_least: 14}}"
    assert behaviour_points(when, [ev("Signup", AS_OF - 20 * DAY)], record) == (10 if fires else 0)


@pytest.mark.parametrize("measure,when,events,fires", EVENT_CASES)
def test_event_measure(measure, when, events, fires):
    assert behaviour_points(when, events) == (10 if fires else 0)


def test_every_event_measure_has_a_case():
    assert {case[0] for case in EVENT_CASES} == set(EVENT_MEASURES)


@pytest.mark.parametrize("when,metrics,fires", [
    ("{metric: logins_30d, at_least: 5}", {"metric:logins_30d": 5}, True),
    ("{metric: logins_30d, at_least: 5}", {"metric:logins_30d": 4}, False),
    ("{metric: logins_30d, at_least: 5}", {}, False),
    ("{score: propensity, between: [80, 100]}", {"score:propensity": 80}, True),
    ("{score: propensity, between: [80, 100]}", {"score:propensity": 79}, False),
])
def test_metric_and_score_conditions(when, metrics, fires):
    model = model_from_yaml(f"""
        model: t
        behaviour:
          - {{id: r, label: R, points: 10, when: {when}}}
    """)
    assert evaluate(model, {}, metrics, AS_OF).behaviour == (10 if fires else 0)
