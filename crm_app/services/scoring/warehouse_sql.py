"""The compiled plan as SQL for a warehouse (BigQuery, Snowflake, Spark SQL, DuckDB), built against what the
DuckDB copy (or the configured event source) holds: its event type ids and the distinct values of the
fields and properties the rules read are written into the SQL, so it is generated again for each run."""
from __future__ import annotations

import time

from crm_app.config import setting
from crm_app.engine.plan import feature_plan
from crm_app.engine.setwise import ir
from crm_app.engine.setwise.features import Catalog, event_properties, prop_column
from crm_app.engine.setwise.fields import FieldCatalog, field_column, record_fields
from crm_app.engine.setwise.plan import build_plan
from crm_app.services.scoring.duck_engine import copy_path, lag_seconds
from crm_app.services.scoring.setwise import plannable
from crm_app.store import Store
from crm_app.store.columnar import copy, mirror, relations, sources


def plan_sql(store: Store, models, as_of: int, dialect: str) -> tuple[str, list]:
    """(the SQL of the plannable models in `dialect`, [(model, why it was left out)])."""
    target = ir.DIALECTS[dialect]
    ok, rest = plannable(models)
    con = mirror.open_copy(copy_path(store.url), setting("DUCKDB_MEMORY_LIMIT"))
    try:
        source = sources.event_source()
        with store.read() as conn:
            if source.kind == "store":
                copy.catch_up_events(con, conn, int(time.time()), lag_seconds())
            copy.refresh_people(con, conn)
        aggregates = tuple(a for a in feature_plan(ok) if a.measure != "quota")
        properties, fields = event_properties(aggregates), record_fields(ok)
        relations.ensure_typed_properties(con, properties)
        relations.define_views(con, fields, properties)
        if source.kind != "store":
            sources.define_events(con, source, properties)
        type_ids = dict(con.execute("SELECT key, id FROM event_types").fetchall())
        catalog = Catalog(type_ids, lambda name: relations.distinct_values(con, "ev", prop_column("j", name)))
        field_catalog = FieldCatalog(lambda name: relations.distinct_values(con, "subj", field_column(name)))
        return build_plan(ok, catalog, field_catalog, as_of, dialect=target).sql, rest
    finally:
        con.close()
