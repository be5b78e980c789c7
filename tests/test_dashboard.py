"""Dashboard without a browser: logins and roles, CSRF, keyset pages on both backends, previews, rule file edits."""
from __future__ import annotations

import random
import re
import uuid
from pathlib import Path

import pytest

from crm_app.services.admin import rule_files
from crm_app.services.dashboard.score_cube import cube
from crm_app.store.dashboard import queries
from crm_app.store.dashboard.queries import PeopleQuery
from tests.dashboard_helpers import copied_workspace, sandbox_env, scored_as_of

AS_OF = 1_790_000_000


# --- the store's queries, on SQLite and PostgreSQL ------------------------------------------------------------

def seed_population(store, n: int = 230, seed: int = 3) -> list[dict]:
    """People with result rows from a fixed seed, plus a scoring run; returns the rows."""
    from crm_app.store import people as people_store
    from crm_app.store.scoring import results as results_store
    rng = random.Random(seed)
    rules = ["icp_industry", "senior_title", "invited_teammates", "no_login_14d"]
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": f"u{i:04d}", "email": f"p{i}@ex{i % 7}.com",
                                                 "attributes": {"owner": f"rep{i % 3}"}} for i in range(n)])
        rows = []
        for ext, pid in sorted(ids.items()):
            combined = rng.choice([0, 12, 40, 40, 55, 69, 70, 75, 88, 100, rng.randint(0, 100)])
            fit = rng.randint(-20, 60)
            band = "high" if combined >= 70 else "medium" if combined >= 40 else "low"
            fired = [r for r in rules if rng.random() < 0.4]
            rows.append({"model": "conversion", "subject_id": pid, "as_of": AS_OF, "fit": max(fit, 0), "fit_raw": fit,
                         "behaviour": rng.randint(0, 80), "behaviour_before_decay": 0, "decay": 0,
                         "combined": combined, "band": band, "pql": combined >= 75,
                         "pql_since": AS_OF - rng.randint(0, 20) * 86400 if combined >= 75 else None,
                         "pql_first_at": None, "activation": None, "milestones": 0, "last_activity": None,
                         "days_inactive": None, "reasons": [[r, r, 5] for r in fired], "digest": "d",
                         "rules_hash": "h", "_owner": f"rep{int(ext[1:]) % 3}"})
        results_store.save_results(conn, rows, [])
        results_store.record_run(conn, {"as_of": AS_OF, "mode": "full", "scored": n})
    return rows


def walk(conn, query: PeopleQuery) -> list[int]:
    """Every subject id, following next-page cursors from the first page to the last."""
    from crm_app.services.dashboard.overview import people_page

    class OneConn:  # people_page takes a store; hand it this connection
        def read(self):
            import contextlib
            return contextlib.nullcontext(conn)
        url = f"walk-{uuid.uuid4()}"  # its own cache: per-run summaries must never leak between stores
    seen, cursor = [], None
    while True:
        page = people_page(OneConn(), PeopleQuery(**{**query.__dict__, "after": cursor}))
        seen.extend(r["subject_id"] for r in page["rows"])
        if not page["next"]:
            return seen
        value, ident = page["next"].split(":")
        cursor = (int(value), int(ident))


@pytest.mark.parametrize("band,pql,sort,descending,owner", [
    (None, None, "score", True, None), ("medium", None, "score", False, None), (None, True, "fit", True, None),
    ("high", False, "behaviour", False, None), ("low", None, "fit", False, None), (None, False, "score", True, None),
    (None, None, "score", True, "rep1"), ("high", True, "fit", False, "rep2")])
def test_keyset_pages_cover_everyone_once_in_sort_order(store, band, pql, sort, descending, owner):
    from crm_app.services.dashboard.overview import _total
    rows = seed_population(store)
    column = queries.SORTS[sort]
    expected = sorted((r for r in rows if (band is None or r["band"] == band) and (pql is None or r["pql"] == pql)
                       and (owner is None or r["_owner"] == owner)),
                      key=lambda r: (r[column], r["subject_id"]), reverse=descending)
    query = PeopleQuery("conversion", band=band, pql=pql, sort=sort, descending=descending, size=7, owner=owner)
    with store.read() as conn:
        assert walk(conn, query) == [r["subject_id"] for r in expected]
        assert queries.filtered_count(conn, query) == len(expected)
    assert _total(store, query) == len(expected)  # the per-run summaries agree with counting


