"""Hostile bodies on both backends: never a 5xx, never a good message lost, scoring still runs afterwards."""
from __future__ import annotations

import base64
import gzip
import json
import math
import os
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.ingest_server import WRITE_KEY, event_counts, make_app, score_and_read

CORPUS = sorted((Path(__file__).parent / "golden" / "hostile_ingest").glob("*.json"))
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode(),
        "Content-Type": "application/json"}
STATS: dict = {}  # backend -> counters, written to $HOSTILE_STATS when set


def _count(backend: str, requests: int = 0, server_errors: int = 0, good_sent: int = 0, good_lost: int = 0):
    row = STATS.setdefault(backend, {"hostile_requests": 0, "5xx": 0, "good_sent": 0, "good_lost": 0})
    for key, n in (("hostile_requests", requests), ("5xx", server_errors), ("good_sent", good_sent),
                   ("good_lost", good_lost)):
        row[key] += n
    if os.environ.get("HOSTILE_STATS"):
        Path(os.environ["HOSTILE_STATS"]).write_text(json.dumps(STATS, indent=1))


def _backend(store) -> str:
    return "postgresql" if store.url.startswith("postgresql") else "sqlite"


@pytest.fixture
def hostile_app(store):
    app = make_app(store.url)
    yield app
    app.config["PQL_STORE"].dispose()


def _post(app, body: bytes, path: str = "/v1/batch", headers: dict | None = None):
    return app.test_client().post(path, data=body, headers=dict(AUTH, **(headers or {})))


@pytest.mark.parametrize("case", CORPUS, ids=[p.stem for p in CORPUS])
def test_golden_hostile_payloads(store, hostile_app, case):
    spec = json.loads(case.read_text())
    body = spec["body"].encode("utf-8", "surrogatepass")
    good = [m for m in ("good-",) if m in spec["body"]]
    response = _post(hostile_app, body, spec.get("path", "/v1/batch"))
    _count(_backend(store), requests=1, server_errors=int(response.status_code >= 500))
    assert response.status_code == spec["status"], response.get_data(as_text=True)[:500]
    answer = response.get_json()
    assert answer is not None
    if spec["status"] == 200:
        assert answer["accepted"] == spec["accepted"]
        assert [r["index"] for r in answer["rejected"]] == spec["rejected"]
        assert all(isinstance(r["reason"], str) and r["reason"] for r in answer["rejected"])
    else:
        assert answer["success"] is False and answer["code"] and answer["message"]
    if good:
        sent = [e for e in event_counts(store) if e.startswith("good-")]
        expected = spec["body"].count('"type": "track", "userId": "good-') + spec["body"].count("good-odd-") \
            - spec["body"].count('"type": "group", "userId": "odd-1"')
        _count(_backend(store), good_sent=expected, good_lost=max(0, expected - len(sent)))
        assert len(sent) == expected
    score_and_read(store)


def test_every_golden_payload_then_scoring_on_one_store(store, hostile_app):
    """The whole corpus into one store, then a full score and the dashboard queries."""
    for case in CORPUS:
        spec = json.loads(case.read_text())
        response = _post(hostile_app, spec["body"].encode("utf-8", "surrogatepass"), spec.get("path", "/v1/batch"))
        assert response.status_code == spec["status"]
    assert score_and_read(store) > 0


def _batch(n: int) -> bytes:
    return json.dumps({"batch": [{"type": "track", "userId": f"gz{i}", "event": "Gzip Sent",
                                  "messageId": f"gz-{i}"} for i in range(n)]}).encode()


def test_gzip_bodies(store, hostile_app):
    response = _post(hostile_app, gzip.compress(_batch(50)), headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.get_json()["accepted"] == 50
    assert sum(1 for m in event_counts(store) if m.startswith("gz-")) == 50


@pytest.mark.parametrize("body,status,code", [
    (gzip.compress(b"\0" * 50_000_000), 413, "payload_too_large"),  # 50 MB of zeros in ~50 KB
    (gzip.compress(b" " * 600_000), 413, "payload_too_large"),
    (b"not gzip at all", 400, "invalid_request"),
    (gzip.compress(_batch(20))[:-12], 400, "invalid_request"),
    (gzip.compress(_batch(2)) + b"trailing", 400, "invalid_request"),
], ids=["bomb", "just-over", "not-gzip", "truncated", "trailing"])
def test_hostile_gzip_is_refused_fast(store, hostile_app, body, status, code):
    started = time.perf_counter()
    response = _post(hostile_app, body, headers={"Content-Encoding": "gzip"})
    _count(_backend(store), requests=1, server_errors=int(response.status_code >= 500))
    assert (response.status_code, response.get_json()["code"]) == (status, code)
    assert time.perf_counter() - started < 1.0


def test_unknown_encoding_and_oversized_plain_body(hostile_app):
    assert _post(hostile_app, _batch(1), headers={"Content-Encoding": "br"}).status_code == 415
    big = _post(hostile_app, b" " * 600_000)
    assert big.status_code == 413 and "512000" in big.get_json()["message"]


# Hostile JSON: values of every kind a backend may refuse, nested, inside messages between good ones.
_scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["\x00", "a\x00", "\ud800", "x\udfff", "\u0130" * 130, "e" * 300]),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5) | st.just("\x00"), inner, max_size=3)),
    max_leaves=12)
