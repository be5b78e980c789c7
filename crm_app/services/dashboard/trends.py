"""Trends over time for the Overview: PQLs and mean score per band from the daily snapshots, and conversion by
score bucket across the model's backtests."""
from __future__ import annotations

import datetime as dt

from crm_app.store import Store
from crm_app.store import lifecycle as lifecycle_store
from crm_app.store import ops as ops_store

BANDS = ("high", "medium", "low")
DAYS = 180


def trends(store: Store, model: str, today: dt.date | None = None) -> dict:
    """{"days", "pqls", "mean": band -> [...], "backtests": {"labels", "datasets"}} for one model."""
    since = ((today or dt.datetime.now(dt.timezone.utc).date()) - dt.timedelta(days=DAYS)).isoformat()
    with store.read() as conn:
        snapshots = ops_store.snapshots_of(conn, model, since)
        runs = list(reversed(lifecycle_store.backtest_runs_of(conn, model, limit=12)))
    days = sorted({s["day"] for s in snapshots})
    index = {day: i for i, day in enumerate(days)}
    pqls = [0] * len(days)
    mean: dict = {band: [None] * len(days) for band in BANDS}
    for s in snapshots:
        pqls[index[s["day"]]] += s["pqls"]
        if s["band"] in mean:
            mean[s["band"]][index[s["day"]]] = round(s["avg_combined"], 1) if s["avg_combined"] is not None else None
    return {"days": days, "pqls": pqls, "mean": mean, "backtests": bucket_conversion(runs)}


def bucket_conversion(runs: list[dict]) -> dict:
    """Conversion (%) per score bucket, one point per backtest run (oldest first), from each run's live rules."""
    labels, series = [], {}
    for run in runs:
        results = run["report"].get("results") or {}
        live = results.get("live") or next(iter(results.values()), None)
        if not live:
            continue
        day = dt.datetime.fromtimestamp(run["created_at"], dt.timezone.utc).strftime("%Y-%m-%d")
        labels.append(f"{day} #{run['id']}")
        for bucket in live.get("buckets", []):
            series.setdefault(bucket["bucket"], [None] * (len(labels) - 1))
        for name, values in series.items():
            found = next((b for b in live.get("buckets", []) if b["bucket"] == name), None)
            values.append(round(100 * found["conversion"], 1) if found and found["conversion"] is not None else None)
    return {"labels": labels, "datasets": [{"label": name, "data": data} for name, data in series.items()]}