def test_previous_page_is_the_page_before(store):
    seed_population(store)
    with store.read() as conn:
        first = queries.people_page(conn, PeopleQuery("conversion", size=10))[:10]
        second = queries.people_page(conn, PeopleQuery("conversion", size=10,
                                                       after=(first[-1]["combined"], first[-1]["subject_id"])))[:10]
        back = queries.people_page(conn, PeopleQuery("conversion", size=10,
                                                     before=(second[0]["combined"], second[0]["subject_id"])))
    assert [r["subject_id"] for r in back][-10:] == [r["subject_id"] for r in first]


def test_search_finds_by_email_prefix_user_id_and_id(store):
    seed_population(store)
    with store.read() as conn:
        by_prefix = queries.people_page(conn, PeopleQuery("conversion", q="P12@", size=50))
        by_user = queries.people_page(conn, PeopleQuery("conversion", q="u0007"))
    assert [r["email"] for r in by_prefix] == ["p12@ex5.com"]
    assert [r["external_id"] for r in by_user] == ["u0007"]


@pytest.mark.parametrize("high,medium,pql,min_fit", [(70, 40, 75, 0), (60, 30, 55, None), (90, 10, 100, 20),
                                                     (70, 40, None, None), (0, 0, 0, -100)])
def test_threshold_preview_equals_a_row_by_row_count(store, high, medium, pql, min_fit):
    rows = seed_population(store)
    preview = cube(store, "conversion").preview(high, medium, pql, min_fit)
    bands = ["high" if r["combined"] >= high else "medium" if r["combined"] >= medium else "low" for r in rows]
    pqls = [pql is not None and r["combined"] >= pql and (min_fit is None or r["fit_raw"] >= min_fit) for r in rows]
    assert preview["band_changes"] == sum(b != r["band"] for b, r in zip(bands, rows))
    assert preview["become_pql"] == sum(p and not r["pql"] for p, r in zip(pqls, rows))
    assert preview["stop_pql"] == sum(r["pql"] and not p for p, r in zip(pqls, rows))
    assert preview["pqls"] == sum(pqls) and preview["high"] == bands.count("high")


def test_rule_firing_counts_and_new_pqls_per_owner(store):
    rows = seed_population(store)
    with store.read() as conn:
        counts = queries.rule_firing_counts(conn, "conversion")
        owners = dict(queries.new_pqls_since(conn, "conversion", AS_OF - 7 * 86400))
    expected: dict = {}
    for r in rows:
        for rule, _, _ in r["reasons"]:
            expected[rule] = expected.get(rule, 0) + 1
    assert counts == expected
    assert sum(owners.values()) == sum(1 for r in rows if r["pql"] and r["pql_since"] >= AS_OF - 7 * 86400)
    assert set(owners) <= {"rep0", "rep1", "rep2"}


def test_the_cached_summary_follows_a_new_scoring_run(sqlite_store):
    from crm_app.store.scoring import results as results_store
    rows = seed_population(sqlite_store)
    assert cube(sqlite_store, "conversion").count(band="high") == sum(r["band"] == "high" for r in rows)
    with sqlite_store.begin() as conn:
        results_store.save_results(conn, [{**rows[0], "band": "high" if rows[0]["band"] != "high" else "low"}], [])
        results_store.record_run(conn, {"as_of": AS_OF, "mode": "changed", "scored": 1})
    expected = sum(r["band"] == "high" for r in rows) + (1 if rows[0]["band"] != "high" else -1)
    assert cube(sqlite_store, "conversion").count(band="high") == expected


