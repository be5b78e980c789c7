"""The plan's relations as Spark temp views, and the plan built against what those views hold."""
from __future__ import annotations

from crm_app.engine.plan import feature_plan
from crm_app.engine.setwise import ir
from crm_app.engine.setwise.features import Catalog, event_properties, prop_column
from crm_app.engine.setwise.fields import FieldCatalog, field_column, record_fields
from crm_app.engine.setwise.plan import ScorePlan, build_plan

q = ir.SPARK.ident


def needs(models) -> tuple[tuple, tuple]:
    """(record fields, event properties) the models read: the columns the relations must carry."""
    aggregates = tuple(a for a in feature_plan(models) if a.measure != "quota")
    return record_fields(models), event_properties(aggregates)


def register(spark, files: dict) -> None:
    """Each exported relation {name: (parquet path, [(file column, plan column)])} as a temp view `name`."""
    for name, (path, mapping) in files.items():
        frame = spark.read.parquet(path)
        frame.selectExpr(*[f"{plain} AS {q(column)}" for plain, column in mapping]).createOrReplaceTempView(name)


def distinct_values(spark, relation: str, column: str) -> list:
    return [r[0] for r in spark.sql(f"SELECT DISTINCT {q(column)} FROM {relation}").collect()]


def plan_from_copy(con, models, as_of: int, scoped: bool = False) -> ScorePlan:
    """The plan in Spark SQL, its catalog (type ids, distinct values) read from the DuckDB copy's relations
    the Spark views were exported from: the same values, without a Spark job per property."""
    from crm_app.store.columnar.relations import distinct_values as copy_values
    type_ids = dict(con.execute("SELECT key, id FROM event_types").fetchall())
    catalog = Catalog(type_ids, lambda name: copy_values(con, "ev", prop_column("j", name)))
    field_catalog = FieldCatalog(lambda name: copy_values(con, "subj", field_column(name)))
    return build_plan(models, catalog, field_catalog, as_of, scoped=scoped, dialect=ir.SPARK)


def plan_in_spark(spark, models, as_of: int, scoped: bool = False) -> ScorePlan:
    """The plan in Spark SQL over the registered views ev, subj, prev (and scope when scoped)."""
    type_ids = {key: int(i) for i, key in spark.sql("SELECT id, key FROM event_types").collect()}
    catalog = Catalog(type_ids, lambda name: distinct_values(spark, "ev", prop_column("j", name)))
    field_catalog = FieldCatalog(lambda name: distinct_values(spark, "subj", field_column(name)))
    return build_plan(models, catalog, field_catalog, as_of, scoped=scoped, dialect=ir.SPARK)
