"""Metric and quota conditions in the set-wise plan: random rule sets with them over random metric histories
give what evaluate() gives over features read naively in Python, and the shipped health and upsell models
scored by the DuckDB engine store what the per-person engine stores, on both backends."""
from __future__ import annotations

import itertools

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_app.engine import evaluate, in_population
from crm_app.engine.setwise import ir
from crm_app.engine.setwise.metrics import MetricPoint, PointColumns, at_column, metric_points, value_column
from crm_app.engine.usage import quota_value
from crm_app.specs.conditions import model_leaves
from crm_app.specs.usage import QuotaCondition
from crm_app.services.scoring.run import score
from crm_app.services.scoring.setwise import plan_over, plannable, results
from crm_app.store import schema
from crm_app.store.columnar.metric_points import load_points
from crm_app.store.columnar.mirror import forget_results
from crm_app.store.events import upsert_metrics
from crm_app.store.people import upsert_accounts
from tests.helpers import AS_OF, DAY, model_from_yaml, reference_features
from tests.test_duckdb_engine import assert_a_fresh_per_person_run_stores_the_same, seed, stored
from tests.test_setwise_plan import SETTINGS, flat, load

WHENS = [
    "{metric: tickets, at_least: 1}",
    "{metric: tickets, between: [0, 2.5]}",
    "{not: {metric: tickets, more_than: 3}}",
    "{metric: usage, equals: 80}",
    "{quota: usage, limit: seats, percent: {at_least: 80}}",
    "{quota: usage, limit: seats, days_to_limit: {at_most: 30}}",
    "{quota: usage, limit: account.plan_limit, rate_over: 7d, days_to_limit: {between: [0, 10]}}",
    "{quota: usage, limit: 100, percent: {less_than: 50}}",
    "{all: [{quota: usage, limit: 100, percent: {at_least: 80}}, {field: plan, equals: trial}]}",
    "{any: [{metric: tickets, at_least: 2}, {event: Logged In, within: 7d, count: {at_least: 1}}]}",
]


@st.composite
def metric_models(draw):
    chosen = draw(st.lists(st.sampled_from(range(len(WHENS))), min_size=1, max_size=5))
    rules = "".join(f"  - id: r{n}\n    label: rule {n}\n    points: {draw(st.sampled_from([-10, 5, 12.5, 30]))}\n"
                    f"    when: {WHENS[i]}\n" for n, i in enumerate(chosen))
    text = (f"model: m\nlabel: M\nstage: expansion\nsubject: person\nbehaviour:\n{rules}"
            "bands: {high: 30, medium: 10}\npql: {threshold: 25}\n")
    if draw(st.booleans()):
        text += "population: {not: {metric: tickets, at_least: 5}}\n"
    return model_from_yaml(text)


# Values and moments on the edges the conditions test (at the limit, 80%, whole days apart) as well as anywhere.
VALUE = st.one_of(st.none(), st.sampled_from([0.0, 1.0, 40.0, 79.5, 80.0, 90.0, 99.0, 100.0, 120.0, 150.0]),
                  st.floats(0, 160, allow_nan=False, width=32))
AGE = st.one_of(st.sampled_from([d * DAY for d in (-1, 0, 1, 2, 3, 7, 10, 20, 30, 31, 37, 45)]),
                st.integers(-3 * DAY, 60 * DAY))
METRICS = st.lists(st.tuples(st.sampled_from(["tickets", "usage"]), AGE, VALUE),
                   max_size=8, unique_by=lambda m: (m[0], m[1]))
PERSON = st.tuples(
    st.fixed_dictionaries({"plan": st.sampled_from(["trial", "paid", None]),
                           "seats": st.sampled_from([100, "120", "1,000", 0, -5, "many", None, True])}),
    st.one_of(st.none(), st.fixed_dictionaries({"plan_limit": st.sampled_from([90, "150", 0, None])})),
    st.just("a@co.io"),
    st.lists(st.tuples(st.just("Logged In"), st.integers(0, 30 * DAY), st.just({})), max_size=3),
    st.none(), METRICS)