# --- rule file edits ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,key,flow,expected", [
    ("a: 1\nbands: {high: 70, medium: 40}\npql: {threshold: 75}\n", "bands", "{high: 60, medium: 30}",
     "a: 1\nbands: {high: 60, medium: 30}\npql: {threshold: 75}\n"),
    ("a: 1\nbands:\n  high: 70\n  medium: 40\n\n# PQL\npql: {threshold: 75}\n", "bands", "{high: 60, medium: 30}",
     "a: 1\nbands: {high: 60, medium: 30}\n\n# PQL\npql: {threshold: 75}\n"),
    ("pql: {threshold: 75}  # sales asked for 75\n", "pql", "{threshold: 80}", "pql: {threshold: 80}  # sales asked for 75\n"),
    ("a: 1\n", "pql", "{threshold: 80}", "a: 1\npql: {threshold: 80}\n"),
])
def test_replace_top_level_keeps_every_other_line(text, key, flow, expected):
    assert rule_files.replace_top_level(text, key, flow) == expected


# --- the app: logins, roles, CSRF, pages ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory, worker_id):
    from crm_app import create_app
    config, password = copied_workspace(tmp_path_factory, worker_id, 150, dashboard_admin_password="admin-pw",
                                        dashboard_manager_password="manager-pw")
    env = sandbox_env(Path(config.specs_root))
    app = create_app(config)
    app.config["PQL_NOW"] = scored_as_of(app.config["PQL_STORE"])
    yield app, config, password
    app.config["PQL_STORE"].dispose()
    env.__exit__(None, None, None)


def token(client, path: str = "/dashboard/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def signed_in(app, user: str, password: str):
    client = app.test_client()
    response = client.post("/dashboard/login", data={"user": user, "password": password, "csrf_token": token(client)})
    assert response.status_code == 302, response.text
    return client


@pytest.mark.parametrize("user,password,role", [("admin", "admin-pw", "admin"), ("manager", "manager-pw", "manager"),
                                                ("admin", "manager-pw", None), ("manager", "", None),
                                                ("nobody", "admin-pw", None)])
def test_logins_from_the_environment(site, user, password, role):
    from crm_app.services.dashboard.auth import authenticate
    app, config, _ = site
    assert authenticate(config, app.config["PQL_STORE"], user, password) == role


def test_the_one_time_password_works_once(site):
    from crm_app.services.dashboard.auth import authenticate, issue_one_time_password
    app, config, _ = site
    once = issue_one_time_password(app.config["PQL_STORE"])
    assert authenticate(config, app.config["PQL_STORE"], "admin", once) == "admin"
    assert authenticate(config, app.config["PQL_STORE"], "admin", once) is None


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/people", "/dashboard/people/1", "/dashboard/thresholds",
                                  "/dashboard/rules", "/dashboard/models", "/dashboard/activity"])
def test_every_page_needs_a_login(site, path):
    response = site[0].test_client().get(path)
    assert response.status_code == 302 and "/dashboard/login" in response.headers["Location"]


def test_a_wrong_password_is_refused_and_next_never_leaves_the_site(site):
    app = site[0]
    client = app.test_client()
    bad = client.post("/dashboard/login", data={"user": "admin", "password": "nope", "csrf_token": token(client)})
    assert bad.status_code == 401 and "Wrong user name or password" in bad.text
    good = client.post("/dashboard/login?next=//evil.example/x",
                       data={"user": "admin", "password": "admin-pw", "csrf_token": token(client)})
    assert good.headers["Location"] == "/dashboard/"
    assert "SameSite=Lax" in good.headers["Set-Cookie"] and "HttpOnly" in good.headers["Set-Cookie"]


@pytest.mark.parametrize("path,data", [("/dashboard/login", {"user": "admin", "password": "admin-pw"}),
                                       ("/dashboard/thresholds?model=conversion", {"high": "70", "medium": "40"}),
                                       ("/dashboard/score-now", {})])
def test_a_post_without_the_csrf_token_is_refused(site, path, data):
    client = signed_in(site[0], "admin", "admin-pw")
    response = client.post(path, data=data)
    assert response.status_code == 400 and "Reload the page" in response.text


