"""Results computed in the warehouse come back: the DuckDB-dialect plan-sql query run over exported relations
as a warehouse would run it, its table exported as Parquet or CSV, `import scores` writes what `score
--engine duckdb` writes; bad rows are refused with their reason and the good ones kept."""
from __future__ import annotations

import duckdb
import pytest

from crm_app.engine.setwise import ir
from crm_app.store import Store, schema
from tests.helpers import AS_OF

AS_OF_TEXT = "2026-09-21T14:13:20Z"


def warehouse_table(store, tmp_path, default_rules, fmt: str) -> str:
    """Run plan-sql's DuckDB query over the plan's relations, loaded into a separate 'warehouse' database
    under their plain names, and export its whole output table."""
    from crm_app.services.scoring.duck_engine import copy_path
    from crm_app.services.scoring.spark.relations import needs
    from crm_app.services.scoring.warehouse_sql import plan_sql
    from crm_app.store.columnar import mirror
    from crm_app.store.columnar.exchange import export_relations
    from crm_app.store.columnar.relations import ensure_typed_properties
    sql, left_out = plan_sql(store, default_rules.models, AS_OF, "duckdb")
    models = [m for m in default_rules.models if m.name not in {model.name for model, _ in left_out}]
    copy = mirror.open_copy(copy_path(store.url))
    fields, properties = needs(models)
    ensure_typed_properties(copy, properties)
    files = export_relations(copy, str(tmp_path), fields, properties)
    copy.close()
    warehouse = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for name, (path, mapping) in files.items():
        select = ", ".join(f'{plain} AS "{column}"' for plain, column in mapping)
        warehouse.execute(f"CREATE TABLE {name} AS SELECT {select} FROM read_parquet('{path}')")
    warehouse.execute(f"CREATE TABLE pql_scores AS {sql}")
    fmt, _, names = fmt.partition("-")
    select = "*"
    if names == "bigquery":  # the column names BigQuery gives the same table (conversion_3a_combined)
        columns = [d[0] for d in warehouse.execute("SELECT * FROM pql_scores LIMIT 0").description]
        select = ", ".join(f'"{c}" AS "{ir.BIGQUERY.ident(c)[1:-1]}"' for c in columns)
        assert "conversion_3a_combined" in select
    out = str(tmp_path / f"pql_scores.{fmt}")
    warehouse.execute(f"COPY (SELECT {select} FROM pql_scores) TO '{out}' (FORMAT {fmt.upper()})")
    warehouse.close()
    return out


def stored(store) -> dict:
    with store.read() as conn:
        return {(r.model, r.subject_id): (r.combined, r.band, r.pql, r.pql_since, r.reasons, r.digest, r.as_of)
                for r in conn.execute(schema.results.select())}


def delete_results(store) -> None:
    from crm_app.store.columnar.mirror import forget_epoch
    with store.begin() as conn:
        conn.execute(schema.results.delete())
        conn.execute(schema.score_history.delete())
        forget_epoch(conn)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "parquet-bigquery"])
def test_imported_warehouse_results_equal_the_duckdb_engine_s(runner, config, tmp_path, default_rules, fmt):
    from crm_app.services.scoring.run import score
    from tests.test_duckdb_engine import seed
    store = Store(config.database_url)
    import dataclasses
    from crm_app.services.scoring.warehouse_sql import plan_sql
    seed(store)
    table = warehouse_table(store, tmp_path, default_rules, fmt)
    # The warehouse computes what the plan expresses; the account rollups then read only those people's results
    # (a member outside the conversion population has none), so the local run scores the same models.
    left_out = {model.name for model, _ in plan_sql(store, default_rules.models, AS_OF, "duckdb")[1]}
    assert left_out and "conversion" not in left_out
    planned = dataclasses.replace(default_rules, models=tuple(m for m in default_rules.models
                                                       if m.name not in left_out or m.subject == "account"))
    score(store, planned, AS_OF, engine="duckdb", workers=1)
    expected = {k: v for k, v in stored(store).items() if k[0] == "conversion"}
    expected_accounts = {k: v for k, v in stored(store).items() if k[0] == "account"}
    delete_results(store)
    code, out, err = runner("import", "scores", table, "--as-of", AS_OF_TEXT)
    assert code == 0, out + err
    assert "60 rows read, 60 people imported, 0 results refused" in out
    got = stored(store)
    assert {k: v for k, v in got.items() if k[0] == "conversion"} == expected
    assert {k: v for k, v in got.items() if k[0] == "account"} == expected_accounts
    with store.read() as conn:
        history = conn.execute(schema.score_history.select()).all()
        run = conn.execute(schema.score_runs.select().order_by(schema.score_runs.c.id.desc())).first()
    assert len([h for h in history if h.model == "conversion"]) == len(expected)
    assert run.mode == "import" and run.changed == len(expected)
    code, out, _ = runner("import", "scores", table, "--as-of", AS_OF_TEXT)  # again: nothing changed
    assert code == 0 and "conversion: 0 changed" in out and stored(store) == got
    store.dispose()


