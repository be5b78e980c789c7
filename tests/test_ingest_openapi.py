"""The ingest API's OpenAPI 3.1 document, and schemathesis fuzzing it on both backends."""
from __future__ import annotations

import base64

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.ingest_server import WRITE_KEY, make_app, score_and_read

from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


@pytest.fixture
def fuzzed(store):
    app = make_app(store.url)
    app.config["PQL_FUZZ_STORE"] = store
    yield app
    app.config["PQL_STORE"].dispose()


@pytest.fixture
def api_schema(fuzzed):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzzed)


def test_spec_is_openapi_3_1_and_lists_every_endpoint(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]) == {f"/v1/{k}" for k in ("batch", "import", "track", "identify", "group", "page",
                                                        "screen", "alias")}


def _fuzz(api_schema, examples: int, check) -> int:
    """Run `check` on fuzzed cases of every operation; return how many requests were sent."""
    from hypothesis import given
    sent = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case):
            sent.append(1)
            check(case, case.call(headers=AUTH))
        run()
    return len(sent)


def test_fuzzed_requests_never_5xx_and_match_the_spec(fuzzed, api_schema):
    """Schemathesis cases for each operation (the pytest plugin's collection does not run on pytest 9)."""
    def check(case, response):
        assert response.status_code < 500, response.text[:300]
        # A schema-valid message may still be refused (NUL text, NaN, no user id): positive-data check off.
        # The write key is tested in test_ingest_api.py; this fuzz sends it on every request.
        case.validate_response(response, excluded_checks=[positive_data_acceptance, ignored_auth])
    assert _fuzz(api_schema, 8, check) >= 8
    score_and_read(fuzzed.config["PQL_FUZZ_STORE"])