_deep = st.integers(min_value=30, max_value=60).map(lambda n: json.loads("[" * n + "]" * n))
_hostile = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["track", "identify", "group", "page", "screen", "alias", "nope"]) | _values,
    "userId": _values, "anonymousId": _values, "previousId": _values, "groupId": _values,
    "event": _values, "messageId": _values, "timestamp": _values,
    "properties": _values | _deep, "traits": _values, "context": _values,
}) | _values


def _dump(value) -> str:
    """JSON text as an SDK in another language might send it: NaN literals, escaped surrogates."""
    return json.dumps(value, allow_nan=True)


@settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hostile=st.lists(_hostile, min_size=1, max_size=4), seed=st.integers(0, 10 ** 9))
def test_hypothesis_hostile_messages_never_5xx_never_lose_good_ones(store, hostile_app, hostile, seed):
    goods = [{"type": "track", "userId": f"hy{seed}", "event": "Good", "messageId": f"good-hy-{seed}-{i}"}
             for i in range(2)]
    body = "[" + ", ".join([_dump(goods[0])] + [_dump(h) for h in hostile] + [_dump(goods[1])]) + "]"
    response = _post(hostile_app, ('{"batch": ' + body + "}").encode("utf-8", "surrogatepass"))
    _count(_backend(store), requests=1, server_errors=int(response.status_code >= 500), good_sent=2)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    stored = event_counts(store)
    lost = sum(1 for g in goods if stored.get(g["messageId"]) != 1)
    _count(_backend(store), good_lost=lost)
    assert lost == 0


def test_scoring_runs_after_hypothesis_style_values(store, hostile_app):
    """Values that are accepted but odd (unicode, 64-bit edges, deep-but-allowed nesting) keep scoring working."""
    odd = {"type": "track", "userId": "odd", "event": "Odd", "properties": {
        "big": 2 ** 63 - 1, "small": -(2 ** 63), "f": 1e308, "tiny": math.ulp(0.0), "deep": json.loads("[" * 30 + "]" * 30),
        "u": "\u0130\U0001F600", "mixed": [1, "a", None, True, {"k": [1.5]}]}}
    assert _post(hostile_app, json.dumps({"batch": [odd]}).encode()).status_code == 200
    assert score_and_read(store) > 0


@pytest.mark.parametrize("body", [
    b'{"writeKey": "\\ud800", "batch": []}', b'{"writeKey": "\\u0000", "batch": []}', b'{"writeKey": 5}',
])
def test_hostile_write_key_in_the_body_is_a_401(hostile_app, body):
    response = hostile_app.test_client().post("/v1/batch", data=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.get_json()["code"]) == (401, "unauthorized")


def test_hostile_lines_in_an_import_file_are_refused_alone(store, tmp_path):
    from crm_app.services.ingest.imports import import_events
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([
        '{"userId": "f1", "event": "Good", "messageId": "good-f1"}',
        '{"userId": "f2", "event": "Big", "properties": {"x": ' + "9" * 5000 + "}}",
        '{"userId": "f3", "event": "NaN", "properties": {"x": NaN}}',
        '{"userId": "f4", "event": "Nul\\u0000"}',
        "[" * 5000 + "]" * 5000,
        '{"userId": "f5", "event": "Good", "messageId": "good-f5"}']) + "\n")
    report = import_events(store, path, quiet=True)
    assert report.accepted == 2 and sorted(r["index"] for r in report.rejected) == [2, 3, 4, 5]
    score_and_read(store)


def _too_deep_for_the_parser(depth: int, kind: str) -> str:
    inner = {"array": ("[" * depth, "]" * depth), "object": ('{"k": ' * depth + "0", "}" * depth),
             "mixed": ('[{"k": ' * (depth // 2) + "0", "}]" * (depth // 2))}[kind]
    return ('{"type": "track", "userId": "deep", "event": "Deep", "properties": {"s": "]}[{\\"", "v": '
            + inner[0] + inner[1] + "}}")


@settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "12")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(layout=st.lists(st.tuples(st.booleans(), st.integers(1_100, 6_000),
                                 st.sampled_from(["array", "object", "mixed"])), min_size=1, max_size=5),
       seed=st.integers(0, 10 ** 9))
def test_a_message_nested_past_the_parser_limit_is_refused_alone(store, hostile_app, layout, seed):
    parts, deep_at, goods, run = [], [], [], uuid.uuid4().hex[:8]  # hypothesis reuses the store between examples
    for i, (deep, depth, kind) in enumerate(layout + [(False, 0, "")]):
        if deep:
            parts.append(_too_deep_for_the_parser(depth, kind))
            deep_at.append(i)
        else:
            goods.append(f"good-deep-{run}-{i}")
            parts.append(_dump({"type": "track", "userId": f"u{seed}", "event": "Good", "messageId": goods[-1],
                                "properties": {"s": "[[{ \" ]"}}))
    response = _post(hostile_app, ('{"batch": [' + ", ".join(parts) + "]}").encode())
    _count(_backend(store), requests=1, server_errors=int(response.status_code >= 500), good_sent=len(goods))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    answer = response.get_json()
    assert [r["index"] for r in answer["rejected"]] == deep_at
    assert all("nests deeper than" in r["reason"] for r in answer["rejected"])
    stored = event_counts(store)
    lost = sum(1 for g in goods if stored.get(g) != 1)
    _count(_backend(store), good_lost=lost)
    assert lost == 0 and answer["accepted"] == len(goods)