def latest_at(metrics: list, name: str, moment: int):
    """(value, moment) of the newest row of the metric at or before the moment, as the store's query reads it."""
    rows = [(AS_OF - age, value) for n, age, value in metrics if n == name and AS_OF - age <= moment]
    if not rows:
        return None
    at, value = max(rows)
    return value, at


def python_features(model, events: list, metrics: list, as_of: int) -> dict:
    features = reference_features([model], events, as_of)
    for point in metric_points([model]):
        if point.back == 0 and latest_at(metrics, point.name, as_of) is not None:
            features[f"metric:{point.name}"] = latest_at(metrics, point.name, as_of)[0]
    for leaf in model_leaves([model]):
        if isinstance(leaf, QuotaCondition):
            now = latest_at(metrics, leaf.metric, as_of)
            if now is not None:
                before = latest_at(metrics, leaf.metric, as_of - leaf.rate_window) or (None, None)
                features[leaf.feature_key] = (now[0], now[1], before[0], before[1])
    return features


@SETTINGS
@given(model=metric_models(), people=st.lists(PERSON, min_size=1, max_size=6),
       later=st.one_of(st.sampled_from([0, DAY, 7 * DAY]), st.integers(0, 40 * DAY)))
def test_metric_and_quota_conditions_plan_as_evaluate(model, people, later):
    as_of = AS_OF + later
    con = duckdb.connect()
    load(con, [p[:5] for p in people])
    points = metric_points([model])
    rows = {}
    for pid, person in enumerate(people, start=1):
        row = []
        for point in points:
            row += list(latest_at(person[5], point.name, as_of - point.back) or (None, None))
        if any(v is not None for v in row[1::2]):
            rows[pid] = row
    load_points(con, [(value_column(i), at_column(i)) for i in range(len(points))], rows)
    plan = plan_over(con, [model], as_of, metrics=True)
    assert list(plan.columns) == [r[0] for r in con.execute(f"DESCRIBE {plan.sql}").fetchall()]
    got = dict(results(con, plan))
    for pid, (record, account, email, history, _, metrics) in enumerate(people, start=1):
        events = [{"event": n, "ts": AS_OF - age, "properties": props} for n, age, props in history]
        features = python_features(model, events, metrics, as_of)
        rec = flat(record, account, email, pid)
        expected = evaluate(model, rec, features, as_of) if in_population(model, rec, features, as_of) else None
        assert got[pid][model.name] == expected, (pid, plan.sql)


def test_points_are_the_metrics_and_quota_moments_the_models_read():
    model = model_from_yaml(
        "model: m\nlabel: M\nstage: expansion\nsubject: person\nbehaviour:\n"
        "  - {id: a, label: A, points: 5, when: {quota: usage, limit: 10, rate_over: 7d, percent: {at_least: 1}}}\n"
        "  - {id: b, label: B, points: 5, when: {metric: tickets, at_least: 1}}\n"
        "  - {id: c, label: C, points: 5, when: {quota: usage, limit: seats, days_to_limit: {at_most: 3}}}\n")
    assert metric_points([model]) == (MetricPoint("tickets"), MetricPoint("usage"), MetricPoint("usage", 7 * DAY),
                                      MetricPoint("usage", 30 * DAY))