def test_a_manager_views_but_cannot_change_thresholds_or_rules(site):
    from crm_app.services.admin import versions
    app, config, _ = site
    rule_file = config.spec_dirs.rules / "conversion.yaml"
    before = rule_file.read_text()
    version = versions.active_version(app.config["PQL_STORE"])[0]
    client = signed_in(app, "manager", "manager-pw")
    assert client.get("/dashboard/thresholds").status_code == 200
    csrf = token(client, "/dashboard/thresholds")
    saved = client.post("/dashboard/thresholds?model=conversion",
                        data={"high": "60", "medium": "30", "pql": "50", "min_fit": "0", "csrf_token": csrf})
    applied = client.post("/dashboard/rules/apply", data={"file": "conversion.yaml", "text": "x", "csrf_token": csrf})
    assert saved.status_code == applied.status_code == 403
    assert rule_file.read_text() == before and versions.active_version(app.config["PQL_STORE"])[0] == version


@pytest.mark.parametrize("values,status,message", [
    ({"high": "40", "medium": "70", "pql": "75", "min_fit": "0"}, 422, "medium band must start at or below"),
    ({"high": "70", "medium": "40", "pql": "seventy"}, 400, "pql must be a number"),
    ({"high": "170", "medium": "40", "pql": "75"}, 400, "high must be from 0 to 100"),
])
def test_bad_thresholds_are_refused_and_nothing_is_published(site, values, status, message):
    from crm_app.services.admin import versions
    app, config, _ = site
    rule_file = config.spec_dirs.rules / "conversion.yaml"
    before = rule_file.read_text()
    client = signed_in(app, "admin", "admin-pw")
    version = versions.active_version(app.config["PQL_STORE"])[0]
    response = client.post("/dashboard/thresholds?model=conversion",
                           data={**values, "csrf_token": token(client, "/dashboard/thresholds")})
    assert response.status_code == status and message in response.text
    assert rule_file.read_text() == before and versions.active_version(app.config["PQL_STORE"])[0] == version


def test_rule_preview_names_file_line_and_apply_publishes_only_a_valid_set(site):
    from crm_app.services.admin import versions
    app, config, _ = site
    store = app.config["PQL_STORE"]
    rule_file = config.spec_dirs.rules / "conversion.yaml"
    original = rule_file.read_text()
    client = signed_in(app, "admin", "admin-pw")
    csrf = token(client, "/dashboard/rules")
    before, _ = versions.active_version(store)
    broken = original.replace("decay: {points: 10", "decay: {pionts: 10")
    line = original[:original.index("decay: {points")].count("\n") + 1
    preview = client.post("/dashboard/rules/preview", data={"file": "conversion.yaml", "text": broken, "csrf_token": csrf})
    assert preview.status_code == 422 and f"rules/conversion.yaml:{line}" in preview.text and "did you mean" in preview.text
    refused = client.post("/dashboard/rules/apply", data={"file": "conversion.yaml", "text": broken, "csrf_token": csrf})
    assert refused.status_code == 422 and versions.active_version(store)[0] == before
    better = original.replace("label: Sent workspace invites", "label: Invited teammates")
    applied = client.post("/dashboard/rules/apply", data={"file": "conversion.yaml", "text": better, "csrf_token": csrf})
    assert applied.status_code == 302 and rule_file.read_text() == original  # the checkout is never written
    number, files = versions.active_version(store)
    assert number == before + 1 and files["rules/conversion.yaml"].decode() == better
    assert versions.history(store, 1)[0]["author"] == "admin"
    page = client.get("/dashboard/rules").text
    assert "Invited teammates" in page and "takes effect on the next scoring cycle" in page
    assert versions.rollback(store, before, "test", number).version == number + 1


def test_a_version_this_process_cannot_load_keeps_the_last_good_set_and_shows_why(site):
    """A version published by newer code (or written around the validator) is refused here, not half-applied."""
    from crm_app.services.admin import versions
    from crm_app.store import rule_versions
    app, _, _ = site
    store = app.config["PQL_STORE"]
    client = signed_in(app, "admin", "admin-pw")
    assert client.get("/dashboard/rules").status_code == 200
    number, files = versions.active_version(store)
    text = files["rules/conversion.yaml"].decode().replace("bands: {high: 70", "bands: {hihg: 70")
    with store.begin() as conn:
        rule_versions.add_version(conn, {**files, "rules/conversion.yaml": text.encode()},
                                  {"set_hash": "x"}, "newer code", "unknown key", "publish", 0.0, number)
    app.extensions["pql_specs"].invalidate()  # published by another process: seen within a second, or now
    try:
        page = client.get("/dashboard/rules").text
        assert "the last good set stays active" in page and "rules/conversion.yaml" in page and "hihg" in page
        assert client.get("/dashboard/").status_code == 200
    finally:
        assert versions.rollback(store, number, "test", number + 1).version == number + 2
        app.extensions["pql_specs"].invalidate()
    assert "the last good set stays active" not in client.get("/dashboard/rules").text


