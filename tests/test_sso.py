"""Sign-in with OpenID Connect against a provider on loopback (tests/oidc_provider.py), on SQLite and PostgreSQL.

| attack | answer |
|---|---|
| ID token with a wrong nonce | 401, no session |
| callback replayed (same state and code, with the cookie copied from before the sign-in) | 400, provider not asked |
| callback started in another browser (login CSRF: the attacker's code in the victim's browser) | 400 |
| callback more than 10 minutes after the sign-in started | 400 |
| ID token for another audience, or for ours among others with another authorized party (azp) | 401 |
| ID token from another issuer | 401 |
| expired ID token | 401 |
| unsigned ID token (`alg: none`) | 401 |
| ID token signed with a key not in the provider's JWKS | 401 |
| ID token signed HS256 with the client secret as the key | 401 |
| email not verified (false or absent) | 403 |
| user on neither the role map nor the allow-list | 403 |
| Google Workspace: another hosted domain | 403 |
| provider answers error=access_denied | 401 |
| callback with no state, garbage state, or no code | 400 |
| provider down | 503 with a message |
| 50 refused callbacks from one address | 5 answered 401 (and audited), then 429 for that address only |
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from tests.conftest import ROOT
from tests.oidc_provider import Provider

CALLBACK = "http://localhost/dashboard/login/sso/callback"


@pytest.fixture
def provider():
    with Provider() as idp:
        idp.redirect_uris.add(CALLBACK)
        idp.add_user("ana@corp.example", groups=["pql-admins", "everyone"])
        idp.add_user("max@corp.example", groups=["sales-managers"])
        idp.add_user("val@corp.example", groups=[])
        idp.add_user("eve@elsewhere.example", groups=[])
        idp.add_user("unverified@corp.example", email_verified=False, groups=["pql-admins"])
        idp.add_user("silent@corp.example", email_verified=None, groups=["pql-admins"])
        yield idp


def make_app(store, provider, **settings):
    from crm_app import create_app
    from crm_app.config import Config
    values = dict(oidc_issuer=provider.issuer, oidc_client_id=provider.client_id,
                  oidc_client_secret=provider.client_secret, oidc_provider_name="Loopback IdP",
                  oidc_role_claim="groups", oidc_role_map="pql-admins=admin,sales-managers=manager",
                  oidc_allowed="@corp.example=viewer")
    values.update(settings)
    config = Config.from_env({}, database_url=store.url, specs_root=str(ROOT), secret_key="s" * 32, **values)
    app = create_app(config, store=store)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app(store, provider):
    return make_app(store, provider)


def start(client, next_path: str = "/dashboard/people") -> str:
    response = client.get(f"/dashboard/login/sso?next={next_path}")
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def at_provider(authorize_url: str, login: str) -> str:
    """What the user's browser does at the provider: sign in and follow the redirect back (its URL)."""
    params = dict(parse_qsl(urlsplit(authorize_url).query))
    answer = requests.post(authorize_url.split("?")[0], data={**params, "login": login}, allow_redirects=False,
                           timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def back_at(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(app, login: str):
    client = app.test_client()
    return client, back_at(client, at_provider(start(client), login))


def signed_in(client) -> bool:
    return client.get("/dashboard/people").status_code == 200


@pytest.mark.parametrize("login, role", [("ana@corp.example", "admin"), ("max@corp.example", "manager"),
                                         ("val@corp.example", "viewer")])
def test_a_user_signs_in_with_the_role_of_their_group_or_the_allow_list(app, login, role):
    from crm_app.services.dashboard.users import audit_entries
    client, response = sign_in(app, login)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/people"
    assert signed_in(client)
    with client.session_transaction() as sess:
        assert (sess["user"], sess["role"]) == (login, role)
    entry = audit_entries(app.config["PQL_STORE"], 1, "sign_in")[0]
    assert (entry["actor"], entry["detail"]["role"], entry["detail"]["method"]) == (login, role, "oidc")


def test_the_authorization_request_carries_state_nonce_and_pkce(app):
    params = dict(parse_qsl(urlsplit(start(app.test_client())).query))
    assert params["response_type"] == "code" and "openid" in params["scope"].split()
    assert len(params["state"]) >= 20 and len(params["nonce"]) >= 20
    assert params["code_challenge_method"] == "S256" and params["redirect_uri"] == CALLBACK


def test_signing_out_ends_an_sso_session_like_any_other(app):
    client, _ = sign_in(app, "ana@corp.example")
    stolen = client.get_cookie("session").value
    token = client.get("/dashboard/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/dashboard/logout", data={"csrf_token": token})
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert not signed_in(thief)


TAMPERED = [  # (name, claims changed, signing, the reason the refusal must name)
    ("wrong nonce", {"nonce": "not-the-nonce-we-sent"}, "rs256", "Invalid claim: &#39;nonce&#39;"),
    ("another audience", {"aud": "some-other-client"}, "rs256", "&#39;azp&#39;"),
    ("our audience among others, authorized party another", {"aud": ["pql-dashboard", "x"], "azp": "x"}, "rs256",
     "Invalid claim: &#39;azp&#39;"),
    ("another issuer", {"iss": "https://evil.example"}, "rs256", "Invalid claim: &#39;iss&#39;"),
    ("expired", {"exp": 1_000_000_000, "iat": 999_999_000}, "rs256", "expired"),
    ("no nonce", {"nonce": None}, "rs256", "Missing claim: &#39;nonce&#39;"),
    ("unsigned, alg none", {}, "none", "Algorithm of &#39;none&#39; is not allowed"),
    ("signed with a key not in the JWKS", {}, "other-key", "BadSignatureError"),
    ("HS256 keyed with the client secret", {}, "hs256-secret", "Algorithm of &#39;HS256&#39; is not allowed"),
]


@pytest.mark.parametrize("name, claims, signing, reason", TAMPERED, ids=[t[0] for t in TAMPERED])
def test_a_forged_or_stale_id_token_is_refused(app, provider, name, claims, signing, reason):
    from crm_app.services.dashboard.users import audit_entries
    provider.tamper, provider.signing = claims, signing
    client, response = sign_in(app, "ana@corp.example")
    assert response.status_code == 401, response.text
    assert "Sign-in refused" in response.text and reason in response.text, response.text
    assert not signed_in(client)
    assert audit_entries(app.config["PQL_STORE"], 1, "sign_in_refused")[0]["detail"]["method"] == "oidc"
    assert audit_entries(app.config["PQL_STORE"], 1, "sign_in") == []


@pytest.mark.parametrize("login, expected", [
    ("unverified@corp.example", "has not verified"),
    ("silent@corp.example", "has not verified"),
    ("eve@elsewhere.example", "may not use this dashboard"),
])
def test_a_genuine_token_that_does_not_let_its_holder_in_is_a_403(app, login, expected):
    client, response = sign_in(app, login)
    assert response.status_code == 403 and expected in response.text
    assert not signed_in(client)


def test_a_replayed_callback_is_refused_without_asking_the_provider(app, provider):
    client = app.test_client()
    authorize_url = start(client)
    before = client.get_cookie("session").value
    callback = at_provider(authorize_url, "ana@corp.example")
    assert back_at(client, callback).status_code == 302
    asked = provider.token_requests
    replay = app.test_client()
    replay.set_cookie("session", before)  # the cookie as it was before the callback, which held the state
    response = back_at(replay, callback)
    assert response.status_code == 400 and "already used" in response.text
    assert provider.token_requests == asked and not signed_in(replay)


def test_a_sign_in_left_at_the_provider_past_ten_minutes_is_refused(app, monkeypatch):
    import time as real_time

    from crm_app.services.dashboard import sso_states
    client = app.test_client()
    callback = at_provider(start(client), "ana@corp.example")
    later = real_time.time() + 601

    class Later:
        @staticmethod
        def time():
            return later
    monkeypatch.setattr(sso_states, "time", Later)
    response = back_at(client, callback)
    assert response.status_code == 400 and "expired" in response.text and not signed_in(client)


def test_a_callback_started_in_another_browser_is_refused(app):
    attacker = app.test_client()
    callback = at_provider(start(attacker), "eve@elsewhere.example")
    victim = app.test_client()
    victim.get("/dashboard/login")
    assert back_at(victim, callback).status_code == 400
    assert not signed_in(victim)


@pytest.mark.parametrize("query", ["", "?code=abc", "?state=nope&code=abc", "?state=" + "x" * 5000,
                                   "?error=access_denied&error_description=%3Cscript%3E"])
def test_a_malformed_callback_is_a_4xx_with_a_reason(app, query):
    client = app.test_client()
    start(client)
    response = client.get("/dashboard/login/sso/callback" + query)
    assert response.status_code in (400, 401) and "<script>" not in response.text


def test_refused_callbacks_are_throttled_per_address_and_cannot_flood_the_audit_log(app):
    from crm_app.services.dashboard.auth import MAX_PER_PAIR
    from crm_app.services.dashboard.users import audit_entries
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    codes = [attacker.get("/dashboard/login/sso/callback?error=x&state=y").status_code for _ in range(50)]
    assert codes == [401] * MAX_PER_PAIR + [429] * (50 - MAX_PER_PAIR)
    assert len(audit_entries(app.config["PQL_STORE"], 100, "sign_in_refused")) == MAX_PER_PAIR
    client, response = sign_in(app, "ana@corp.example")  # everyone else still signs in
    assert response.status_code == 302 and signed_in(client)


def test_a_refusal_at_the_provider_is_shown(app, provider):
    client = app.test_client()
    response = back_at(client, at_provider(start(client), "nobody@corp.example"))
    assert response.status_code == 401 and "access_denied" in response.text


def test_google_workspace_hosted_domain_is_checked(store, provider):
    provider.users["ana@corp.example"]["hd"] = "other.example"
    app = make_app(store, provider, oidc_hosted_domain="corp.example")
    client, response = sign_in(app, "ana@corp.example")
    assert response.status_code == 403 and "not an account of corp.example" in response.text


def test_a_provider_that_is_down_is_a_503_with_a_message(store, provider):
    app = make_app(store, provider)
    provider.__exit__(None, None, None)
    response = app.test_client().get("/dashboard/login/sso")
    assert response.status_code == 503 and "cannot be reached" in response.text


def test_the_login_page_offers_sso_only_when_configured(app, store):
    assert "Sign in with Loopback IdP" in app.test_client().get("/dashboard/login").text
    from crm_app import create_app
    from crm_app.config import Config
    plain = create_app(Config.from_env({}, database_url=store.url, specs_root=str(ROOT), secret_key="s" * 32),
                       store=store)
    assert "Sign in with" not in plain.test_client().get("/dashboard/login").text
    assert plain.test_client().get("/dashboard/login/sso").status_code == 404


def test_a_sign_in_started_on_one_web_process_finishes_on_another(store, provider):
    first, second = make_app(store, provider), make_app(store, provider)
    browser = first.test_client()
    callback = at_provider(start(browser), "max@corp.example")
    other = second.test_client()
    other.set_cookie("session", browser.get_cookie("session").value)
    assert back_at(other, callback).status_code == 302 and signed_in(other)


@pytest.mark.parametrize("settings, message", [
    ({"oidc_role_map": "pql-admins=root"}, "OIDC_ROLE_MAP: 'pql-admins=root' is not NAME=ROLE"),
    ({"oidc_role_map": "just-a-group"}, "OIDC_ROLE_MAP: 'just-a-group' is not NAME=ROLE"),
    ({"oidc_allowed": "@corp.example"}, "OIDC_ALLOWED: '@corp.example' is not NAME=ROLE"),
    ({"oidc_client_secret": ""}, "set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
    ({"oidc_scopes": "email profile"}, "lacks openid"),
    ({"oidc_role_claim": "", "oidc_allowed": ""}, "nobody could sign in"),
])
def test_a_malformed_sso_setting_stops_the_app_with_the_fix(store, provider, settings, message):
    from crm_app.errors import ConfigError
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_app(store, provider, **settings)


@pytest.mark.parametrize("claims, outcome", [
    ({"email": "Ana@Corp.example", "email_verified": True, "groups": ["sales-managers", "pql-admins"]},
     ("ana@corp.example", "admin")),
    ({"email": "x@corp.example", "email_verified": True, "groups": "sales-managers"}, ("x@corp.example", "manager")),
    ({"email": "x@corp.example", "email_verified": True, "groups": [{"name": "pql-admins"}]},
     ("x@corp.example", "viewer")),
    ({"email": "boss@other.example", "email_verified": True, "groups": ["unknown"]}, ("boss@other.example", "admin")),
    ({"email": "x@corp.example", "email_verified": "true", "groups": []}, "has not verified"),
    ({"email": ["x@corp.example"], "email_verified": True}, "no usable 'email' claim"),
    ({"email_verified": True}, "no usable 'email' claim"),
    ({"email": "x@evil.example", "email_verified": True, "groups": []}, "may not use this dashboard"),
])
def test_claims_to_a_role(claims, outcome):
    from crm_app.config import Config
    from crm_app.services.dashboard.sso import SignInRefused, policy, sign_in_as
    rules = policy(Config.from_env({}, oidc_issuer="https://idp.example", oidc_client_id="c", oidc_client_secret="s",
                                   oidc_role_claim="groups", oidc_role_map="pql-admins=admin,sales-managers=manager",
                                   oidc_allowed="@corp.example=viewer,boss@other.example=admin"))
    if isinstance(outcome, tuple):
        assert sign_in_as(rules, claims) == outcome
    else:
        with pytest.raises(SignInRefused, match=re.escape(outcome)):
            sign_in_as(rules, claims)


def test_hostile_parameters_on_the_sso_routes_get_no_5xx(app):
    from tests.test_web_security import HOSTILE_VALUES
    from urllib.parse import quote
    client = app.test_client()
    start(client)
    for path in ("/dashboard/login/sso", "/dashboard/login/sso/callback"):
        for name in ("state", "code", "error", "error_description", "next", "iss"):
            for value in HOSTILE_VALUES:
                response = client.get(f"{path}?{name}={quote(value)}&state={quote(value)}")
                assert response.status_code < 500, (path, name, value, response.status_code)
    assert len(client.get_cookie("session").value) < 1000  # restarted sign-ins do not pile up in the cookie
