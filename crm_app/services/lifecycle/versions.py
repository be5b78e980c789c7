"""Every trained version of a lifecycle model, kept with its metrics and data window; rollback to one of them."""
from __future__ import annotations

from crm_app.models import artifact
from crm_app.store import Store
from crm_app.store import lifecycle as lifecycle_store


class RollbackError(Exception):
    """The asked version cannot go live; the message says why and what would work."""


def history(store: Store, name: str) -> list[dict]:
    """Versions of one model, newest first: status, live, when, data window, validation and metric, decision."""
    with store.read() as conn:
        rows = lifecycle_store.model_versions(conn, name)
    out = []
    for row in rows:
        metrics, report = row["metrics"] or {}, row["report"] or {}
        timed = metrics.get("time_aware") or {}
        out.append({"version": row["version"], "status": row["status"], "live": bool(row["live"]),
                    "trained_at": row["trained_at"], "as_of": row["as_of"], "data_from": row["data_from"],
                    "data_to": row["data_to"], "algorithm": metrics.get("algorithm"),
                    "validation": metrics.get("validation"), "roc_auc": metrics.get("roc_auc"),
                    "time_aware_roc_auc": timed.get("roc_auc"), "positives": report.get("positives"),
                    "negatives": report.get("negatives"), "decision": (report.get("decision") or {}).get("reason")})
    return out


def rollback(store: Store, name: str, version: int | None = None) -> tuple[int | None, int]:
    """Make an earlier trained version live (default: the newest one before the live one); (old, new)."""
    with store.begin() as conn:
        live = lifecycle_store.live_model(conn, name)
        current = live["version"] if live else None
        trained = [v for v in lifecycle_store.model_versions(conn, name) if v["status"] == "trained"]
        if not trained:
            raise RollbackError(f"model '{name}' has no trained version; run: python -m crm_app train {name}")
        if version is None:
            older = [v["version"] for v in trained if current is None or v["version"] < current]
            if not older:
                raise RollbackError(f"model '{name}' has no trained version before the live v{current}")
            version = older[0]
        if version not in {v["version"] for v in trained}:
            choices = ", ".join(f"v{v['version']}" for v in trained)
            raise RollbackError(f"model '{name}' has no trained version {version}; trained versions: {choices}")
        try:
            artifact.load(lifecycle_store.model_artifact(conn, name, version))
        except artifact.ArtifactRefused as exc:
            raise RollbackError(f"model '{name}' v{version} cannot go live: {exc}") from None
        lifecycle_store.set_live(conn, name, version)
    return current, version
