"""Scheduled retraining: each lifecycle model with `retrain:` is retrained when its cadence has passed since its
last training, as a challenger that goes live only if it holds up against the live version."""
from __future__ import annotations

from crm_app.services.lifecycle.training import TrainingError, train
from crm_app.store import Store
from crm_app.store import lifecycle as lifecycle_store


def due(store: Store, specs, now: int) -> list:
    """The lifecycle specs whose cadence has passed since their last training (or never trained)."""
    found = []
    with store.read() as conn:
        for spec in specs:
            if spec.retrain is None:
                continue
            last = lifecycle_store.latest_model(conn, spec.name, trained_only=False)
            if last is None or last["trained_at"] + spec.retrain <= now:
                found.append(spec)
    return found


def retrain_due(store: Store, specs, now: int, person_models: tuple = ()) -> dict:
    """Retrain every due model as a challenger: model -> its decision (or why it could not be trained)."""
    outcome = {}
    for spec in due(store, specs, now):
        try:
            report = train(store, spec, now, challenge=True, person_models=person_models)
        except TrainingError as exc:
            outcome[spec.name] = {"promoted": False, "reason": str(exc)}
            continue
        outcome[spec.name] = dict(report["decision"], version=report["version"])
    return outcome
