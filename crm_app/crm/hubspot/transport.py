"""HubSpot transport: every generated API client of hubspot-api-client gets a counting, backing-off request.

The client's urllib3 Retry does not retry POST by default and hides the attempts it makes, so we set its
retries to zero and wrap the REST client: each attempt is counted, 429 and 5xx wait (honouring Retry-After),
and only reads, batch updates, searches and PATCHes are repeated after a lost answer.
"""
from __future__ import annotations

from importlib import metadata
from urllib.parse import urlsplit

import urllib3

from crm_app.crm.base import CallCounter
from crm_app.crm.retry import RETRY_STATUSES, RetryPolicy, family_of

SAFE_POSTS = ("/batch/read", "/search")  # batch/update: the adapter reads back after a lost answer
LIMIT_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining",
                 "X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds")


def api_factory(counter: CallCounter, policy: RetryPolicy, timeout: float):
    """An `api_factory` for hubspot.HubSpot(...): configure like the default, then wrap the REST client."""
    def factory(api_client_package, api_name, config):
        configuration = api_client_package.Configuration()
        for key, value in config.items():
            if key == "retry":
                continue
            if key == "api_key":
                configuration.api_key["developer_hapikey"] = value
            else:
                setattr(configuration, key, value)
        configuration.retries = urllib3.Retry(total=0, redirect=0, raise_on_status=False)
        api_client = api_client_package.ApiClient(configuration=configuration)
        api_client.user_agent = f"hubspot-api-client-python; {metadata.version('hubspot-api-client')}"
        _wrap(api_client.rest_client, counter, policy, timeout)
        return getattr(api_client_package, api_name)(api_client=api_client)
    return factory


def _wrap(rest_client, counter: CallCounter, policy: RetryPolicy, timeout: float) -> None:
    original = rest_client.request

    def request(method, url, *args, **kwargs):
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = timeout
        path = urlsplit(url).path
        family = family_of(path)
        safe = method.upper() in ("GET", "PATCH", "PUT", "DELETE") or path.endswith(SAFE_POSTS)
        attempt = 0
        while True:
            counter.count(family)
            try:
                response = original(method, url, *args, **kwargs)
                _note(counter, _headers(response))
                return response
            except urllib3.exceptions.HTTPError:
                if not safe or attempt + 1 >= policy.attempts:
                    raise
                policy.sleep(policy.delay(attempt))
            except Exception as exc:  # each generated package has its own ApiException class
                status, headers = getattr(exc, "status", None), getattr(exc, "headers", None) or {}
                _note(counter, headers)
                retry = status in RETRY_STATUSES and (safe or status == 429) and attempt + 1 < policy.attempts
                if not retry:
                    raise
                policy.sleep(policy.delay(attempt, headers.get("Retry-After")))
            attempt += 1

    rest_client.request = request


def _headers(response):
    """Response headers of a preloaded RESTResponse or of a raw urllib3 response."""
    getter = getattr(response, "getheaders", None)
    try:
        return getter() if getter else response.headers
    except AttributeError:
        return getattr(response, "headers", {})


def _note(counter: CallCounter, headers) -> None:
    for name in LIMIT_HEADERS:
        value = headers.get(name) if headers else None
        if value is not None:
            counter.limits[name] = value