def test_the_duckdb_engine_plans_health_and_upsell_and_stores_what_the_per_person_engine_stores(store, default_rules):
    seed(store, people=60)
    with store.begin() as conn:
        upsert_accounts(conn, [{"external_id": f"w{i}", "attributes": {"plan_limit": [1000, "800", None][i % 3]}}
                               for i in range(6)])
        upsert_metrics(conn, [
            {"person_id": pid, "name": name, "as_of": AS_OF - back * DAY, "value": value}
            for pid in range(1, 61) for name, back, value in [
                ("plan_usage", 0, 700 + 7 * pid), ("plan_usage", 20, 500 + 3 * pid), ("plan_usage", 40, 100.0),
                ("open_support_tickets", pid % 5, float(pid % 3))] if pid % 4])
    models = [m for m in default_rules.models if m.subject == "person"]
    assert {m.name for m in plannable(models, metrics=True)[0]} == {"conversion", "health", "upsell"}
    summary = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert summary.models["upsell"].scored > 0 and summary.models["health"].scored > 0
    with store.read() as conn:
        fired = {tuple(x[0] for x in r.reasons or []) for r in conn.execute(schema.results.select())}
    assert any("quota_80" in rules for rules in fired)
    assert any("unresolved_support" in rules for rules in fired)
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)
    with store.begin() as conn:  # a metric moved: the next incremental run sees it
        upsert_metrics(conn, [{"person_id": 3, "name": "open_support_tickets", "as_of": AS_OF, "value": 9.0}])
        forget_results(conn)
    score(store, default_rules, AS_OF, mode="changed", engine="duckdb", workers=1)
    duck = stored(store)
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)
    assert stored(store) == duck


@pytest.mark.parametrize("measure", ["percent", "days_to_limit"])
def test_quota_values_in_sql_are_engine_usage_s_on_a_grid_of_edges(measure):
    cond = QuotaCondition("usage", 100, measure, None, 7 * DAY)
    points = (MetricPoint("usage"), MetricPoint("usage", 7 * DAY))
    expr = ir.render(PointColumns(points, lambda field: []).quota(cond))
    grid = list(itertools.product([None, 0.0, 47.0, 79.5, 99.99, 100.0, 130.0],  # now
                                  [None, 0.0, 42.0, 47.0, 60.0],  # before
                                  [0, DAY, 2 * DAY, 7 * DAY, 7 * DAY + 1, 30 * DAY],  # how long before
                                  [True, False]))  # whether the person has a point now
    con = duckdb.connect()
    con.execute('CREATE TABLE t (i INTEGER, "m:0" DOUBLE, "ma:0" BIGINT, "m:1" DOUBLE, "ma:1" BIGINT)')
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                    [(i, now, AS_OF if has else None, before, AS_OF - span if span or before is not None else None)
                     for i, (now, before, span, has) in enumerate(grid)])
    got = dict(con.execute(f"SELECT i, {expr} FROM t").fetchall())
    for i, (now, before, span, has) in enumerate(grid):
        before_at = AS_OF - span if span or before is not None else None
        usage = {cond.feature_key: (now, AS_OF, before, before_at)} if has else {}
        assert got[i] == quota_value(cond, {}, usage, AS_OF), (now, before, span, has)


def test_models_the_plan_takes_over_from_the_per_person_engine_are_not_written_again(store, default_rules,
                                                                                     monkeypatch):
    from crm_app.services.scoring import run
    seed(store, people=40)
    with store.begin() as conn:
        upsert_metrics(conn, [{"person_id": pid, "name": "open_support_tickets", "as_of": AS_OF - DAY,
                               "value": float(pid % 2)} for pid in range(1, 41)])
    planned = run.plannable
    monkeypatch.setattr(run, "plannable", lambda models, metrics=False: planned(models, False))
    first = score(store, default_rules, AS_OF, engine="duckdb", workers=1)  # health and upsell per person
    assert first.models["conversion"].changed > 0
    monkeypatch.undo()
    with store.read() as conn:
        history = conn.execute(schema.score_history.select()).all()
    again = score(store, default_rules, AS_OF, engine="duckdb", workers=1)  # now all three planned
    assert {name: again.models[name].changed for name in ("conversion", "health", "upsell")} == \
        {"conversion": 0, "health": 0, "upsell": 0}
    with store.read() as conn:
        assert conn.execute(schema.score_history.select()).all() == history
