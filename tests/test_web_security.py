"""Attacks on the web app, each with the answer it must get, on SQLite and PostgreSQL.

| attack | answer |
|---|---|
| Slack mrkdwn / link injection (`<https://evil.example|Open in CRM>`, `<!channel>`, `<script>`) in an outbox message | shown as text; no live link, no markup |
| a link in an outbox message to a look-alike of our CRM (`acme.lightning.force.com.evil.example`, another path, http for https, a quote to break out of href) | text; only a link with the scheme, host and fixed prefix of routing's `crm_url` is live, with its URL escaped |
| open redirect through `next=` (login) and `back=` (score now): `https://evil.example/`, `//evil.example`, `/\\evil.example`, `https:evil`, a newline, a tab, `javascript:` | redirected to the overview; never a 500 |
| a copied session cookie after logout, a password change, a role change or removal | signed out (302 to the login page) |
| 1,000 wrong passwords for one user from one address; 100 user names from one address | all but the first 5 (20) answered 429 with a message; the right password is refused from that address while locked; the user still signs in from their own address |
| wrong passwords for one user from 19 addresses (5 each, more refused) | the user still signs in |
| wrong passwords for one user from 30 addresses | 100 answered 401, the rest 429; the user name is locked for every address the user never signed in from, until the failures slide out of 15 minutes; from an address they signed in from before, the user still signs in (5 wrong passwords there lock that pair) |
| a POST without the CSRF token, on every POST route | 400 |
| a viewer or manager on the admin endpoints (thresholds, rules, score now, model exclusion, and the Users page: add, set role, reset password, remove) | 403 |
| a viewer on a POST that changes something | 403 |
| oversized and malformed parameters on every dashboard GET route | a 4xx with a message, never a 5xx |
| framing, sniffing, inline script | CSP without inline script, X-Frame-Options DENY, nosniff, Referrer-Policy on every response |
| a cookie over TLS, direct or behind TRUSTED_PROXY_HOPS proxies; a forged X-Forwarded-Proto without a trusted proxy | Secure; Secure; not Secure |
| /readyz without sign-in or token | only up or down, cached |
"""
from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

ADMIN, MANAGER = ("admin", "admin-password"), ("manager", "manager-password")
VIEWER = ("vera", "viewer-password")


@pytest.fixture
def web(store):
    """The app on an empty store of each backend, with admin and manager logins and a viewer user."""
    from crm_app import create_app
    from crm_app.config import Config
    from crm_app.services.dashboard.users import add_user
    config = Config.from_env({}, database_url=store.url, specs_root=str(ROOT), secret_key="s" * 32,
                             dashboard_admin_password=ADMIN[1], dashboard_manager_password=MANAGER[1],
                             readyz_token="probe-token")
    app = create_app(config, store=store)
    add_user(store, VIEWER[0], VIEWER[1], "viewer")
    return app


