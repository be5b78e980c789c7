"""Backtest samples on the set-wise plan in DuckDB, the same samples as the per-person path.

Per as-of date t: one plan query checks the goal at t + window for everyone, another scores everyone with the
rule models at t and checks the lifecycle model's filter and goal at t. The goal and the filter are planned as
the population of a rule-less copy of the first model (a probe), so they compile exactly as populations do.
Person fields are those known at each moment (field history in the copy); events are those with ts <= moment.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from crm_app.engine.plan import feature_plan
from crm_app.engine.setwise.features import Catalog, event_properties, prop_column
from crm_app.engine.setwise.fields import FieldCatalog, record_fields
from crm_app.engine.setwise.plan import build_plan, supported
from crm_app.engine.setwise.scores import model_column
from crm_app.services.lifecycle import backtest_sinks as sinks
from crm_app.services.lifecycle.backtest_rolling import Rolling
from crm_app.services.scoring.duck_reader import open_current
from crm_app.specs.lifecycle import LifecycleModel
from crm_app.store import Store
from crm_app.store.columnar import history, relations
from crm_app.store.columnar.relations import ident

GOAL, FILTER = "@goal", "@filter"


def probe(template, name: str, cond):
    """A model with no rules whose population is `cond`: its in_population column is the condition."""
    return dataclasses.replace(template, name=name, fit=(), behaviour=(), population=cond, segments=(), pql=None,
                               activation=None, decay=None, recency=None)


def why_not(models: list, goal: LifecycleModel) -> str | None:
    """Why these models and this goal cannot be backtested on the plan (None when they can)."""
    for model in models:
        reason = supported(model)
        if reason:
            return f"{model.name}: {reason}"
    for what, cond in (("goal", goal.goal), ("filter", goal.filter)):
        reason = cond is not None and supported(probe(models[0], GOAL, cond))
        if reason:
            return f"the {what} of {goal.name}: {reason}"
    return None


def _catalogs(con, type_ids: dict) -> tuple[Catalog, FieldCatalog]:
    """One pair for every date: the values of every event, and every value a field held today or in its
    history. A value no subject holds at a date changes no test, so the plans stay exact."""
    catalog = Catalog(type_ids, lambda name: relations.distinct_values(con, "ev", prop_column("j", name)))
    field_catalog = FieldCatalog(lambda name: history.values_ever(con, name))
    return catalog, field_catalog


def _plan(con, rolling: Rolling, as_of: int, catalogs: tuple, roll: bool) -> str:
    """The plan's SQL over the copy with `subj` and the features as of the moment (roll False: the features
    from every event up to the moment, as a plain scoring run takes them)."""
    history.define_subj_as_of(con, record_fields(rolling.models), as_of)
    return build_plan(rolling.models, *catalogs, as_of, features_sql=rolling.features(as_of) if roll else None).sql


def collect(store: Store, models: list, goal: LifecycleModel, dates: list[int], window: int,
            progress: Callable[[str], None] | None = None, tally: bool = False) -> list:
    """Samples per rule model (by position) over the dates: subjects the filter admits who have not reached
    the goal at t, their combined score at t, and whether they reach the goal by t + window. tally: summed up
    (figures.Tally) inside DuckDB instead of row by row (figures.Samples)."""
    con = open_current(store)
    try:
        return collect_on(con, store, models, goal, dates, window, progress, tally=tally)
    finally:
        con.close()


def collect_on(con, store: Store, models: list, goal: LifecycleModel, dates: list[int], window: int,
               progress: Callable[[str], None] | None = None, roll: bool = True, tally: bool = False) -> list:
    """collect() on a copy already caught up (duck_reader.open_current), the dates in rising order. roll False:
    each date's features from a pass over all its events (the benchmark's reference)."""
    # By position: a compared copy has the same name, and the plan names its columns after models.
    models = [dataclasses.replace(m, name=f"@{i}") for i, m in enumerate(models)]
    goal_probe = probe(models[0], GOAL, goal.goal)
    probes = [goal_probe] + ([probe(models[0], FILTER, goal.filter)] if goal.filter is not None else [])
    planned = [*models, *probes]
    fields = record_fields(planned)
    with store.read() as conn:
        history.load(con, conn, fields)
    aggregates = tuple(a for a in feature_plan(planned) if a.measure != "quota")
    properties = event_properties(aggregates)
    relations.ensure_typed_properties(con, properties)
    relations.define_views(con, fields, properties)
    history.define_today(con, fields)
    catalogs = _catalogs(con, dict(con.execute("SELECT key, id FROM event_types").fetchall()))
    sink = (sinks.Tallies if tally else sinks.Rows)(con, len(models))
    rolling_now, rolling_later = Rolling(con, planned, catalogs[0], "now"), Rolling(con, [goal_probe], catalogs[0],
                                                                                      "later")
    dates = sorted(dates)
    for k, as_of in enumerate(dates, 1):
        later = _plan(con, rolling_later, as_of + window, catalogs, roll)
        con.execute(f"CREATE OR REPLACE TEMP TABLE bt_later AS SELECT person_id, "
                    f"{ident(model_column(goal_probe, 'in_population'))} AS reached FROM ({later}) q")
        now = _plan(con, rolling_now, as_of, catalogs, roll)
        admitted = ident(model_column(probes[1], "in_population")) if len(probes) > 1 else "TRUE"
        scores = ", ".join(f"q.{ident(model_column(m, 'combined'))} AS s{i}" for i, m in enumerate(models))
        eligible = sink.add(
            f"SELECT q.person_id, {scores}, coalesce(l.reached, FALSE) AS reached FROM ({now}) q "
            f"LEFT JOIN bt_later l ON l.person_id = q.person_id "
            f"WHERE {admitted} AND NOT q.{ident(model_column(goal_probe, 'in_population'))}", as_of)
        if progress:
            progress(f"as of {time.strftime('%Y-%m-%d', time.gmtime(as_of))}: {eligible} eligible "
                     f"({k}/{len(dates)})")
    return sink.result()
