"""`exists` conditions in the set-wise plan are decided on a field's blank texts alone (null, an empty list, a
string of whitespace only), so a field holding a value per person (an id) is never listed value by value,
and every text still gets what the engine's own predicate gives it."""
from __future__ import annotations

import duckdb
import pytest

from crm_app.services.scoring.setwise import plan_over, results
from tests.helpers import AS_OF, model_from_yaml
from tests.test_setwise_plan import assert_as_evaluate, load

BLANKS_AND_VALUES = ["u1", "", "   ", "\u00a0\u2003\t\n", [], [""], ["a"], 0, False, {"k": 1}, None, "null", " x "]
MODEL = """model: m
label: M
stage: conversion
subject: person
fit:
  - {id: has_id, label: Has an id, points: 10, when: {field: code, exists: true}}
  - {id: no_id, label: Has no id, points: 5, when: {field: code, exists: false}}
  - {id: team, label: Team, points: 3, when: {any: [{field: team, exists: true}, {field: team, equals: x}]}}
"""


@pytest.mark.parametrize("scoped", [False, True])
def test_exists_on_blank_and_plain_texts_equals_evaluate(scoped):
    model = model_from_yaml(MODEL)
    people = [({"code": value, "team": value} if value is not None else {}, None, "a@co.io", [], None)
              for value in BLANKS_AND_VALUES]
    con = duckdb.connect()
    load(con, people)
    ids = list(range(1, len(people) + 1))
    plan = plan_over(con, [model], AS_OF, scope_ids=ids if scoped else None)
    got = dict(results(con, plan))
    assert_as_evaluate(model, people, AS_OF, got, plan.sql)
    fired = {pid for pid, r in got.items() if any(x.rule == "has_id" for x in r["m"].reasons)}
    assert fired == {1, 6, 7, 8, 9, 10, 12, 13}  # "u1", [""], ["a"], 0, False, {...}, "null" (a string), " x "


def test_an_id_field_is_not_listed_value_by_value():
    model = model_from_yaml(MODEL)
    people = [({"code": f"id-{n:05d}"}, None, "a@co.io", [], None) for n in range(300)]
    con = duckdb.connect()
    load(con, people)
    plan = plan_over(con, [model], AS_OF)
    assert "id-00042" not in plan.sql
    assert all(any(x.rule == "has_id" for x in r["m"].reasons) for _, r in results(con, plan))


def test_blank_texts_are_a_superset_of_the_texts_holding_no_value():
    from crm_app.engine.setwise.fields import maybe_blank
    from crm_app.store.columnar.relations import blank_texts
    texts = ['"u1"', '""', '"   "', '"\u00a0\u2003"', '"\\u00a0\\t"', '" x "', '[]', '[ ]', ' []', '[""]', 'null',
             ' null ', '"null"', '0', 'false', '{}', '"\\\\"', '"\\"\\""', '  "u1"', '"\u2003x"']
    con = duckdb.connect()
    con.execute('CREATE TABLE subj (person_id BIGINT, "v:f" VARCHAR)')
    con.executemany("INSERT INTO subj VALUES (?, ?)", list(enumerate(texts)))
    found = set(blank_texts(con, "subj", "v:f"))
    assert {t for t in texts if maybe_blank(t)} <= found
    assert found == {'""', '"   "', '"\u00a0\u2003"', '"\\u00a0\\t"', '[]', '[ ]', ' []', 'null', ' null '}
