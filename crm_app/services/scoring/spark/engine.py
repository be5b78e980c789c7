"""Scoring run on the set-wise plan in Apache Spark: the DuckDB copy is caught up from the store as for the
DuckDB engine, its relations go to Spark as Parquet, Spark runs the one query, and only the rows whose
result hash differs from the mirror's come back to be rendered and saved (write-back and playbooks read
the store's results, so they see exactly what changed)."""
from __future__ import annotations

import tempfile


from crm_app.engine.setwise import ir
from crm_app.engine.setwise.fields import field_column
from crm_app.engine.setwise.plan import feature_column
from crm_app.engine.setwise.scores import model_column
from crm_app.services.scoring.diff import ModelSummary, top_movers
from crm_app.services.scoring.duck_engine import FETCH, _save, open_caught_up, with_hand_offs
from crm_app.services.scoring.spark.relations import needs, plan_from_copy, q, register
from crm_app.services.scoring.spark.session import spark_session
from crm_app.store import Store
from crm_app.store.columnar import mirror
from crm_app.store.columnar.exchange import export_relations, record_changed
from crm_app.store.columnar.relations import ensure_typed_properties
from crm_app.store.scoring import results as results_store

HASH_MASK = (1 << 63) - 1
BATCH = 20_000  # changed rows per Arrow transfer


def result_hash(plan, model, columns: set) -> str:
    """A Spark expression hashing everything a stored result of this model is made of (days_inactive aside).
    It differs from the DuckDB engine's hash, so the first run after switching engines compares every result
    against the store (and writes none that did not change)."""
    out = plan.outputs[model.name]
    cols = [n for what, n in out["result"].items() if what != "days_inactive"]
    for names in out["rules"].values():
        cols += [names["fired"], names["points"]]
    parts = [q(c) for c in cols if c in columns]
    parts += [f"({q(names['age'])} div 604800) AS {q(names['age'] + ':weeks')}"
              for names in out["rules"].values() if names["age"] in columns]
    parts += [q(feature_column(i)) for i in range(len(plan.aggregates))] + [q(field_column(f)) for f in plan.fields]
    return f"(xxhash64(to_json(struct({', '.join(parts)}))) & {HASH_MASK})"


def score_spark(store: Store, models: list, rules_hash: str, as_of: int, scope_ids=None, dry_run: bool = False,
                claimed=(), events=None, spark=None) -> tuple[int, dict]:
    """(people scored, model -> ModelSummary) for the plannable person models, computed by Spark."""
    read, handed, scope_ids, claimed = with_hand_offs(store, scope_ids, claimed)
    con = open_caught_up(store, models, scope_ids, claimed, events, handed=handed)
    try:
        spark = spark or spark_session()
        fields, properties = needs(models)
        ensure_typed_properties(con, properties)
        with tempfile.TemporaryDirectory(prefix="pql-spark-") as folder:
            register(spark, export_relations(con, folder, fields, properties, scope_ids, events))
            people, summaries = score_registered(spark, store, con, models, rules_hash, as_of,
                                                 scope_ids is not None, dry_run)
        if not dry_run:
            with store.begin() as conn:
                mirror.new_epoch(con, conn)
                results_store.acknowledge_hand_off(conn, read)
        return people, summaries
    finally:
        con.close()


def score_registered(spark, store: Store, con, models: list, rules_hash: str, as_of: int, scoped: bool,
                     dry_run: bool) -> tuple[int, dict]:
    """Run the plan over the registered views; save what changed; keep the copy's mirror in step."""
    plan = plan_from_copy(con, models, as_of, scoped)
    scored = spark.sql(plan.sql).persist()
    try:
        scored.createOrReplaceTempView("scored")
        people = scored.count()
        columns = set(scored.columns)
        summaries = {m.name: _score_model(spark, store, con, plan, columns, m, rules_hash, dry_run) for m in models}
        return people, summaries
    finally:
        scored.unpersist()


def _changed_rows(spark, plan, model, columns: set):
    inpop = q(model_column(model, "in_population"))
    h = result_hash(plan, model, columns)
    return spark.sql(
        f"SELECT s.*, {h} AS `@h`, pe.external_id AS `@external_id` FROM scored s "
        f"LEFT JOIN prev p ON p.model = {ir.render(ir.lit(model.name), ir.SPARK)} AND p.subject_id = s.person_id "
        f"LEFT JOIN people pe ON pe.id = s.person_id "
        f"WHERE (s.{inpop} AND (p.h IS NULL OR p.h <> CAST({h} AS STRING))) "
        f"OR (NOT s.{inpop} AND p.subject_id IS NOT NULL)")


def changed_batches(frame, size: int = BATCH):
    """The frame's rows as lists of dicts, about `size` at a time, each batch one Arrow transfer of a range of
    person ids (ranges cut at approximate quantiles, so clustered ids still make even batches). Nothing comes
    back when nothing changed."""
    frame = frame.persist()
    try:
        n = frame.count()
        if not n:
            return
        parts = max(1, -(-n // size))
        cuts = [] if parts == 1 else frame.selectExpr(
            f"percentile_approx(person_id, array({', '.join(str(i / parts) for i in range(1, parts))}), 10000)"
        ).first()[0]
        bounds = [None, *sorted(set(cuts)), None]
        for lo, hi in zip(bounds, bounds[1:]):
            where = " AND ".join(([f"person_id > {lo}"] if lo is not None else [])
                                 + ([f"person_id <= {hi}"] if hi is not None else [])) or "TRUE"
            table = frame.where(where).orderBy("person_id").toArrow()
            if table.num_rows:
                yield table.to_pylist()
    finally:
        frame.unpersist()


def _score_model(spark, store: Store, con, plan, columns: set, model, rules_hash: str,
                 dry_run: bool) -> ModelSummary:
    summary = ModelSummary(model.name)
    inpop, pql, since, first, fit, behaviour, combined, band = (model_column(model, w) for w in (
        "in_population", "pql", "pql_since", "pql_first_at", "fit", "behaviour", "combined", "band"))
    kept, dropped, digests = [], [], {}
    for batch in changed_batches(_changed_rows(spark, plan, model, columns)):
        summary.rendered += len(batch)
        for row in batch:
            if row[inpop]:
                kept.append((row["person_id"], row[pql], row[since], row[first], row["@h"], row[fit],
                             row[behaviour], row[combined], row[band]))
            else:
                dropped.append(row["person_id"])
        for start in range(0, len(batch), FETCH):
            digests.update(_save(store, plan, model, batch[start:start + FETCH], rules_hash, summary, dry_run))
    counts = spark.sql(f"SELECT {q(band)}, count(*) FROM scored WHERE {q(inpop)} GROUP BY {q(band)}").collect()
    summary.run_bands = {b: n for b, n in counts}
    summary.scored = sum(summary.run_bands.values())
    summary.movers = top_movers(summary.movers)
    if not dry_run:
        record_changed(con, model.name, [(*k, digests.get(k[0])) for k in kept], dropped)
    return summary
