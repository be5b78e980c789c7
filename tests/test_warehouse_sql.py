"""The compiled plan as BigQuery and Snowflake SQL: golden files of the generated text (regenerate with
UPDATE_GOLDEN=1 and read the diff), each parsed by SQLGlot in its dialect, and the dialect rules that differ
from DuckDB's checked on their own."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

from crm_app.engine.setwise import ir
from crm_app.engine.setwise.features import Catalog
from crm_app.engine.setwise.fields import FieldCatalog
from crm_app.engine.setwise.plan import build_plan
from tests.helpers import AS_OF, model_from_yaml

GOLDEN = Path(__file__).parent / "golden"
MODEL = """model: trial
label: Trial PQL
stage: conversion
subject: person
fit:
  - id: senior
    label: Senior title
    points: 20
    when: {field: title, matches: '\\b(vp|director)\\b'}
  - id: big_account
    label: Account of 50+
    points: 15
    when: {field: account.employees, at_least: 50}
behaviour:
  - id: active
    label: Active this week
    points: 25
    when: {event: Logged In, within: 7d, count: {at_least: 3}}
  - id: pricing
    label: Looked at pricing
    points: 10
    when: {event: [Page Viewed, Logged In], where: {property: path, starts_with: /pricing}, count: {at_least: 1}}
  - id: quiet
    label: Quiet
    points: -15
    when: {event: Logged In, days_since_last: {at_least: 14}}
decay: {points: 5, every: 7d, floor: 0}
recency: {full_points_within: 7d, reduced_after: 30d, reduced_factor: 0.5}
bands: {high: 60, medium: 30}
pql: {threshold: 50, min_fit: 10}
clamp: [0, 100]
"""
VALUES = {"path": ['"/pricing"', '"/pricing/it\'s"', '"/docs"', '"C:\\\\path"'],
          "title": ['"VP Data"', '"Engineer"', '"Director of it\'s"'], "account.employees": ["12", "400"]}


def plan_sql(dialect) -> str:
    catalog = Catalog({"logged in": 1, "page viewed": 2}, lambda name: VALUES[name])
    fields = FieldCatalog(lambda name: VALUES[name])
    return build_plan([model_from_yaml(MODEL)], catalog, fields, AS_OF, dialect=dialect).sql + "\n"


@pytest.mark.parametrize("dialect", [ir.BIGQUERY, ir.SNOWFLAKE, ir.SPARK], ids=lambda d: d.name)
def test_generated_sql_matches_the_golden_file_and_parses_in_its_dialect(dialect):
    sql = plan_sql(dialect)
    golden = GOLDEN / f"plan.{dialect.name}.sql"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(sql)
    assert sql == golden.read_text()
    parsed = sqlglot.parse_one(sql, read=dialect.name)
    assert parsed.find(sqlglot.exp.With) is not None


@pytest.mark.parametrize("dialect,node,text", [
    (ir.BIGQUERY, ir.idiv(ir.col("a"), ir.lit(7)), "DIV(`a`, 7)"),
    (ir.SNOWFLAKE, ir.idiv(ir.col("a"), ir.lit(7)), 'CAST((("a") - MOD("a", 7)) / (7) AS BIGINT)'),
    (ir.BIGQUERY, ir.to_int(ir.col("x")), "CAST(TRUNC(`x`) AS INT64)"),
    (ir.BIGQUERY, ir.lit(0.5), "CAST(0.5 AS FLOAT64)"),
    (ir.BIGQUERY, ir.col("v:account.industry"), "`v_3a_account_2e_industry`"),
    (ir.SNOWFLAKE, ir.col("v:account.industry"), '"v:account.industry"'),
    (ir.BIGQUERY, ir.lit("it's \\ ok"), "'it\\'s \\\\ ok'"),
    (ir.SNOWFLAKE, ir.fn("greatest", ir.col("a"), ir.col("b")), 'greatest(coalesce("a", "b"), coalesce("b", "a"))'),
    (ir.DUCKDB, ir.fn("greatest", ir.col("a"), ir.col("b")), 'greatest("a", "b")'),
])
def test_dialect_rules(dialect, node, text):
    assert ir.render(node, dialect) == text


def test_bigquery_names_keep_plain_characters_and_encode_the_rest():
    names = ["v:a.b", "v:a_b", "v_a.b", "v:a:b", "f:1", "f_1", "f:1_", "type_id"]
    assert len({ir.BIGQUERY.ident(n) for n in names}) == len(names)
    assert ir.BIGQUERY.ident("type_id") == "`type_id`" and ir.BIGQUERY.ident("v:\u00e9") == "`v_3a__e9_`"


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake"])
def test_plan_sql_command_prints_sql_built_from_the_store(runner, config, tmp_path, monkeypatch, dialect):
    from crm_app.store import Store
    from tests.test_duckdb_engine import seed
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "copy.duckdb"))
    store = Store(config.database_url)
    seed(store)
    store.dispose()
    code, out, err = runner("plan-sql", "--dialect", dialect, "--as-of", "2026-09-21T14:13:20Z")
    assert code == 0, err
    assert "-- health left out: MetricCondition conditions are scored by the per-person engine" in out
    sql = "\n".join(line for line in out.splitlines() if not line.startswith("--"))
    statement = sqlglot.parse_one(sql.rstrip(";\n"), read=dialect)
    assert str(AS_OF) in sql and "'\"trial\"'" in sql  # the plan's moment and a field value the store holds
    assert statement.find(sqlglot.exp.With) is not None
