"""/healthz answers for liveness; /readyz says ready or not. The details (database, admin files, last run)
only for a signed-in admin or with the READYZ_TOKEN bearer token; every answer is cached for a few seconds,
so probes never cost an admin-file parse each."""
from __future__ import annotations

import hmac
import threading
import time

from flask import Blueprint, current_app, jsonify, request, session

from crm_app.services.ops.status import gather_status

bp = Blueprint("probes", __name__)
TTL_SECONDS = 2.0
_lock = threading.Lock()


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def _status() -> tuple[bool, dict]:
    """(ready, details), recomputed at most once per TTL per app."""
    cache = current_app.extensions.setdefault("pql_readyz", {})
    with _lock:
        if cache.get("until", 0) > time.monotonic():  # PQL_READYZ_TTL in app.config overrides the TTL
            return cache["ready"], cache["details"]
        try:
            details = gather_status(current_app.config["PQL_STORE"], current_app.config["PQL_CONFIG"])
            ready = bool(details["database"]["ok"] and details["admin_files"]["ok"])
        except Exception as exc:  # noqa: BLE001 - readiness must answer, whatever failed
            details, ready = {"database": {"ok": False, "error": str(exc)}}, False
        ttl = current_app.config.get("PQL_READYZ_TTL", TTL_SECONDS)
        cache.update(until=time.monotonic() + ttl, ready=ready, details=details)
        return ready, details


def _may_see_details() -> bool:
    token = current_app.config["PQL_CONFIG"].readyz_token
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return True
    from crm_app.services.dashboard.auth import session_user
    live = session_user(current_app.config["PQL_STORE"], session.get("sid"))
    return bool(live and live[1] == "admin")


@bp.get("/readyz")
def readyz():
    ready, details = _status()
    body = dict(details, ready=ready) if _may_see_details() else {"status": "up" if ready else "down"}
    body["status"] = "up" if ready else "down"
    return jsonify(body), 200 if ready else 503
