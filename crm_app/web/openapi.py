"""The ingest API described in OpenAPI 3.1, served at GET /openapi.json."""
from __future__ import annotations

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)

_ID = {"type": ["string", "integer", "null"], "description": "text or a whole number, at most 255 characters"}
_OBJECT = {"type": ["object", "null"], "additionalProperties": True}

MESSAGE = {
    "type": "object",
    "description": "One Segment-spec message. Values no backend can store (NaN, numbers past 64 bits, NUL, "
                   "lone surrogates, nesting past 32 levels) refuse this message alone.",
    "properties": {
        "type": {"enum": ["track", "identify", "group", "page", "screen", "alias"]},
        "userId": _ID, "anonymousId": _ID, "messageId": _ID, "groupId": _ID,
        "previousId": dict(_ID, description="alias: the earlier id that becomes userId"),
        "event": {"type": "string", "maxLength": 255},
        "name": {"type": "string"},
        "timestamp": {"type": ["string", "number"], "description": "ISO-8601, or epoch seconds / ms"},
        "originalTimestamp": {"type": ["string", "number"]}, "sentAt": {"type": ["string", "number"]},
        "properties": _OBJECT, "traits": _OBJECT, "context": _OBJECT, "integrations": _OBJECT,
    },
    "additionalProperties": True,
}

REPORT = {
    "type": "object",
    "required": ["success", "accepted", "duplicates", "rejected"],
    "properties": {
        "success": {"type": "boolean"},
        "accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
        "rejected": {"type": "array", "items": {
            "type": "object", "required": ["index", "reason"],
            "properties": {"index": {"type": "integer"}, "reason": {"type": "string"}}}},
    },
}

ERROR = {
    "type": "object",
    "required": ["success", "code", "message"],
    "description": "The shape the Segment and RudderStack SDKs parse; 4xx is not retried, 5xx is.",
    "properties": {"success": {"const": False}, "code": {"type": "string"}, "message": {"type": "string"},
                   "error": {"type": "string"}},
}


def _error(text: str) -> dict:
    return {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


RESPONSES = {
    "200": {"description": "stored; per-message refusals listed by index",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}}},
    "400": _error("invalid JSON or gzip, no batch list, or every message refused"),
    "401": _error("missing or wrong write key"),
    "404": _error("unknown endpoint"),
    "413": _error("the body, or its decompressed form, is over MAX_BATCH_BYTES"),
    "415": _error("a Content-Encoding other than gzip"),
    "503": _error("the store is unavailable; retry"),
}

ENCODING = {"name": "Content-Encoding", "in": "header", "required": False,
            "schema": {"enum": ["gzip", "identity"]}, "description": "gzip bodies are decompressed within the limit"}


def _operation(summary: str, schema: dict) -> dict:
    return {"post": {"summary": summary, "parameters": [ENCODING], "security": [{"writeKey": []}],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                     "responses": RESPONSES}}


def spec() -> dict:
    batch = {"type": "object", "required": ["batch"], "properties": {
        "batch": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
        "context": _OBJECT, "writeKey": {"type": "string"}, "sentAt": {"type": "string"}}}
    paths = {"/v1/batch": _operation("a batch of messages", batch),
             "/v1/import": _operation("a batch of messages (alias of /v1/batch)", batch)}
    for kind in ("track", "identify", "group", "page", "screen", "alias"):
        paths[f"/v1/{kind}"] = _operation(f"one {kind} message (type defaults to {kind})",
                                          {"$ref": "#/components/schemas/Message"})
    return {
        "openapi": "3.1.0",
        "info": {"title": "PQL scoring ingest API (Segment-compatible)", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {"Message": MESSAGE, "Report": REPORT, "Error": ERROR},
            "securitySchemes": {"writeKey": {"type": "http", "scheme": "basic",
                                             "description": "the write key as user name, empty password"}},
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(spec())
