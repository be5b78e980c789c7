"""Models, backtests and health for the dashboard, composed from the lifecycle, backtest and monitoring services."""
from __future__ import annotations

import os

from crm_app.config import SETTINGS
from crm_app.services.lifecycle import training as lifecycle
from crm_app.services.lifecycle import versions
from crm_app.services.lifecycle.monitoring import run as run_checks
from crm_app.specs.loader import SpecSet
from crm_app.store import Store
from crm_app.store import lifecycle as lifecycle_store

# What to do about each flagged check, in the maintenance guidance's words. Keyed by check name (before ":")
# and, for volume, by which side of the range it fell.
WHAT_TO_DO = {
    "pql_lift": "PQLs do not convert clearly better than non-PQLs: look at which indicators predict conversion "
                "(Models), re-weight or drop the rules that do not, raise the PQL threshold, then backtest again.",
    "pql_volume:high": "Too many PQLs (>20/rep/week): raise the threshold by 5–10 points.",
    "pql_volume:low": "Too few PQLs (<2/rep/week): lower the threshold by 5–10 points, or add behaviour rules "
                      "for actions that come before buying.",
    "clustered": "Scores bunch in one bucket, so they do not separate people: spread the points (add rules that "
                 "tell people apart, lower the points of rules almost everyone meets).",
    "drift": "The score distribution has moved since launch: re-run the backtest and retrain the lifecycle "
             "models before trusting the thresholds.",
    "not_a_fit": "Reps mark many PQLs 'Not a fit': tighten the fit rules (ICP, negative fit, minimum fit for "
                 "PQL) and read the feedback for the common reason.",
    "sync_failures": "CRM syncs failed recently: check the connection and the last syncs (Integrations), then "
                     "re-run the sync.",
}


def sales_reps() -> int:
    """SALES_REPS, as the health and backtest commands read it."""
    return int(os.environ.get("SALES_REPS", SETTINGS["SALES_REPS"][0]))


def what_to_do(check: dict) -> str | None:
    """The plain-language action for a flagged check; None for checks that are fine or unknown."""
    if check["status"] != "flag":
        return None
    name = check["check"].split(":")[0]
    if name == "pql_volume":
        name += ":high" if (check.get("value") or 0) > 20 else ":low"
    return WHAT_TO_DO.get(name)


def health(store: Store, specs: SpecSet, now: int) -> list[dict]:
    """Every maintenance check with its status, message and, when flagged, what to do."""
    checks = run_checks(store, list(specs.rules.models), [m.name for m in specs.lifecycle], sales_reps(), now)
    return [dict(c, what_to_do=what_to_do(c)) for c in checks]


VERSIONS_SHOWN = 10


def lifecycle_reports(store: Store, specs: SpecSet) -> list[tuple]:
    """(spec, latest training report or None, its newest versions) per lifecycle model."""
    return [(spec, lifecycle.latest_report(store, spec.name), versions.history(store, spec.name)[:VERSIONS_SHOWN])
            for spec in specs.lifecycle]


def exclude_and_retrain(store: Store, specs: SpecSet, model: str, indicator: str, now: int) -> dict:
    """Leave one indicator out from now on and train the model again; return the new report."""
    spec = next(s for s in specs.lifecycle if s.name == model)
    lifecycle.exclude(store, model, [indicator])
    return lifecycle.train(store, spec, now,
                           person_models=tuple(m.name for m in specs.rules.models if m.subject == "person"))


def latest_backtests(store: Store, specs: SpecSet) -> list[tuple]:
    """(rule model, latest stored backtest run or None) per rule model."""
    with store.read() as conn:
        return [(m, lifecycle_store.latest_backtest(conn, m.name)) for m in specs.rules.models]


def lift_at(store: Store, specs: SpecSet, model_name: str, threshold: float) -> dict | None:
    """PQL vs non-PQL conversion and lift at `threshold`, on the dates and goal of the model's latest backtest.

    The samples (everyone's score at each past date, and whether they reached the goal) are collected once per
    scoring run and rule set by the backtest service; a threshold only splits them differently.
    """
    from crm_app.models.backtest import threshold_stats
    from crm_app.services.lifecycle import backtest
    from crm_app.services.dashboard.score_cube import per_run
    with store.read() as conn:
        latest = lifecycle_store.latest_backtest(conn, model_name)
    if latest is None:
        return None
    params = latest["params"]
    goal = next((g for g in specs.lifecycle if g.name == params["goal"]), None)
    if goal is None:
        return None
    model = specs.rules.model(model_name)
    step, window = int(params["step_days"] * DAY), int(params["window_days"] * DAY)
    key = f"backtest-samples:{model_name}:{latest['id']}:{specs.rules.hash}"
    samples = per_run(store, key, lambda: backtest.collect(
        store, [model], goal, backtest.as_of_dates(params["from"], params["to"], step), window)[0])
    stats = threshold_stats(samples, threshold, int(params.get("reps") or sales_reps()), step)
    return dict(stats, backtest_id=latest["id"], goal=goal.name)


DAY = 86400
