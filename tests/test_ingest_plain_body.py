"""The plain-body fast path: a body parse_body calls plain skips the per-value walk, and refuses exactly what the
full check refuses."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_app.errors import IngestError
from crm_app.services.ingest.messages import parse_message
from crm_app.services.ingest.values import MAX_DEPTH, check_values, parse_body


def track(props_json: str) -> bytes:
    return ('{"batch": [{"type": "track", "userId": "u1", "event": "Logged In", "messageId": "m1", '
            '"properties": ' + props_json + '}]}').encode("utf-8", "surrogatepass")


def nested(depth: int) -> str:
    """Properties whose deepest array sits at `depth` in the message (the message 1, properties 2)."""
    lists = depth - 2
    return '{"a": ' + "[" * lists + "1" + "]" * lists + "}"


PLAIN = [
    ("ordinary values", track('{"plan": "pro", "seats": 12, "price": 9.5, "ok": true, "none": null}')),
    ("non-ASCII escaped", track('{"city": "Z\\u00fcrich", "emoji": "\\u263a"}')),
    ("non-ASCII as UTF-8", track('{"city": "Zürich", "korean": "한국"}')),
    ("18-digit integer", track('{"n": 999999999999999999}')),
    ("nested to the limit", track(nested(MAX_DEPTH))),
]

SUSPECT = [
    ("NUL escape", track('{"a": "x\\u0000y"}')),
    ("NUL escape in a key", track('{"a\\u0000": 1}')),
    ("lone surrogate escape", track('{"a": "\\ud800"}')),
    ("surrogate pair escape (storable, but the bytes cannot tell)", track('{"a": "\\ud83d\\ude00"}')),
    ("surrogate as UTF-8 bytes", track('{"a": "' + chr(0xD800) + '"}')),
    ("NaN", track('{"a": NaN}')),
    ("-Infinity", track('{"a": -Infinity}')),
    ("float past 1e308", track('{"a": 1e999}')),
    ("float with 400 digits", track('{"a": ' + "9" * 400 + '.5}')),
    ("integer past int64", track('{"a": 9223372036854775808}')),
    ("integer past Python's digit limit", track('{"a": ' + "7" * 5000 + '}')),
    ("nesting past the parser", track(nested(5000))),
]


@pytest.mark.parametrize("name,raw", PLAIN, ids=[p[0] for p in PLAIN])
def test_plain_bodies_take_the_fast_path(name, raw):
    body, plain = parse_body(raw)
    assert plain
    parse_message(body["batch"][0], None, 0, None, values_checked=True)


@pytest.mark.parametrize("name,raw", SUSPECT, ids=[p[0] for p in SUSPECT])
def test_suspect_bodies_take_the_full_check(name, raw):
    body, plain = parse_body(raw)
    assert not plain
    message = body["batch"][0]
    outcomes = []
    for checked in (False, True):  # values_checked=True is never passed for such a body; it must still refuse
        try:
            parse_message(message, None, 0, None, values_checked=checked and plain)
            outcomes.append(None)
        except IngestError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


def test_too_deep_message_in_a_plain_body_is_refused_with_its_path():
    body, plain = parse_body(track(nested(MAX_DEPTH + 1)))
    assert plain
    with pytest.raises(IngestError, match="nests deeper than"):
        parse_message(body["batch"][0], None, 0, None, values_checked=True)


def test_strings_outside_json_text_are_never_plain():
    assert parse_body('{"batch": []}')[1] is False  # only bytes are scanned


scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 25), max_value=10 ** 25),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(props=st.dictionaries(st.text(max_size=4), values, max_size=4), ascii_only=st.booleans(),
       extra=st.sampled_from(["", ' 1e400', ' NaN', ' 123456789012345678901']))
def test_plain_means_every_value_is_storable(props, ascii_only, extra):
    text = json.dumps(props, ensure_ascii=ascii_only)
    if extra and text != "{}":
        text = text[:-1] + ', "x":' + extra + "}"
    raw = track(text)
    body, plain = parse_body(raw)
    if plain:
        check_values(body["batch"][0])  # raises when the fast path would have let something through
