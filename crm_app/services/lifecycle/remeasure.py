"""The live version measured again on the challenger's newest out-of-time period, so champion and challenger
are judged on the same subjects (the champion's stored metric may come from an older window)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from crm_app.models import artifact
from crm_app.models.artifact import ArtifactRefused
from crm_app.models.dataset import to_matrix
from crm_app.models.propensity import layout_columns


def on_newest_period(champion: dict | None, metrics: dict | None, snap, ids: list, y: np.ndarray,
                     times: np.ndarray) -> dict | None:
    """{version, from, to, n, champion, challenger, champion_saw} or None when it cannot be done (no live version, no
    time-aware period, a period without both outcomes, or a stored model that is refused)."""
    time_aware = (metrics or {}).get("time_aware")
    if champion is None or not time_aware or not time_aware.get("periods"):
        return None
    newest = time_aware["periods"][-1]
    rows = np.flatnonzero((times >= newest["from"]) & (times <= newest["to"]))
    if len(rows) == 0 or y[rows].min() == y[rows].max():
        return None
    try:
        fitted = artifact.load(champion.get("artifact"))
    except ArtifactRefused:
        return None
    columns = layout_columns(fitted, [ids[k] for k in rows], snap.records, snap.features, snap.as_of)
    probabilities = fitted.predict(to_matrix(columns, fitted.categories)[0])
    low, high = champion.get("data_from"), champion.get("data_to")
    saw = times[rows] <= high if high is not None else np.zeros(len(rows), dtype=bool)
    if low is not None:
        saw &= times[rows] >= low
    return {"version": champion["version"], "from": newest["from"], "to": newest["to"], "n": int(len(rows)),
            "champion": round(float(roc_auc_score(y[rows], probabilities)), 4),
            "challenger": float(newest["roc_auc"]), "champion_saw": int(saw.sum())}