@pytest.mark.parametrize("path,status", [("/dashboard/people?band=purple", 400), ("/dashboard/people?sort=email", 400),
                                         ("/dashboard/people?after=abc", 400), ("/dashboard/people/999999", 404),
                                         ("/dashboard/?model=nope", 404), ("/dashboard/rules?file=../x.yaml", 404)])
def test_bad_requests_get_clear_errors(site, path, status):
    assert signed_in(site[0], "admin", "admin-pw").get(path).status_code == status


def test_web_processes_of_one_store_share_the_session_key_when_none_is_set(tmp_path):
    from crm_app import create_app
    from crm_app.config import Config
    config = Config.from_env({}, database_url=f"sqlite:///{tmp_path}/pql.db", specs_root=str(tmp_path),
                             dashboard_admin_password="pw")
    first, second = create_app(config), create_app(config)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] and len(first.config["SECRET_KEY"]) == 64
    client = first.test_client()
    client.post("/dashboard/login", data={"user": "admin", "password": "pw", "csrf_token": token(client)})
    cookie = client.get_cookie("session")
    other = second.test_client()
    other.set_cookie("session", cookie.value)
    assert "/dashboard/login" not in other.get("/dashboard/activity").headers.get("Location", "")
    assert other.get("/dashboard/activity").status_code == 200
    for app in (first, second):
        app.config["PQL_STORE"].dispose()


@pytest.mark.parametrize("check,expected", [
    ({"check": "pql_volume", "status": "flag", "value": 31.0}, "raise the threshold by 5–10 points"),
    ({"check": "pql_volume", "status": "flag", "value": 0.5}, "lower the threshold by 5–10 points"),
    ({"check": "pql_volume", "status": "ok", "value": 8.0}, None),
    ({"check": "clustered:conversion", "status": "flag", "value": 0.7}, "spread the points"),
    ({"check": "drift:upgraded", "status": "flag", "value": 0.4}, "retrain"),
    ({"check": "pql_lift", "status": "unknown", "value": None}, None),
])
def test_every_flag_says_what_to_do(check, expected):
    from crm_app.services.dashboard.models import what_to_do
    advice = what_to_do(check)
    assert advice is None if expected is None else expected in advice


def test_a_manager_cannot_exclude_an_indicator(site):
    client = signed_in(site[0], "manager", "manager-pw")
    response = client.post("/dashboard/models/upgraded/exclude",
                           data={"indicator": "events.any.count_7d", "csrf_token": token(client, "/dashboard/models")})
    assert response.status_code == 403


@pytest.fixture(scope="module")
def trained_site(tmp_path_factory, worker_id):
    """A small demo workspace plus a history with a field goal, its lifecycle model trained and published."""
    from crm_app import create_app
    from crm_app.services.admin import versions
    from crm_app.services.lifecycle import training
    from crm_app.specs.loader import load_spec_set
    from tests.test_propensity_scoring import SPEC, seed_history
    config, _ = copied_workspace(tmp_path_factory, worker_id, 150, dashboard_manager_password="manager-pw")
    env = sandbox_env(Path(config.specs_root))
    (Path(config.specs_root) / "lifecycle").mkdir(exist_ok=True)
    (Path(config.specs_root) / "lifecycle" / "lead.yaml").write_text(SPEC)
    app = create_app(config)
    store = app.config["PQL_STORE"]
    app.config["PQL_NOW"] = scored_as_of(store)
    seed_history(store)
    spec = load_spec_set(config.spec_dirs).lifecycle[0]
    assert training.train(store, spec, app.config["PQL_NOW"])["status"] == "trained"
    assert versions.publish(store, versions.read_admin_files(Path(config.specs_root)), "test", "lifecycle model",
                            base=versions.active_version(store)[0]).version
    yield app, spec
    store.dispose()
    env.__exit__(None, None, None)


