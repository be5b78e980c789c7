"""/healthz answers for liveness; /readyz reports the database, the admin files and the last run."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from crm_app.services.ops.status import gather_status

bp = Blueprint("probes", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    try:
        status = gather_status(current_app.config["PQL_STORE"], current_app.config["PQL_CONFIG"])
    except Exception as exc:  # noqa: BLE001 - readiness must answer, whatever failed
        return jsonify({"ready": False, "database": {"ok": False, "error": str(exc)}}), 503
    ready = status["database"]["ok"] and status["admin_files"]["ok"]
    return jsonify(dict(status, ready=ready)), 200 if ready else 503
