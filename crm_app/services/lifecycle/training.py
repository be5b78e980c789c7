"""Train lifecycle models on the store's own history, score who has not reached the goal, keep the report."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from crm_app.models import advice, artifact, indicators
from crm_app.models.champion import decide
from crm_app.models.dataset import constant, identifier_like, is_excluded
from crm_app.models.propensity import prepare_reasons
from crm_app.models.train import fit, percentile_scores
from crm_app.services.lifecycle import remeasure
from crm_app.services.lifecycle import training_data as data
from crm_app.specs.conditions import EventCondition, MetricCondition, iter_conditions
from crm_app.specs.lifecycle import LifecycleModel, indicator_name
from crm_app.store import Store
from crm_app.store import lifecycle as lifecycle_store

Progress = Callable[[str], None]
MIN_FOR_SCREEN = 10  # below this many of either outcome, per-indicator evidence is noise


class TrainingError(Exception):
    """The model cannot be trained as defined (no subjects, no indicators); the message says why."""


def _noop(_: str) -> None:
    return None


def _label_and_population(spec: LifecycleModel, store: Store, as_of: int, events: list, metrics: list, progress,
                          person_models: tuple = ()):
    """(features snapshot, training ids, labels, scoring snapshot, scoring ids) for snapshot or horizon mode."""
    if spec.subject == "account":
        now = data.account_snapshot(store, as_of, person_models)
    else:
        now = data.snapshot(store, spec, as_of, events, metrics)
    progress(f"read {len(now.records)} subjects as of {as_of}")
    reached_now = data.goal_reached(spec, now)
    admitted_now = data.in_population(spec, now)
    if spec.horizon is None:
        ids = sorted(i for i in now.records if admitted_now[i])
        y = np.array([int(reached_now[i]) for i in ids])
        return now, ids, y, now, [i for i in ids if not reached_now[i]]
    past = data.snapshot(store, spec, as_of - spec.horizon, events, metrics)
    progress(f"read {len(past.records)} subjects as of the cutoff {as_of - spec.horizon}")
    reached_past, admitted_past = data.goal_reached(spec, past), data.in_population(spec, past)
    ids = sorted(i for i in past.records if admitted_past[i] and not reached_past[i])
    y = np.array([int(reached_now.get(i, False)) for i in ids])
    return past, ids, y, now, sorted(i for i in now.records if admitted_now[i] and not reached_now[i])


def _account_limits(spec: LifecycleModel) -> None:
    """What an account model cannot do yet, said before any work."""
    if spec.horizon is not None:
        raise TrainingError(f"model '{spec.name}': account models train in snapshot mode only (leave out "
                            "horizon:); account rollups come from the latest person results, not from a past moment")
    if spec.goal_events() or (spec.filter is not None and any(
            isinstance(c, EventCondition) for c in iter_conditions(spec.filter))):
        raise TrainingError(f"model '{spec.name}': an account model's goal and filter read account fields "
                            "(people.<model>.* rollups included), not events")


def _usable(columns: list, exclude: tuple, goal_slugs: set) -> tuple[list, list]:
    """Columns worth learning from, and the names left out as identifiers."""
    kept, identifiers = [], []
    for col in columns:
        if is_excluded(col.name, exclude) or any(col.name.startswith(f"events.{s}.") for s in goal_slugs):
            continue
        if constant(col):
            continue
        if identifier_like(col):
            identifiers.append(col.name)
            continue
        kept.append(col)
    return kept, identifiers


def train(store: Store, spec: LifecycleModel, as_of: int, progress: Progress | None = None,
          window: tuple | None = None, challenge: bool = False, person_models: tuple = ()) -> dict:
    """Train one lifecycle model; store the version, its report and the 1-100 scores; return the report.

    `window` (from, to), in epoch seconds, keeps only the subjects whose time (the model's `time_field`) falls
    in it: train on one period, then score another. A trained version goes live at once, unless `challenge`:
    then it replaces the live version only if its metric is not worse by more than the model's tolerance.
    An account model (subject: account) learns from account fields and the rollups of `person_models`.
    """
    progress = progress or _noop
    started = time.time()
    if spec.subject == "account":
        _account_limits(spec)
    with store.read() as conn:
        extra = lifecycle_store.extra_exclusions(conn, spec.name)
        goal_metrics = {c.name for c in iter_conditions(spec.goal) if isinstance(c, MetricCondition)}
        metrics = [m for m in lifecycle_store.metric_names(conn) if m not in goal_metrics]
        first_event, _ = lifecycle_store.event_time_bounds(conn)
    spec = spec.with_exclude(extra)
    events = data.feature_events(store, spec) if spec.subject == "person" else []
    metrics = metrics if spec.subject == "person" else []
    snap, ids, y, now, score_ids = _label_and_population(spec, store, as_of, events, metrics, progress,
                                                         tuple(person_models))
    times = data.subject_times(spec, snap, ids)
    if window is not None:
        inside = (times >= window[0]) & (times <= window[1])
        ids, y, times = [i for i, keep in zip(ids, inside) if keep], y[inside], times[inside]
    if not ids:
        raise TrainingError(f"model '{spec.name}': no subject is in the population (check the filter and the "
                            "import); nothing to train on")
    columns, identifiers = _usable(data.build_columns(spec, snap, ids, events, metrics), spec.exclude,
                                   data.goal_event_slugs(spec))
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    report = {"model": spec.name, "label": spec.label, "stage": spec.stage, "subject": spec.subject,
              "mode": "horizon" if spec.horizon else "snapshot", "as_of": as_of,
              "cutoff": as_of - (spec.horizon or 0), "positives": positives, "negatives": negatives,
              "goal_fields": list(spec.goal_fields()), "goal_events": list(spec.goal_events()),
              "excluded": list(spec.exclude), "excluded_by_command": extra, "identifiers": identifiers,
              "features": len(columns), "window": list(window) if window else None}
    if not columns:
        raise TrainingError(f"model '{spec.name}': no usable indicator left (every field is excluded, constant or "
                            "an identifier); import fields or events first")
    progress("screening indicators for leaks")
    timing = {} if spec.horizon or spec.subject != "person" else data.fill_timing(
        store, spec, [i for i, label in zip(ids, y) if label], [c.name for c in columns if c.source == "field"])
    leaks = advice.leak_screen(columns, y, timing) if min(positives, negatives) >= MIN_FOR_SCREEN else []
    if min(positives, negatives) < spec.min_positives:
        report.update(status="insufficient", metrics=None, indicators=indicators.rank_indicators(columns, y),
                      advice=advice.advise(spec.name, positives, negatives, spec.min_positives, columns, leaks,
                                           None, [], identifiers))
        _save(store, spec, report, None, None, first_event, started, window, challenge)
        return report
    fitted, metrics_ = fit(columns, y, spec.algorithm, spec.calibration, spec.folds, progress, times,
                           spec.validation, spec.holdout)
    fitted.inputs = {"events": list(events), "windows": list(spec.windows), "metrics": list(metrics)}
    prepare_reasons(fitted, columns)
    progress("scoring subjects that have not reached the goal")
    scores = _scores(spec, fitted, snap, now, ids, y, score_ids, events, metrics)
    remeasured = None
    if challenge:
        with store.read() as conn:
            remeasured = remeasure.on_newest_period(lifecycle_store.live_model(conn, spec.name), metrics_, snap,
                                                    ids, y, times)
    report.update(status="trained", metrics=metrics_, scored=len(scores),
                  score_buckets=_buckets(list(scores.values())),
                  indicators=indicators.rank_indicators(columns, y),
                  advice=advice.advise(spec.name, positives, negatives, spec.min_positives, columns, leaks,
                                       metrics_, list(scores.values()), identifiers))
    _save(store, spec, report, fitted, scores, first_event, started, window, challenge, remeasured)
    return report


def _scores(spec, fitted, snap, now, ids, y, score_ids, events, metrics) -> dict:
    """1-100 for every subject that has not reached the goal (out-of-fold for training subjects)."""
    if spec.horizon is None:
        # The final model has seen these subjects; score them from the cross-validated probabilities instead,
        # which no model that saw them produced. Their rank is their percentile among the training population.
        oof = fitted.oof
        chosen = set(score_ids)
        return {i: int(s) for i, s, label in zip(ids, percentile_scores(fitted.reference, oof), y)
                if i in chosen and not label}
    if not score_ids:
        return {}
    cols = data.build_columns(spec, now, score_ids, events, metrics)
    probabilities = fitted.probabilities(cols)
    return {i: int(s) for i, s in zip(score_ids, fitted.scores(probabilities))}


def _buckets(scores: list[int]) -> dict:
    counts = np.bincount(np.clip((np.array(scores, dtype=int) - 1) // 25, 0, 3), minlength=4) if scores else [0] * 4
    return dict(zip(["1-25", "26-50", "51-75", "76-100"], [int(c) for c in counts]))


def _save(store: Store, spec: LifecycleModel, report: dict, fitted, scores: dict | None, first_event,
          started: float, window: tuple | None, challenge: bool, remeasured: dict | None = None) -> None:
    """Store the version; make it live when it was trained by command or beat the champion."""
    with store.begin() as conn:
        version = lifecycle_store.next_version(conn, spec.name)
        report["version"] = version
        champion = lifecycle_store.live_model(conn, spec.name)
        if fitted is None:
            decision = decide(None, None, spec.tolerance, None)
        elif challenge:
            decision = decide(champion["metrics"] if champion else None, report["metrics"], spec.tolerance,
                              champion["version"] if champion else None,
                              remeasured if champion and remeasured and remeasured["version"] == champion["version"]
                              else None)
        else:
            decision = {"promoted": True, "reason": "trained by command"}
        report["decision"] = decision
        report["seconds"] = round(time.time() - started, 2)
        lifecycle_store.save_model(conn, {
            "name": spec.name, "version": version, "stage": spec.stage, "status": report["status"],
            "trained_at": int(time.time()), "as_of": report["as_of"],
            "data_from": window[0] if window else first_event,
            "data_to": min(window[1], report["as_of"]) if window else report["as_of"],
            "metrics": report.get("metrics"), "report": report,
            "artifact": artifact.dump(fitted) if fitted is not None else None})
        if decision["promoted"]:
            lifecycle_store.set_live(conn, spec.name, version)
            if scores is not None:
                lifecycle_store.save_scores(conn, spec.name, report["as_of"], scores, f"{spec.name}@v{version}")


def exclude(store: Store, model: str, names: list[str], include: list[str] | None = None) -> list[str]:
    """Add indicators to (or take them off) a model's command-line exclusions; return the new list."""
    with store.begin() as conn:
        current = set(lifecycle_store.extra_exclusions(conn, model))
        current |= {indicator_name(n) for n in names if n.strip()}
        current -= {indicator_name(n) for n in include or []}
        lifecycle_store.set_extra_exclusions(conn, model, sorted(current))
    return sorted(current)


def latest_report(store: Store, model: str) -> dict | None:
    with store.read() as conn:
        row = lifecycle_store.latest_model(conn, model, trained_only=False)
    return row["report"] if row else None