def csrf(client, path: str = "/dashboard/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def sign_in(app, who, next_: str | None = None, address: str = "10.0.0.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    url = "/dashboard/login" + (f"?next={next_}" if next_ is not None else "")
    response = client.post(url, data={"user": who[0], "password": who[1], "csrf_token": csrf(client)})
    return client, response


def session_cookie(client) -> str:
    return client.get_cookie("session").value


# --- untrusted text -------------------------------------------------------------------------------------------

INJECTIONS = ["<https://evil.example|Open in CRM>", "<!channel> urgent", "<script>alert(1)</script>",
              "<javascript:alert(1)|click>", "\"><img src=x onerror=alert(1)>"]


@pytest.mark.parametrize("text", INJECTIONS)
def test_slack_text_on_the_activity_page_is_text(web, text):
    from crm_app.store.playbooks import alerts
    with web.config["PQL_STORE"].begin() as conn:
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": text}},
                  {"type": "section", "text": {"type": "mrkdwn", "text": f"*Ann* {text}"},
                   "fields": [{"type": "mrkdwn", "text": text}]},
                  {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]
        alerts.outbox_insert(conn, "#pql", "1.0001", text, blocks, "ref-1", 1_700_000_000)
    client, _ = sign_in(web, ADMIN)
    page = client.get("/dashboard/activity").text
    outbox = page[page.index("<h2>Outbox"):]
    assert "evil.example\"" not in outbox and "href=\"javascript" not in outbox
    assert "<script>alert" not in outbox and "<img" not in outbox  # as words, never as elements
    assert not re.search(r"<a [^>]*href=\"(https?:|javascript:)", outbox)
    if "evil.example" in text:
        assert "Open in CRM (https://evil.example)" in outbox


def test_mrkdwn_renders_links_as_words():
    from crm_app.web.dashboard.formatting import mrkdwn
    assert str(mrkdwn("*Ann* <https://evil.example|Open in CRM>")) == \
        "<strong>Ann</strong> Open in CRM (https://evil.example)"
    assert str(mrkdwn("&lt;b&gt; &amp; <!channel>")) == "&lt;b&gt; &amp; !channel"


CRM_URL = "https://acme.lightning.force.com/lightning/r/{object}/{id}/view"
OUR_LINK = "https://acme.lightning.force.com/lightning/r/Lead/00Q1/view"


@pytest.mark.parametrize("text, shown", [
    (f"<{OUR_LINK}|Open in CRM>", f'<a href="{OUR_LINK}" rel="noopener noreferrer">Open in CRM</a>'),
    (f"<{OUR_LINK}|&lt;b&gt; Ann &amp; co>", f'<a href="{OUR_LINK}" rel="noopener noreferrer">&lt;b&gt; Ann &amp; co</a>'),
    ("<https://acme.lightning.force.com.evil.example/lightning/r/x|Open in CRM>",
     "Open in CRM (https://acme.lightning.force.com.evil.example/lightning/r/x)"),
    ("<https://acme.lightning.force.com/other|Open in CRM>", "Open in CRM (https://acme.lightning.force.com/other)"),
    ("<http://acme.lightning.force.com/lightning/r/x|Open in CRM>",
     "Open in CRM (http://acme.lightning.force.com/lightning/r/x)"),
    ("<https://evil.example|Open in CRM>", "Open in CRM (https://evil.example)"),
    ("<javascript:alert(1)|click>", "click (javascript:alert(1))"),
    (f'<{OUR_LINK}"onmouseover="x|a>', f'<a href="{OUR_LINK}&#34;onmouseover=&#34;x" rel="noopener noreferrer">a</a>'),
])
def test_only_a_link_into_our_crm_is_live_in_the_outbox(text, shown):
    from crm_app.web.dashboard.formatting import mrkdwn
    assert str(mrkdwn(text, CRM_URL)) == shown
    assert "<a " not in str(mrkdwn(text, ""))  # no crm_url in the routing file: no live links at all


# --- redirects ------------------------------------------------------------------------------------------------

HOSTILE_TARGETS = ["https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example", "https:evil",
                   "javascript:alert(1)", "/dashboard/\nSet-Cookie: x=1", "/\t/evil.example", "%0d%0aLocation: x",
                   "/dashboard@evil.example", "http:///evil.example", "/other-app", "///evil.example",
                   "/dashboard/../../evil", "x" * 5000]
SAFE = "/dashboard/people?band=high"


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_local_path_refuses_every_other_target(web, target):
    from crm_app.web.dashboard.redirects import local_path
    with web.test_request_context():
        assert local_path(target) == "/dashboard/"
        assert local_path(SAFE) == SAFE


@pytest.mark.parametrize("target", HOSTILE_TARGETS + [SAFE])
def test_next_after_sign_in_stays_on_the_site(web, target):
    from urllib.parse import quote
    _, response = sign_in(web, ADMIN, quote(target, safe=""))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == (SAFE if target == SAFE else "/dashboard/"), location


@pytest.mark.parametrize("target", HOSTILE_TARGETS + [SAFE])
def test_back_after_score_now_stays_on_the_site(web, target):
    client, _ = sign_in(web, ADMIN)
    response = client.post("/dashboard/score-now", data={"back": target, "csrf_token": csrf(client, "/dashboard/")})
    assert response.status_code == 302
    assert response.headers["Location"] == (SAFE if target == SAFE else "/dashboard/")


# --- sessions -------------------------------------------------------------------------------------------------

def _replay(app, cookie: str):
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief.get("/dashboard/people")


def test_a_copied_cookie_stops_working_after_logout(web):
    client, _ = sign_in(web, ADMIN)
    stolen = session_cookie(client)
    assert _replay(web, stolen).status_code == 200
    client.post("/dashboard/logout", data={"csrf_token": csrf(client, "/dashboard/")})
    response = _replay(web, stolen)
    assert response.status_code == 302 and "/dashboard/login" in response.headers["Location"]


@pytest.mark.parametrize("change", ["set_password", "set_role", "remove_user"])
def test_password_and_role_changes_end_the_sessions(web, change):
    from crm_app.services.dashboard import users
    client, _ = sign_in(web, VIEWER)
    stolen = session_cookie(client)
    assert _replay(web, stolen).status_code == 200
    store = web.config["PQL_STORE"]
    {"set_password": lambda: users.set_password(store, VIEWER[0], "another-password"),
     "set_role": lambda: users.set_role(store, VIEWER[0], "manager"),
     "remove_user": lambda: users.remove_user(store, VIEWER[0])}[change]()
    assert _replay(web, stolen).status_code == 302
    assert client.get("/dashboard/people").status_code == 302


def test_a_session_ends_after_its_lifetime(web, monkeypatch):
    from crm_app.services.dashboard import auth
    client, _ = sign_in(web, ADMIN)
    assert client.get("/dashboard/people").status_code == 200
    monkeypatch.setattr(auth, "SESSION_SECONDS", 0)  # every session is now past its lifetime
    assert client.get("/dashboard/people").status_code == 302


def test_a_forged_cookie_without_a_live_session_is_refused(web):
    from flask.sessions import SecureCookieSessionInterface
    serializer = SecureCookieSessionInterface().get_signing_serializer(web)
    forged = serializer.dumps({"user": "admin", "role": "admin", "sid": "made-up"})
    assert _replay(web, forged).status_code == 302
    old_style = serializer.dumps({"user": "admin", "role": "admin"})  # a cookie from before revocable sessions
    assert _replay(web, old_style).status_code == 302


# --- throttling -----------------------------------------------------------------------------------------------

def test_a_thousand_login_attempts_are_throttled(web):
    from crm_app.services.dashboard.auth import MAX_PER_PAIR
    client = web.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    token = csrf(client)
    codes = [client.post("/dashboard/login", data={"user": "admin", "password": f"guess-{i}", "csrf_token": token})
             .status_code for i in range(1000)]
    assert codes[:MAX_PER_PAIR] == [401] * MAX_PER_PAIR
    assert codes[MAX_PER_PAIR:] == [429] * (1000 - MAX_PER_PAIR)
    locked = client.post("/dashboard/login", data={"user": "admin", "password": ADMIN[1], "csrf_token": token})
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    assert int(locked.headers["Retry-After"]) > 0
    # The attacker's guesses did not lock the real admin out: from their own address they sign in.
    assert sign_in(web, ADMIN, address="198.51.100.7")[1].status_code == 302
    assert sign_in(web, MANAGER, address="198.51.100.8")[1].status_code == 302


def _fail_from(web, user: str, addresses: list[str], times: int) -> list[int]:
    codes = []
    for address in addresses:
        client = web.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        token = csrf(client)
        codes += [client.post("/dashboard/login", data={"user": user, "password": "wrong", "csrf_token": token})
                  .status_code for _ in range(times)]
    return codes


def test_strangers_below_the_user_ceiling_cannot_lock_a_user_out(web):
    from crm_app.services.dashboard.auth import MAX_PER_PAIR, MAX_PER_USER
    addresses = [f"203.0.113.{i}" for i in range(MAX_PER_USER // MAX_PER_PAIR - 1)]  # 19 addresses, 95 failures
    codes = _fail_from(web, "admin", addresses, MAX_PER_PAIR + 3)
    assert codes.count(401) == len(addresses) * MAX_PER_PAIR and codes.count(429) == len(addresses) * 3
    assert sign_in(web, ADMIN, address="198.51.100.7")[1].status_code == 302


def test_guessing_one_user_from_many_addresses_stops_at_the_user_ceiling(web):
    from crm_app.services.dashboard.auth import MAX_PER_PAIR, MAX_PER_USER
    addresses = [f"203.0.113.{i}" for i in range(MAX_PER_USER // MAX_PER_PAIR + 10)]  # 30 addresses
    codes = _fail_from(web, "admin", addresses, MAX_PER_PAIR)
    assert codes.count(401) == MAX_PER_USER and codes[MAX_PER_USER:] == [429] * (len(codes) - MAX_PER_USER)
    assert sign_in(web, ADMIN, address="198.51.100.7")[1].status_code == 429
    assert sign_in(web, MANAGER, address="198.51.100.7")[1].status_code == 302  # other users are not locked


def test_past_the_user_ceiling_the_user_still_signs_in_from_an_address_they_used_before(web):
    from crm_app.services.dashboard.auth import MAX_PER_PAIR, MAX_PER_USER
    assert sign_in(web, ADMIN, address="198.51.100.20")[1].status_code == 302  # the admin's usual address
    addresses = [f"203.0.113.{i}" for i in range(MAX_PER_USER // MAX_PER_PAIR + 10)]
    _fail_from(web, "admin", addresses, MAX_PER_PAIR)
    assert sign_in(web, ADMIN, address="198.51.100.21")[1].status_code == 429  # a new address: locked
    assert sign_in(web, ADMIN, address="198.51.100.20")[1].status_code == 302
    codes = _fail_from(web, "admin", ["198.51.100.20"], MAX_PER_PAIR + 1)  # the pair limit still holds there
    assert codes == [401] * MAX_PER_PAIR + [429]


def test_one_address_trying_many_users_is_throttled(web):
    from crm_app.services.dashboard.auth import MAX_PER_ADDRESS
    client = web.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.10"
    token = csrf(client)
    codes = [client.post("/dashboard/login", data={"user": f"user{i}", "password": "x", "csrf_token": token})
             .status_code for i in range(100)]
    assert codes.count(401) == MAX_PER_ADDRESS and codes[MAX_PER_ADDRESS:] == [429] * (100 - MAX_PER_ADDRESS)
    assert sign_in(web, MANAGER, address="203.0.113.10")[1].status_code == 429


def test_failures_slide_out_of_the_window(web):
    from crm_app.services.dashboard import auth
    store = web.config["PQL_STORE"]
    for i in range(auth.MAX_PER_USER):
        auth.record_failure(store, "admin", "10.1.1.1", now=1000.0 + i)
    assert auth.locked_for(store, "admin", "10.9.9.9", now=1010.0) > 0
    assert auth.locked_for(store, "admin", "10.9.9.9", now=1000.0 + auth.WINDOW_SECONDS + 1) == 0


# --- CSRF and roles -------------------------------------------------------------------------------------------

def _post_routes(app) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and rule.rule.startswith("/dashboard"):
            paths.append(re.sub(r"<(?:string:)?[^>]+>", "claim", re.sub(r"<int:[^>]+>", "1", rule.rule)))
    return sorted(set(paths))


def test_every_post_needs_the_csrf_token(web):
    paths = _post_routes(web)
    assert len(paths) >= 9, paths
    client, _ = sign_in(web, ADMIN)
    for path in paths:
        response = client.post(path, data={"high": "70", "medium": "40"})
        assert response.status_code == 400 and "form expired" in response.text, path


ADMIN_ONLY = ["/dashboard/thresholds?model=conversion", "/dashboard/rules/apply", "/dashboard/score-now",
              "/dashboard/models/anything/exclude", "/dashboard/rules/rollback/1", "/dashboard/users/add",
              "/dashboard/users/vera/role", "/dashboard/users/vera/password", "/dashboard/users/vera/remove"]


@pytest.mark.parametrize("who", [MANAGER, VIEWER], ids=["manager", "viewer"])
@pytest.mark.parametrize("path", ADMIN_ONLY)
def test_no_role_escalation_to_admin_endpoints(web, who, path):
    client, response = sign_in(web, who)
    assert response.status_code == 302
    answer = client.post(path, data={"high": "70", "medium": "40", "file": "conversion.yaml", "text": "x",
                                     "user": "mallory", "role": "admin", "password": "p" * 12,
                                     "csrf_token": csrf(client, "/dashboard/")})
    assert answer.status_code == 403, answer.text
    assert client.get("/dashboard/users").status_code == 403


@pytest.mark.parametrize("path", ["/dashboard/alerts/1/claim", "/dashboard/ledger/1/retry"])
def test_a_viewer_only_reads(web, path):
    client, _ = sign_in(web, VIEWER)
    assert client.get("/dashboard/activity").status_code == 200
    assert client.post(path, data={"csrf_token": csrf(client, "/dashboard/")}).status_code == 403


# --- parameters -----------------------------------------------------------------------------------------------

HOSTILE_VALUES = ["", "x" * 5000, "-1", "9" * 5000, "1:2:3", "99999999999999999999999:1", "1:" + "9" * 40, "\n",
                  "\x00", "../../etc/passwd", "<script>", "NaN", "inf", "1e999", "0", "10000000", "%ff", "🙂"]
PARAMS = ["model", "after", "before", "size", "band", "sort", "order", "pql", "q", "owner", "segment", "file",
          "check", "action", "next", "high", "medium", "min_fit"]
PATH_VALUES = {"int": ["1", "0", "9" * 30], "default": ["conversion", "x" * 300, "%00"]}


def _get_routes(app) -> list[str]:
    """Every dashboard GET route from the URL map, with each path parameter filled with hostile values."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith("/dashboard") or "static" in rule.endpoint:
            continue
        variants = [rule.rule]
        for arg in rule.arguments:
            kind = "int" if f"<int:{arg}>" in rule.rule else "default"
            pattern = re.compile(rf"<(?:\w+:)?{arg}>")
            variants = [pattern.sub(v, path) for path in variants for v in PATH_VALUES[kind]]
        paths.extend(variants)
    return sorted(set(paths))


# The sweep is ~10,000 requests a backend: in shares, so that test workers run them side by side.
SWEEP_SHARES = 3


@pytest.mark.parametrize("share", range(SWEEP_SHARES))
def test_every_dashboard_get_route_answers_hostile_parameters_without_a_5xx(web, share):
    from urllib.parse import quote
    routes = _get_routes(web)
    assert any("/people/" in r for r in routes) and any(r.endswith("/thresholds/preview") for r in routes)
    client, _ = sign_in(web, ADMIN)
    failures = []
    for path in routes[share::SWEEP_SHARES]:  # together, the shares cover every route
        for name in PARAMS:
            for value in HOSTILE_VALUES:
                response = client.get(f"{path}?{name}={quote(value)}")
                try:
                    response.get_data()  # a streamed body (the CSV export) runs only as it is read
                except Exception as exc:  # noqa: BLE001 - a body that broke after its status went out
                    failures.append((path, name, value[:20], repr(exc)[:80]))
                finally:
                    response.close()
                if response.status_code >= 500:
                    failures.append((path, name, value[:20], response.status_code))
                elif response.status_code == 400:
                    assert "<p" in response.text or "error" in response.text  # a message, not a bare code
    assert not failures, failures[:20]


@pytest.mark.parametrize("query,status", [("size=5000", 400), ("size=abc", 400), ("size=0", 400), ("size=200", 200),
                                          ("after=" + "9" * 5000, 400), ("after=1:" + "9" * 40, 400),
                                          ("order=sideways", 400), ("pql=maybe", 400), ("q=" + "a" * 500, 400),
                                          ("model=nope", 404), ("after=10:3", 200)])
def test_people_parameters_are_checked(web, query, status):
    client, _ = sign_in(web, ADMIN)
    assert client.get(f"/dashboard/people?{query}").status_code == status


@pytest.mark.parametrize("user", ["admin\x00", "\x00", "a" * 5000])
def test_hostile_user_names_at_sign_in_are_refused_without_a_5xx(web, user):
    client = web.test_client()
    response = client.post("/dashboard/login", data={"user": user, "password": "x\x00", "csrf_token": csrf(client)})
    assert response.status_code in (400, 401)


def test_oversized_ids_are_404_not_an_overflow(web):
    client, _ = sign_in(web, ADMIN)
    assert client.get("/dashboard/people/" + "9" * 30).status_code == 404
    token = csrf(client, "/dashboard/")
    assert client.post("/dashboard/ledger/" + "9" * 30 + "/retry", data={"csrf_token": token}).status_code == 404


# --- headers and cookies --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/dashboard/login", "/dashboard/", "/healthz", "/readyz", "/v1/track",
                                  "/dashboard/static/dashboard.css", "/nowhere"])
def test_security_headers_on_every_response(web, path):
    client, _ = sign_in(web, ADMIN)
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_no_page_has_an_inline_script_or_handler(web):
    client, _ = sign_in(web, ADMIN)
    for path in ["/dashboard/", "/dashboard/people", "/dashboard/thresholds", "/dashboard/rules", "/dashboard/models",
                 "/dashboard/backtest", "/dashboard/activity", "/dashboard/integrations", "/dashboard/audit",
                 "/dashboard/login"]:
        page = client.get(path).text
        for tag in re.findall(r"<script[^>]*>", page):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", page), path


def _session_set_cookie(response) -> str:
    return next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))


def test_the_session_cookie_is_secure_over_tls(web):
    client = web.test_client()
    response = client.get("/dashboard/login", base_url="https://dash.example")
    assert "Secure" in _session_set_cookie(response) and "HttpOnly" in _session_set_cookie(response)
    assert "Secure" not in _session_set_cookie(web.test_client().get("/dashboard/login"))
    forged = web.test_client().get("/dashboard/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in _session_set_cookie(forged)  # no trusted proxy: the header is ignored


def test_behind_a_trusted_proxy_the_scheme_and_address_come_from_it(store):
    from crm_app import create_app
    from crm_app.config import Config
    config = Config.from_env({}, database_url=store.url, specs_root=str(ROOT), secret_key="s" * 32,
                             dashboard_admin_password=ADMIN[1], trusted_proxy_hops=1)
    app = create_app(config, store=store)
    response = app.test_client().get("/dashboard/login", headers={"X-Forwarded-Proto": "https",
                                                                   "X-Forwarded-For": "192.0.2.44"})
    assert "Secure" in _session_set_cookie(response)
    client = app.test_client()
    token = csrf(client)
    client.post("/dashboard/login", data={"user": "admin", "password": "wrong", "csrf_token": token},
                headers={"X-Forwarded-For": "192.0.2.44"})
    from crm_app.store.dashboard.security import login_failures
    from sqlalchemy import select
    with store.read() as conn:
        assert list(conn.execute(select(login_failures.c.address)).scalars()) == ["192.0.2.44"]


# --- probes ---------------------------------------------------------------------------------------------------

def test_probes_say_only_up_or_down_without_a_token(web):
    client = web.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    anonymous = client.get("/readyz")
    assert anonymous.get_json() == {"status": "up"} and anonymous.status_code == 200
    assert "host" not in anonymous.text and "admin_files" not in anonymous.text
    wrong = client.get("/readyz", headers={"Authorization": "Bearer nope"}).get_json()
    assert wrong == {"status": "up"}
    detailed = client.get("/readyz", headers={"Authorization": "Bearer probe-token"}).get_json()
    assert detailed["ready"] and detailed["admin_files"]["ok"] and detailed["status"] == "up"
    admin, _ = sign_in(web, ADMIN)
    assert "admin_files" in admin.get("/readyz").get_json()
    manager, _ = sign_in(web, MANAGER)
    assert manager.get("/readyz").get_json() == {"status": "up"}


def test_probes_are_cached(web, monkeypatch):
    from crm_app.web import probes
    calls = []
    real = probes.gather_status
    monkeypatch.setattr(probes, "gather_status", lambda *a: calls.append(1) or real(*a))
    client = web.test_client()
    for _ in range(50):
        assert client.get("/readyz").status_code == 200
    assert len(calls) == 1
