"""The whole run as one query: features grouped per subject, then each model's columns layer by layer.

Relations the query reads (the runner provides them; names are fixed):
  ev(person_id, type_id, ts, "j:<p>", "s:<p>", "n:<p>")   events, typed columns per property rules read
  subj(person_id, created_at, "v:<field>")                 one row per subject, fields as JSON text
  prev(model, subject_id, pql, pql_since, pql_first_at)    the previous results' sticky PQL state
  scope(person_id)                                         only with `scoped`: the subjects of this run
"""
from __future__ import annotations

from dataclasses import dataclass

from crm_app.engine.plan import feature_plan
from crm_app.engine.setwise import ir
from crm_app.engine.setwise.features import Catalog, aggregate, event_properties
from crm_app.engine.setwise.fields import FieldCatalog, field_column, record_fields
from crm_app.engine.setwise.metrics import PointColumns, at_column, metric_points, value_column
from crm_app.engine.setwise.scores import Compiler, Unsupported, model_column, model_layers, prev_column, rule_column
from crm_app.specs.conditions import AllOf, AnyOf, EventCondition, FieldCondition, MetricCondition, Not, model_leaves
from crm_app.specs.usage import QuotaCondition

__all__ = ["ScorePlan", "Unsupported", "build_plan", "feature_column", "layout", "supported"]

PREV = ("pql", "pql_since", "pql_first_at")
_LEAVES = (EventCondition, FieldCondition, AllOf, AnyOf, Not)


def feature_column(index: int) -> str:
    return f"f:{index}"


def supported(model, metrics: bool = False) -> str | None:
    """Why a model cannot be planned set-wise (None when it can): score conditions, and metric and quota
    conditions unless the runner provides the metric points (metrics=True: the relation `mp`)."""
    if model.subject != "person":
        return "account models roll up person results"
    leaves = _LEAVES + (MetricCondition, QuotaCondition) if metrics else _LEAVES
    for leaf in model_leaves([model]):
        if not isinstance(leaf, leaves):
            return f"{type(leaf).__name__} conditions are scored by the per-person engine"
        if isinstance(leaf, EventCondition) and leaf.measure not in _MEASURES:
            return f"the {leaf.measure!r} measure is scored by the per-person engine"
    return None


_MEASURES = ("count", "distinct", "average", "sum", "days_since_last", "active_weeks", "sophistication", "growth",
             "spike")


@dataclass(frozen=True)
class ScorePlan:
    models: tuple
    aggregates: tuple  # engine.plan.Aggregate; column feature_column(i)
    fields: tuple  # record fields read; column fields.field_column(name)
    properties: tuple  # event properties read; the ev relation's typed columns
    as_of: int
    sql: str
    outputs: dict  # model name -> the result columns of that model, in ScoreResult order
    columns: tuple = ()  # every column the query gives, in order (build_plan's plans only)
    points: tuple = ()  # metrics.MetricPoint the query reads from `mp`; columns metrics.value_column(i), at_column(i)


def build_plan(models, catalog: Catalog, field_catalog: FieldCatalog, as_of: int, scoped: bool = False,
               dialect: ir.Dialect = ir.DUCKDB, features_sql: str | None = None, metrics: bool = False) -> ScorePlan:
    """One query scoring every subject (or those in `scope`) with every given model. `features_sql`: a query of
    person_id and the feature columns as of the moment, standing in for the aggregation over ev. metrics: the
    runner provides the relation `mp` of metric points, so metric and quota conditions are planned too."""
    models = tuple(models)
    for model in models:
        reason = supported(model, metrics)
        if reason:
            raise Unsupported(f"{model.name}: {reason}")
    aggregates = tuple(a for a in feature_plan(models) if a.measure != "quota")
    features = {agg.key: feature_column(i) for i, agg in enumerate(aggregates)}
    points = metric_points(models) if metrics else ()
    comp = Compiler(features, field_catalog, as_of, PointColumns(points, field_catalog.values))
    per_model = [model_layers(m, comp) for m in models]
    layers = [[c for layers in per_model for c in layers[i]] for i in range(len(per_model[0]))] if models else []
    def r(node):
        return ir.render(node, dialect)
    q = dialect.ident
    scope = " AND person_id IN (SELECT person_id FROM scope)" if scoped else ""
    feat_cols = "".join(f", {r(aggregate(a, catalog, as_of))} AS {q(feature_column(i))}"
                        for i, a in enumerate(aggregates))
    ctes = [f"feat AS ({features_sql})" if features_sql is not None else
            f"feat AS (SELECT person_id{feat_cols} FROM ev WHERE ts <= {int(as_of)}{scope} GROUP BY person_id)"]
    joins, prev_cols = [], []
    for i, model in enumerate(models):
        alias = f"p{i}"
        joins.append(f" LEFT JOIN prev {alias} ON {alias}.subject_id = subj.person_id AND {alias}.model = "
                     f"{r(ir.lit(model.name))}")
        prev_cols += [f"{alias}.{what} AS {q(prev_column(model, what))}" for what in PREV]
    fields = record_fields(models)
    point_cols = [name for i in range(len(points)) for name in (value_column(i), at_column(i))]
    base = ", ".join(["subj.person_id", "subj.created_at", *[f"subj.{q(field_column(f))}" for f in fields],
                      *[f"feat.{q(feature_column(i))}" for i in range(len(aggregates))],
                      *[f"mp.{q(c)}" for c in point_cols], *prev_cols])
    if points:
        joins.insert(0, " LEFT JOIN mp ON mp.person_id = subj.person_id")
    only = " WHERE subj.person_id IN (SELECT person_id FROM scope)" if scoped else ""
    ctes.append(f"l0 AS (SELECT {base} FROM subj LEFT JOIN feat ON feat.person_id = subj.person_id"
                f"{''.join(joins)}{only})")
    for n, layer in enumerate(layers, start=1):
        cols = ", ".join(f"{r(expr)} AS {q(name)}" for name, expr in layer)
        ctes.append(f"l{n} AS (SELECT *, {cols} FROM l{n - 1})" if cols else f"l{n} AS (SELECT * FROM l{n - 1})")
    sql = "WITH " + ",\n".join(ctes) + f"\nSELECT * FROM l{len(layers)}"
    outputs = {m.name: _outputs(m) for m in models}
    columns = ("person_id", "created_at", *[field_column(f) for f in fields],
               *[feature_column(i) for i in range(len(aggregates))], *point_cols,
               *[prev_column(m, what) for m in models for what in PREV], *[name for layer in layers for name, _ in layer])
    return ScorePlan(models, aggregates, fields, event_properties(aggregates), as_of, sql, outputs, columns, points)


def layout(models, as_of: int) -> ScorePlan:
    """The columns build_plan's query gives for these models (no SQL): enough to read back a result table the
    query made elsewhere, e.g. in a warehouse. Feature columns are numbered as build_plan numbers them."""
    models = tuple(models)
    aggregates = tuple(a for a in feature_plan(models) if a.measure != "quota")
    return ScorePlan(models, aggregates, record_fields(models), event_properties(aggregates), as_of, "",
                     {m.name: _outputs(m) for m in models})


RESULT = ("in_population", "fit", "fit_raw", "behaviour", "behaviour_before_decay", "decay", "combined", "band",
          "pql", "pql_since", "pql_first_at", "activation", "milestones", "last_activity", "days_inactive")


def _outputs(model) -> dict:
    rules = {}
    for rule in model.rules:
        rules[rule.id] = {what: rule_column(model, rule, what) for what in ("fired", "points", "factor", "age")}
    return {"result": {what: model_column(model, what) for what in RESULT}, "rules": rules}
