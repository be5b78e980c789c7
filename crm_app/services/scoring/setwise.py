"""The set-wise plan over the DuckDB copy: plan the models against what the copy holds, run the one query,
and turn rows into results (reasons rendered only for the rows asked for)."""
from __future__ import annotations

from crm_app.engine.plan import feature_plan
from crm_app.engine.setwise.features import Catalog, event_properties, prop_column
from crm_app.engine.setwise.fields import FieldCatalog, exists_only_fields, field_column, maybe_blank, record_fields
from crm_app.engine.setwise.plan import ScorePlan, build_plan, supported
from crm_app.engine.setwise.reasons import result_of
from crm_app.store.columnar import relations, sources


def plannable(models, metrics: bool = False) -> tuple[list, list]:
    """(models the plan scores, (model, why not) the per-person engine must score); metrics: the runner
    provides the metric points (the DuckDB engine), so metric and quota conditions are planned."""
    ok, rest = [], []
    for model in models:
        reason = supported(model, metrics)
        (rest.append((model, reason)) if reason else ok.append(model))
    return ok, rest


def plan_properties(models) -> tuple:
    """The event properties the models' plan reads: the copy holds a typed column of each."""
    return event_properties(tuple(a for a in feature_plan(models) if a.measure != "quota"))


def plan_over(con, models, as_of: int, scope_ids=None, events=None, metrics: bool = False,
              materialise: bool = False) -> ScorePlan:
    """The plan for these models over the copy's relations, for everyone or the people in scope_ids;
    `events` (a sources.EventSource) reads the events from elsewhere than the store; metrics: the relation `mp`
    holds the models' metric points (metric_points.load_points); materialise: everyone's subj rows are made a
    temp table once (relations.materialise_subjects), for a caller that reads them several times."""
    properties = plan_properties(models)
    relations.ensure_typed_properties(con, properties)
    fields = record_fields(models)
    relations.define_views(con, fields, properties, scope_ids)
    if materialise and scope_ids is None:
        relations.materialise_subjects(con, fields)
    if events is not None:
        sources.define_events(con, events, properties)
    type_ids = dict(con.execute("SELECT key, id FROM event_types").fetchall())
    # An incremental run plans over the values its own people hold: the plan is exact for them, and planning
    # reads thousands of rows, not every person and event.
    scoped = scope_ids is not None
    # Every field and property the conditions may ask about, each relation read once.
    exists_only = set(exists_only_fields(models))
    known = {"ev": relations.distinct_lists(con, "ev", [prop_column("j", p) for p in properties], scoped),
             "subj": relations.distinct_lists(con, "subj", [field_column(f) for f in fields
                                                            if f not in exists_only], scoped)}

    def values(relation: str, column: str) -> list:
        found = known[relation].get(column)
        return found if found is not None else relations.distinct_values(con, relation, column, scoped)
    catalog = Catalog(type_ids, lambda name: values("ev", prop_column("j", name)))
    def blanks(name: str) -> list:
        listed = known["subj"].get(field_column(name))  # a field other conditions list anyway: no scan
        return [v for v in listed if maybe_blank(v)] if listed is not None else \
            relations.blank_texts(con, "subj", field_column(name), scoped)
    field_catalog = FieldCatalog(lambda name: values("subj", field_column(name)), blanks)
    return build_plan(models, catalog, field_catalog, as_of, scoped=scope_ids is not None, metrics=metrics)


def rows(con, sql: str, batch: int = 10_000):
    """The query's rows as dicts, fetched in batches."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    while True:
        chunk = cursor.fetchmany(batch)
        if not chunk:
            return
        for row in chunk:
            yield dict(zip(names, row))


def results(con, plan: ScorePlan):
    """(person id, {model: ScoreResult or None}) for every subject of the plan."""
    for row in rows(con, plan.sql):
        yield row["person_id"], {m.name: result_of(plan, m, row) for m in plan.models}
