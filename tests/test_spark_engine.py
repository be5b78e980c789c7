"""The set-wise plan on Apache Spark: the same results as the per-person reference on random rule sets and
histories, and `score --engine spark` on a store gives what `--engine duckdb` gives, writing only changes."""
from __future__ import annotations

import os

import duckdb
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from crm_app.engine.setwise.reasons import result_of
from crm_app.services.scoring.spark.relations import needs, plan_in_spark, register
from crm_app.store.columnar.exchange import export_relations
from crm_app.store.columnar.relations import ensure_typed_properties
from tests.helpers import AS_OF, DAY
from tests.test_setwise_plan import (ACCOUNT, HISTORY, PROPS, RECORD, assert_as_evaluate, insert_prev, load,
                                     rule_sets)

# Values Spark SQL's string literals would mangle if quoted the standard-SQL way: quotes and backslashes.
HOSTILE = st.sampled_from(["it's", "back\\slash", "\\'", "q\"uote", "%_", "é"])
HOSTILE_RECORD = RECORD.map(lambda r: r) | st.fixed_dictionaries({
    "title": HOSTILE, "region": HOSTILE, "plan": st.sampled_from(["trial", "it's"]), "seats": st.just(None),
    "job_function": HOSTILE})
HOSTILE_PROPS = PROPS | st.fixed_dictionaries({"path": HOSTILE.map(lambda s: "/pricing" + s), "topic": HOSTILE,
                                               "feature": HOSTILE})
PERSON = st.tuples(HOSTILE_RECORD, ACCOUNT, st.sampled_from(["a@gmail.com", "o'neil@mit.edu", None]),
                   st.lists(st.tuples(st.sampled_from(["Logged In", "Feature Used", "Page Viewed", "Support Contacted",
                                                       "Session Ended", "Invite Sent"]),
                                      st.integers(-2 * DAY, 120 * DAY), HOSTILE_PROPS), max_size=12) | HISTORY,
                   st.one_of(st.none(), st.tuples(st.booleans(), st.integers(AS_OF - 90 * DAY, AS_OF))))


def spark_results(spark, tmp_path, con, models, as_of):
    fields, properties = needs(models)
    ensure_typed_properties(con, properties)
    register(spark, export_relations(con, str(tmp_path), fields, properties))
    plan = plan_in_spark(spark, models, as_of)
    return {row["person_id"]: {m.name: result_of(plan, m, row) for m in models}
            for row in (r.asDict() for r in spark.sql(plan.sql).collect())}


@settings(max_examples=int(os.environ.get("SPARK_PLAN_EXAMPLES", "3")), deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], print_blob=True)
@given(model=rule_sets(), people=st.lists(PERSON, min_size=1, max_size=5), later=st.integers(0, 90 * DAY))
def test_spark_plan_equals_evaluate_on_random_rule_sets_and_histories(spark, tmp_path_factory, model, people, later):
    as_of = AS_OF + later
    con = duckdb.connect()
    load(con, people)
    insert_prev(con, model, people)
    got = spark_results(spark, tmp_path_factory.mktemp("rel"), con, [model], as_of)
    assert set(got) == set(range(1, len(people) + 1))
    assert_as_evaluate(model, people, as_of, got)


def test_spark_engine_stores_what_the_duckdb_and_store_engines_store(store, default_rules, spark, tmp_path,
                                                                    monkeypatch):
    from crm_app.services.scoring.run import score
    from crm_app.store import schema
    from crm_app.store.people import mark_dirty
    from tests.test_duckdb_engine import conversion_population, seed, stored
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "copy.duckdb"))
    seed(store)
    score(store, default_rules, AS_OF, engine="store", workers=1)
    expected = stored(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
    summary = score(store, default_rules, AS_OF, engine="spark", workers=1)
    assert stored(store) == expected
    population = conversion_population(store)
    assert summary.models["conversion"].scored == len(population) == summary.models["conversion"].changed > 0
    assert summary.models["conversion"].rendered == len(population)
    before = written(store)
    again = score(store, default_rules, AS_OF + 60, engine="spark", workers=1)
    # No new events: no result comes back from Spark, and nothing is written (as_of and history included).
    assert again.models["conversion"].rendered == 0 and again.models["conversion"].changed == 0
    assert written(store) == before
    switched = score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert switched.models["conversion"].changed == 0 and stored(store) == expected
    changed = list(range(1, 61, 3))
    for engine in ("spark", "store"):  # an incremental run 20 days on; then the store engine agrees with it
        with store.begin() as conn:
            mark_dirty(conn, changed)
        later = score(store, default_rules, AS_OF + 20 * DAY, engine=engine, mode="changed", workers=1)
        assert later.models["conversion"].scored == len(population & set(changed)) > 0
        assert (later.models["conversion"].changed > 0) == (engine == "spark")


def written(store) -> tuple:
    from crm_app.store import schema
    with store.read() as conn:
        return (sorted(tuple(r) for r in conn.execute(schema.results.select())),
                sorted(tuple(r) for r in conn.execute(schema.score_history.select())))


@pytest.mark.parametrize("rows,size", [(0, 5), (1, 5), (60, 7), (60, 1000), (200, 9)])
def test_changed_rows_come_back_in_arrow_batches_of_about_the_size_asked(spark, rows, size):
    from crm_app.services.scoring.spark.engine import changed_batches
    ids = [i * i % 1009 + (500 if i % 3 else 0) for i in range(rows)]  # clustered, not dense
    frame = spark.createDataFrame([(pid, f"u{pid}", pid % 2 == 0) for pid in set(ids)],
                                  "person_id long, `@external_id` string, `m:x` boolean")
    batches = list(changed_batches(frame, size))
    got = [r["person_id"] for b in batches for r in b]
    assert got == sorted(set(ids))
    assert all(len(b) <= 2 * size for b in batches) and len(batches) <= -(-len(got) // size) + 1
    assert all(r["@external_id"] == f"u{r['person_id']}" and r["m:x"] == (r["person_id"] % 2 == 0)
               for b in batches for r in b)


def test_string_literals_reach_spark_unchanged(spark):
    from crm_app.engine.setwise import ir
    texts = ["it's", "back\\slash", "\\'", '"q"', "''", "tab\there", "é"]
    row = spark.sql("SELECT " + ", ".join(f"{ir.render(ir.lit(t), ir.SPARK)} AS c{i}"
                                          for i, t in enumerate(texts))).collect()[0]
    assert list(row) == texts


def test_without_java_the_spark_engine_says_what_is_missing(runner, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    code, out, err = runner("score", "--engine", "spark")
    assert code != 0 and "no Java runtime (set JAVA_HOME or put java 17+ on PATH" in err + out
