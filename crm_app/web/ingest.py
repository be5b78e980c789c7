"""Segment-compatible ingest: POST /v1/track | identify | group | page | screen | alias | batch.

The write key is the HTTP Basic user name (or `writeKey` in the body). Bodies may be gzipped. Errors answer
{"success": false, "code": ..., "message": ...}, the shape the Segment and RudderStack SDKs parse; 4xx means
"do not retry", and a 5xx (only ever a store outage) means "retry"."""
from __future__ import annotations

import base64
import binascii
import hmac
import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from crm_app.errors import IngestError
from crm_app.services.ingest.body import BodyRefused, read_body
from crm_app.services.ingest.messages import MESSAGE_TYPES
from crm_app.services.ingest.values import parse_body
from crm_app.services.ingest.writer import ingest_messages
from crm_app.web.metrics import count_messages

bp = Blueprint("ingest", __name__, url_prefix="/v1")
log = logging.getLogger(__name__)


def _write_key_from_request(body) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode()
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return None
        return decoded.split(":", 1)[0]
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        return body["writeKey"]
    return None


def _error(status: int, code: str, message: str, **extra):
    return jsonify({"success": False, "code": code, "message": message, "error": message, **extra}), status


def _with_batch_context(messages: list, context) -> list:
    """A batch-level `context` fills in each message's own; a message whose context is no object keeps it,
    to be refused alone."""
    if not isinstance(context, dict):
        return messages
    return [dict(m, context={**context, **(m.get("context") or {})})
            if isinstance(m, dict) and isinstance(m.get("context") or {}, dict) else m for m in messages]


def _handle(kind: str | None):
    config = current_app.config["PQL_CONFIG"]
    try:
        raw = read_body(request.stream, request.content_length, request.headers.get("Content-Encoding"),
                        config.max_batch_bytes)
        body, plain = parse_body(raw or b"null")
    except BodyRefused as exc:
        return _error(exc.status, exc.code, exc.message)
    except IngestError as exc:
        return _error(400, "invalid_request", f"the body is {exc}")
    if config.write_key:
        given = _write_key_from_request(body)
        if given is None or not hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                                    config.write_key.encode("utf-8", "surrogatepass")):
            return _error(401, "unauthorized", "missing or wrong write key: send it as the HTTP Basic user name")
    if kind is None:
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return _error(400, "invalid_request", "a batch request needs 'batch': [messages]")
        messages, default_type = _with_batch_context(body["batch"], body.get("context")), None
    else:
        messages, default_type = [body], kind
    report = ingest_messages(current_app.config["PQL_STORE"], messages, f"http:{kind or 'batch'}",
                             default_type, max_message_bytes=None if len(raw) <= config.max_message_bytes
                             else config.max_message_bytes, values_checked=plain)
    count_messages(report)
    wake = current_app.config.get("PQL_ON_INGEST")  # `serve`: wake the in-process scoring job
    if wake is not None and report.accepted:
        wake()
    if report.rejected and not report.accepted and not report.duplicates:
        first = report.rejected[0]
        return _error(400, "invalid_request", f"every message was rejected; message {first['index']}: "
                      f"{first['reason']}", **{k: v for k, v in report.as_json().items() if k != "success"})
    return jsonify(report.as_json()), 200


@bp.errorhandler(Exception)
def _store_unavailable(exc):
    """Only a failing store gets here (every message is checked first): 503, so the SDKs retry later."""
    if isinstance(exc, HTTPException) and exc.code and exc.code < 500:
        return _error(exc.code, "invalid_request", exc.description or exc.name)
    log.exception("ingest failed: %s", exc)
    return _error(503, "unavailable", "the store is unavailable; retry later")


@bp.post("/batch")
@bp.post("/import")
def batch():
    return _handle(None)


@bp.post("/<kind>")
def single(kind: str):
    if kind not in MESSAGE_TYPES:
        return _error(404, "not_found", f"unknown endpoint /v1/{kind[:40]}; use {', '.join(MESSAGE_TYPES)} "
                      "or batch")
    return _handle(kind)