def test_the_models_page_lists_versions_with_metrics_data_window_and_the_live_one(trained_site):
    from crm_app.services.lifecycle import training, versions
    app, spec = trained_site
    store, client = app.config["PQL_STORE"], signed_in(app, "manager", "manager-pw")

    def shown():
        html = client.get("/dashboard/models").text
        table = re.search(r'<table class="versions" data-versions="lead_conversion">(.*?)</table>', html, re.S).group(1)
        return re.findall(r'<tr data-version="(\d+)"( data-live)?>', table), table
    training.train(store, spec, app.config["PQL_NOW"])  # v2 goes live
    history = versions.history(store, "lead_conversion")
    rows, table = shown()
    assert rows == [("2", " data-live"), ("1", "")]
    assert f"{history[0]['roc_auc']:.3f}" in table and "trained by command" in table
    window = f"{_day(history[0]['data_from'])} to {_day(history[0]['data_to'])}"
    assert window in table
    versions.rollback(store, "lead_conversion", 1)
    assert shown()[0] == [("2", ""), ("1", " data-live")]


def _day(ts) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")


def test_errors_explain_themselves_as_a_page_or_as_json_for_previews(site):
    client = signed_in(site[0], "admin", "admin-pw")
    page = client.get("/dashboard/people?band=purple")
    assert page.status_code == 400 and "band must be one of high, medium, low" in page.text and "Back to" in page.text
    preview = client.get("/dashboard/thresholds/preview?model=conversion&high=x&medium=40")
    assert preview.status_code == 400 and preview.json == {"error": "high must be a number, not 'x'"}


@pytest.mark.parametrize("limits,expected", [
    ({"api-usage": "120/15000"}, [("api-usage", 120, 15000, 1 - 120 / 15000)]),
    ({"x-hubspot-ratelimit": "remaining 40", "daily": "250000 / 500000"}, [("daily", 250000, 500000, 0.5)]),
    ({}, []),
])
def test_rate_limit_headroom_from_the_last_limit_headers(limits, expected):
    from crm_app.services.dashboard.crm import headroom
    assert [(h["name"], h["used"], h["allowed"], h["left"]) for h in headroom(limits)] == expected


def test_the_owner_list_reads_the_owner_index_not_the_people_table(sqlite_store):
    from sqlalchemy import func, select, text

    from crm_app.store.dashboard.indexes import owner_expr
    seed_population(sqlite_store)
    owner = owner_expr("sqlite")
    query = select(func.min(owner)).where(owner > "rep0")
    with sqlite_store.read() as conn:
        assert queries.owner_names(conn) == ["rep0", "rep1", "rep2"]
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_people_owner" in plan and "SCAN people " not in plan


@pytest.mark.parametrize("segment,band", [("risk", None), ("at_risk", "medium"), ("loyal_customer", None)])
def test_segment_filter_pages_and_counts(store, segment, band):
    from crm_app.store.scoring.segments import set_primary
    rows = seed_population(store)
    primary = {r["subject_id"]: ["risk", "at_risk", None][r["subject_id"] % 3] for r in rows}
    with store.begin() as conn:
        set_primary(conn, "conversion", primary)
    expected = sorted((r for r in rows if primary[r["subject_id"]] == segment and (band is None or r["band"] == band)),
                      key=lambda r: (r["combined"], r["subject_id"]), reverse=True)
    query = PeopleQuery("conversion", band=band, segment=segment, size=9)
    with store.read() as conn:
        assert walk(conn, query) == [r["subject_id"] for r in expected]
        assert queries.filtered_count(conn, query) == len(expected)


def test_people_page_offers_the_models_segments_and_refuses_others(site):
    client = signed_in(site[0], "manager", "manager-pw")
    health = client.get("/dashboard/people?model=health")
    assert health.status_code == 200 and b'<option value="at_risk"' in health.data
    assert client.get("/dashboard/people?model=health&segment=risk").status_code == 200
    refused = client.get("/dashboard/people?model=health&segment=purple")
    assert refused.status_code == 400 and b"segment must be one of" in refused.data
    assert b"none in this model" in client.get("/dashboard/people?model=conversion").data
