"""Segment-compatible ingest: POST /v1/track | identify | group | page | screen | batch, write key as Basic auth."""
from __future__ import annotations

import base64
import hmac
import json

from flask import Blueprint, current_app, jsonify, request

from crm_app.services.ingest.writer import ingest_messages

bp = Blueprint("ingest", __name__, url_prefix="/v1")


def _write_key_from_request(body) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0]
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        return body["writeKey"]
    return None


def _error(status: int, message: str):
    return jsonify({"success": False, "error": message}), status


def _handle(kind: str | None):
    config = current_app.config["PQL_CONFIG"]
    if request.content_length and request.content_length > config.max_batch_bytes:
        return _error(400, f"request is {request.content_length} bytes; the limit is {config.max_batch_bytes}")
    raw = request.get_data(cache=False)
    if len(raw) > config.max_batch_bytes:
        return _error(400, f"request is {len(raw)} bytes; the limit is {config.max_batch_bytes}")
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(400, f"body is not valid JSON: {exc}")
    if config.write_key:
        given = _write_key_from_request(body)
        if given is None or not hmac.compare_digest(given.encode(), config.write_key.encode()):
            return _error(401, "missing or wrong write key: send it as the HTTP Basic user name")
    if kind is None:
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return _error(400, "a batch request needs 'batch': [messages]")
        messages, default_type = body["batch"], None
        context = body.get("context")
        if isinstance(context, dict):
            messages = [dict(m, context={**context, **(m.get("context") or {})}) if isinstance(m, dict) else m
                        for m in messages]
    else:
        messages, default_type = [body], kind
    report = ingest_messages(current_app.config["PQL_STORE"], messages, f"http:{kind or 'batch'}",
                             default_type, max_message_bytes=None if len(raw) <= config.max_message_bytes
                             else config.max_message_bytes)
    wake = current_app.config.get("PQL_ON_INGEST")  # `serve`: wake the in-process scoring job
    if wake is not None and report.accepted:
        wake()
    status = 400 if report.rejected and not report.accepted and not report.duplicates else 200
    return jsonify(report.as_json()), status


@bp.post("/batch")
@bp.post("/import")
def batch():
    return _handle(None)


@bp.post("/<kind>")
def single(kind: str):
    if kind not in ("track", "identify", "group", "page", "screen"):
        return _error(404, f"unknown endpoint /v1/{kind}; use track, identify, group, page, screen or batch")
    return _handle(kind)
