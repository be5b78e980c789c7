"""Backtest a rule model: re-score people as of past dates on the events known then, check the goal later.

The score comes from the same pure engine as live scoring; features come from compute_features(as_of=t),
which only counts events with ts <= t, and person fields are read as of t from field history.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable

import numpy as np

from crm_app.engine import evaluate
from crm_app.engine.plan import feature_plan, metric_names, score_inputs
from crm_app.errors import IngestError
from crm_app.models import backtest as figures
from crm_app.services.lifecycle import backtest_plan
from crm_app.services.lifecycle import training_data as data
from crm_app.services.scoring.duck_engine import CopyBusy
from crm_app.specs.lifecycle import LifecycleModel
from crm_app.specs.rules import Model
from crm_app.store import Store
from crm_app.store import lifecycle as lifecycle_store
from crm_app.store import people as people_store
from crm_app.store.scoring.features import compute_features

DAY = 86400
ENGINES = ("auto", "duckdb", "store")
log = logging.getLogger(__name__)


def as_of_dates(start: int, end: int, step: int) -> list[int]:
    if end < start:
        raise IngestError("--to must not be before --from")
    return list(range(start, end + 1, step))


def _rule_scores(store: Store, model: Model, as_of: int, records: dict) -> dict:
    """subject id -> (combined score, PQL) from the rules as of a past moment."""
    plan = feature_plan([model])
    with store.read() as conn:
        lo, hi = people_store.person_id_bounds(conn)
        feats = compute_features(conn, plan, metric_names([model]), score_inputs([model]), as_of, lo, hi)
    out = {}
    for pid, record in records.items():
        result = evaluate(model, record, feats.get(pid, {}), as_of)
        out[pid] = (result.combined, result.pql)
    return out


def chosen_engine(engine: str, store: Store, models: list[Model], goal: LifecycleModel) -> tuple[str, str | None]:
    """(engine, why not the plan): 'duckdb' (the set-wise plan) or 'store' (the per-person engine). 'auto' is
    SCORE_ENGINE when it says store, else the plan, except for in-memory stores; models or a goal the plan
    cannot express go per-person under any engine."""
    if engine not in ENGINES:
        raise IngestError(f"unknown backtest engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine == "auto":
        forced = os.environ.get("SCORE_ENGINE", "").strip().lower()
        engine = "store" if forced == "store" or store.url.endswith(":memory:") else "duckdb"
    if engine == "store":
        return engine, None
    reason = backtest_plan.why_not(models, goal)
    return ("store", reason) if reason else ("duckdb", None)


def collect(store: Store, models: list[Model], goal: LifecycleModel, dates: list[int], window: int,
            progress: Callable[[str], None] | None = None, engine: str = "auto") -> list:
    """Samples per rule model over the same history, summed up (figures.Tally): subjects not at the goal at t,
    scored at t."""
    return collect_with_engine(store, models, goal, dates, window, progress, engine, tally=True)[0]


def collect_with_engine(store: Store, models: list[Model], goal: LifecycleModel, dates: list[int], window: int,
                        progress: Callable[[str], None] | None = None, engine: str = "auto", tally: bool = False
                        ) -> tuple[list, str, str | None]:
    """(samples per rule model, engine used, why not the plan) over the same history; tally: summed up."""
    used, why = chosen_engine(engine, store, models, goal)
    if used == "duckdb":
        try:
            return backtest_plan.collect(store, models, goal, dates, window, progress, tally), used, None
        except CopyBusy as exc:
            log.warning("backtest with the per-person engine: %s", exc)
            used, why = "store", str(exc)
    samples = collect_per_person(store, models, goal, dates, window, progress)
    return [figures.tally(s) for s in samples] if tally else samples, used, why


def collect_per_person(store: Store, models: list[Model], goal: LifecycleModel, dates: list[int], window: int,
                       progress: Callable[[str], None] | None = None) -> list:
    """collect() on the per-person engine over the store's SQL: the reference the plan is held to."""
    rows = [([], [], [], []) for _ in models]  # by position: a compared copy has the same model name
    for k, as_of in enumerate(dates, 1):
        now = data.snapshot(store, goal, as_of, [], [])
        later = data.snapshot(store, goal, as_of + window, [], [])
        reached_now, reached_later = data.goal_reached(goal, now), data.goal_reached(goal, later)
        admitted = data.in_population(goal, now)
        eligible = {i: r for i, r in now.records.items() if admitted[i] and not reached_now[i]}
        for model, (subject, when, score, converted) in zip(models, rows):
            scores = _rule_scores(store, model, as_of, eligible)
            for pid, (combined, _) in scores.items():
                subject.append(pid)
                when.append(as_of)
                score.append(combined)
                converted.append(bool(reached_later.get(pid)))
        if progress:
            progress(f"as of {time.strftime('%Y-%m-%d', time.gmtime(as_of))}: {len(eligible)} eligible "
                     f"({k}/{len(dates)})")
    return [figures.Samples(np.array(s), np.array(w), np.array(c, dtype=float), np.array(v, dtype=bool))
            for s, w, c, v in rows]


def run(store: Store, models: list[Model], goal: LifecycleModel, start: int, end: int, window: int,
        step: int = 7 * DAY, reps: int = 1, target_lift: float | None = None, target_volume: float | None = None,
        progress=None, save: bool = True, engine: str = "auto") -> dict:
    """Backtest one rule model (or compare several variants of it) on the same history; store the report."""
    dates = as_of_dates(start, end, step)
    with store.read() as conn:
        _, last_event = lifecycle_store.event_time_bounds(conn)
    samples, used, why = collect_with_engine(store, models, goal, dates, window, progress, engine, tally=True)
    labels = ["live", "edited"] if len(models) == 2 else [m.name for m in models]
    reports = {}
    for label, model, sample in zip(labels, models, samples):
        threshold = model.pql.threshold if model.pql else model.bands.high
        reports[label] = figures.report(sample, threshold, reps, step, target_lift, target_volume)
    out = {"model": models[0].name, "goal": goal.name, "from": start, "to": end, "window_days": window / DAY,
           "step_days": step / DAY, "reps": reps, "results": reports, "engine": used,
           "notes": _notes(last_event, end, window, used, why)}
    if save:
        with store.begin() as conn:
            out["id"] = lifecycle_store.save_backtest(conn, int(time.time()), models[0].name,
                                                      {k: out[k] for k in ("goal", "from", "to", "window_days",
                                                                           "step_days", "reps")}, out)
    return out


def _notes(last_event, end: int, window: int, engine: str = "store", why: str | None = None) -> list[str]:
    notes = ["Person and account fields, account membership, segments, events and metrics are as of each date "
             "(fields, membership and segments from field history; what was recorded before history was kept reads "
             "as its first known value)."]
    notes.append("Scored on the set-wise plan (DuckDB)." if engine == "duckdb" else
                 "Scored by the per-person engine" + (f" (not on the set-wise plan: {why})." if why else "."))
    if last_event is not None and end + window > last_event:
        notes.append("The last window runs past the newest event: recent dates may look like they did not convert "
                     "because the outcome is not known yet. Move --to back by the window.")
    return notes