def test_bad_rows_are_refused_with_their_reason_and_good_ones_kept(runner, config, tmp_path, default_rules):
    store = Store(config.database_url)
    from tests.test_duckdb_engine import conversion_population, seed
    seed(store)
    population = conversion_population(store)
    band, infinite, nan, unknown, twice = sorted(population)[:5]  # people the conversion model scores
    table = warehouse_table(store, tmp_path, default_rules, "parquet")
    bad = str(tmp_path / "bad.parquet")
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT * REPLACE (
        CASE WHEN person_id = {band} THEN 'bogus' ELSE "conversion:band" END AS "conversion:band",
        CASE WHEN person_id = {infinite} THEN 'inf'::DOUBLE WHEN person_id = {nan} THEN 'nan'::DOUBLE
             ELSE "conversion:combined" END AS "conversion:combined",
        CASE WHEN person_id = {unknown} THEN 999999 ELSE person_id END AS person_id),
        true AS "retired:in_population"
        FROM read_parquet('{table}') UNION ALL SELECT *, true FROM read_parquet('{table}') WHERE person_id = {twice})
        TO '{bad}' (FORMAT PARQUET)""")
    code, out, _ = runner("import", "scores", bad, "--as-of", AS_OF_TEXT)
    assert code == 1
    for reason in [f"person_id {band}: model conversion: band is 'bogus', not one of high, medium, low",
                   f"person_id {infinite}: model conversion: combined is inf, not a finite whole number",
                   f"person_id {nan}: model conversion: combined is nan, not a finite whole number",
                   "person_id 999999 is not a person in the store",
                   f"person_id {twice} appears twice; the first row was kept",
                   "model retired: not a set-wise model of the active rule set; its columns were ignored"]:
        assert reason in out
    results = stored(store)
    subjects = {s for m, s in results if m == "conversion"}
    refused = {band, infinite, nan, unknown}
    assert subjects == population - refused  # the good rows are kept
    store.dispose()


@pytest.mark.parametrize("args,message", [
    (["import", "scores", "{tmp}/x.json", "--as-of", AS_OF_TEXT], "export the result table as .parquet or .csv"),
    (["import", "scores", "{tmp}/t.csv"], "import scores needs --as-of"),
    (["import", "scores", "{tmp}/t.csv", "--as-of", AS_OF_TEXT], "no model of the active rule set has its columns"),
])
def test_unusable_files_are_refused_whole_with_the_fix(runner, tmp_path, args, message):
    (tmp_path / "x.json").write_text("{}")
    (tmp_path / "t.csv").write_text("person_id,score\n1,10\n")
    code, out, err = runner(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2 and message in out + err


def test_a_file_from_other_rule_files_is_refused(runner, config, tmp_path, default_rules):
    from tests.test_duckdb_engine import seed
    store = Store(config.database_url)
    seed(store)
    table = warehouse_table(store, tmp_path, default_rules, "parquet")
    other = str(tmp_path / "other.parquet")
    rule = next(m for m in default_rules.models if m.name == "conversion").rules[0]
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT * EXCLUDE ("conversion:{rule.id}:fired") FROM read_parquet('{table}'))
                    TO '{other}' (FORMAT PARQUET)""")
    code, out, err = runner("import", "scores", other, "--as-of", AS_OF_TEXT)
    assert code == 2 and f"column 'conversion:{rule.id}:fired' is missing" in out + err
    assert "run plan-sql again with the active ones" in out + err
    store.dispose()
