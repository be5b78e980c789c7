"""Validation of Segment-spec messages (track, identify, group, page, screen): pure, one message at a time."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from crm_app.errors import IngestError
from crm_app.services.ingest.values import check_values, storable_depth, text_field

MESSAGE_TYPES = ("track", "identify", "group", "page", "screen", "alias")
LATEST_TS = 253402300799  # 9999-12-31T23:59:59Z, the last moment ISO-8601 writes with four digits
PAGE_EVENT, SCREEN_EVENT = "Page Viewed", "Screen Viewed"


@dataclass(frozen=True)
class Message:
    """One valid message, reduced to what the store keeps."""

    type: str
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    ts: int
    event: str | None = None
    properties: dict | None = None
    traits: dict | None = None
    group_id: str | None = None


def parse_timestamp(value, field: str = "timestamp") -> int:
    """Epoch seconds from ISO-8601 text (a missing zone means UTC) or epoch seconds / milliseconds."""
    if isinstance(value, bool):
        raise IngestError(f"'{field}' must be an ISO-8601 date-time such as 2026-11-01T12:00:00Z")
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 10_000_000_000 else value
        if not 0 <= seconds <= LATEST_TS:  # also NaN: every comparison with it is false
            raise IngestError(f"'{field}' {value!r} is outside 1970-01-01 .. 9999-12-31 in epoch seconds or ms")
        return int(seconds)
    if not isinstance(value, str) or not value.strip():
        raise IngestError(f"'{field}' must be an ISO-8601 date-time such as 2026-11-01T12:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)  # the common form, with Z or an offset, as the SDKs send it
    except ValueError:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise IngestError(f"'{field}' {value!r} is not an ISO-8601 date-time such as 2026-11-01T12:00:00Z")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return int(parsed.timestamp())
    except (OverflowError, ValueError, OSError):
        raise IngestError(f"'{field}' {value!r} is outside the range of dates the store keeps") from None


def _identifier(raw, field: str) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise IngestError(f"'{field}' must be text or a whole number, got {type(raw).__name__}")
    text = str(raw).strip()
    if len(text) > 255:
        raise IngestError(f"'{field}' is longer than 255 characters")
    return text or None


def _mapping(raw, field: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise IngestError(f"'{field}' must be an object, got {type(raw).__name__}")
    return raw


def derived_message_id(message: dict) -> str:
    """A stable id for a message sent without one, so re-sending the same file stores it once."""
    canonical = json.dumps(message, sort_keys=True, separators=(",", ":"), default=str)
    return "derived-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def parse_message(raw, default_type: str | None, received_at: int, max_bytes: int | None,
                  values_checked: bool = False) -> Message:
    """Check one message against the Segment spec; raise IngestError with the reason when it is not valid.

    values_checked: the message comes from a body values.parse_body found plain, so only its depth is left to
    check (the full walk then runs only when the depth is past the limit, to name the value)."""
    if not isinstance(raw, dict):
        raise IngestError(f"a message must be a JSON object, got {type(raw).__name__}")
    if not values_checked or not storable_depth(raw):
        check_values(raw)
    # None: the caller knows the whole request is within the limit, so no message in it can exceed it.
    size = len(json.dumps(raw, default=str).encode()) if max_bytes is not None else 0
    if max_bytes is not None and size > max_bytes:
        raise IngestError(f"message is {size} bytes; the limit is {max_bytes} bytes (32 KB)")
    kind = raw.get("type", default_type)
    if kind not in MESSAGE_TYPES:
        raise IngestError(f"'type' must be one of {', '.join(MESSAGE_TYPES)}, got {kind!r}")
    user_id = _identifier(raw.get("userId"), "userId")
    anonymous_id = _identifier(raw.get("anonymousId"), "anonymousId")
    if user_id is None and anonymous_id is None:
        raise IngestError("a message needs 'userId' or 'anonymousId'")
    if kind == "alias":
        # Segment's alias: the earlier id (an anonymous id or a former user id) becomes this user.
        previous = _identifier(raw.get("previousId"), "previousId")
        if user_id is None or previous is None:
            raise IngestError("an alias message needs 'previousId' and 'userId'")
        anonymous_id = previous
    stamp = raw.get("timestamp") or raw.get("originalTimestamp") or raw.get("sentAt")
    ts = parse_timestamp(stamp) if stamp is not None else received_at
    message_id = _identifier(raw.get("messageId"), "messageId") or derived_message_id(raw)
    context = _mapping(raw.get("context"), "context")
    group_id = _identifier(context.get("groupId"), "context.groupId")
    if kind == "track":
        event = raw.get("event")
        name = event.strip() if isinstance(event, str) else None
        if not name:
            raise IngestError("a track message needs 'event', the name of what the user did")
        # Stored as typed and lower-cased; lower() at most doubles a length, so short names skip it.
        if len(name) > 127 and max(len(name), len(name.lower())) > 255:
            raise IngestError("'event' is longer than 255 characters (also once lower-cased)")
        return Message(kind, message_id, user_id, anonymous_id, ts, name,
                       _mapping(raw.get("properties"), "properties"), group_id=group_id)
    if kind in ("page", "screen"):
        props = dict(_mapping(raw.get("properties"), "properties"))
        if raw.get("name"):
            props.setdefault("name", raw["name"])
        return Message(kind, message_id, user_id, anonymous_id, ts, PAGE_EVENT if kind == "page" else SCREEN_EVENT,
                       props, group_id=group_id)
    if kind == "alias":
        return Message(kind, message_id, user_id, anonymous_id, ts, group_id=group_id)
    traits = _mapping(raw.get("traits"), "traits")
    if kind == "identify":
        # RudderStack's SDK sends identify traits as context.traits; Segment's at the top level.
        traits = {**_mapping(context.get("traits"), "context.traits"), **traits}
        text_field(traits, "email", "traits.email", 320)
        return Message(kind, message_id, user_id, anonymous_id, ts, traits=traits, group_id=group_id)
    group = _identifier(raw.get("groupId"), "groupId")
    if group is None:
        raise IngestError("a group message needs 'groupId', the account or workspace id")
    for key in ("name", "domain", "website"):
        text_field(traits, key, f"traits.{key}", 255 if key == "name" else 2048)
    return Message(kind, message_id, user_id, anonymous_id, ts, traits=traits, group_id=group)
