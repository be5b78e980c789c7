"""The dashboard as a workbench: people search by name, company, email and id; the list's columns and CSV export;
account (PQA) pages; the person page's CRM link and stored-versus-fresh; and `explain --stored`."""
from __future__ import annotations

import csv
import re
import io
from pathlib import Path

import pytest

from crm_app.store.dashboard import queries
from crm_app.store.dashboard.queries import PeopleQuery
from tests.dashboard_helpers import copied_workspace, sandbox_env, scored_as_of
from tests.test_dashboard import signed_in

AS_OF = 1_790_000_000
WEEK = 7 * 86400

PEOPLE = [  # external id, email, attributes, account name
    ("u1", "jane.doe@acme.io", {"first_name": "Jane", "last_name": "Doe"}, "Acme Robotics"),
    ("u2", "john.smith@acme.io", {"first_name": "John", "last_name": "Smith"}, "Acme Robotics"),
    ("u3", "jsmith@globex.com", {"name": "Jenny Smithers"}, "Globex"),
    ("u4", "zed@initech.com", {"first_name": "Zed", "last_name": "O'Brien", "company": "Initech (trial)"}, None),
    ("u5", "=cmd@evil.example", {"first_name": "=HYPERLINK(\"http://evil\")", "last_name": "+1"}, "@Evil"),
]


def seed(store) -> dict:
    from crm_app.store import people as people_store
    from crm_app.store.scoring import results as results_store
    with store.begin() as conn:
        accounts = people_store.upsert_accounts(conn, [{"external_id": name.lower().replace(" ", "-"), "name": name}
                                                       for name in {p[3] for p in PEOPLE if p[3]}])
        ids = people_store.upsert_people(conn, [
            {"external_id": ext, "email": email, "attributes": attrs,
             "account_id": accounts[account.lower().replace(" ", "-")] if account else None}
            for ext, email, attrs, account in PEOPLE])
        rows, history = [], []
        for n, (ext, *_rest) in enumerate(PEOPLE):
            combined = 40 + 10 * n
            rows.append({"model": "conversion", "subject_id": ids[ext], "as_of": AS_OF, "fit": 10, "fit_raw": 10,
                         "behaviour": combined - 10, "behaviour_before_decay": combined - 10, "decay": 0,
                         "combined": combined, "band": "high" if combined >= 70 else "medium",
                         "pql": combined >= 75, "pql_since": AS_OF - 86400 if combined >= 75 else None,
                         "pql_first_at": None, "activation": None, "milestones": 0, "last_activity": AS_OF,
                         "days_inactive": 0, "reasons": [], "digest": "d", "rules_hash": "h"})
            if ext != "u3":  # u3 is new this week: no score a week ago
                history.append({"model": "conversion", "subject_id": ids[ext], "as_of": AS_OF - 10 * 86400,
                                "fit": 10, "behaviour": 0, "combined": combined - 5 * n, "band": "low", "pql": False,
                                "rules_hash": "h"})
            history.append({"model": "conversion", "subject_id": ids[ext], "as_of": AS_OF, "fit": 10,
                            "behaviour": combined - 10, "combined": combined, "band": "medium", "pql": False,
                            "rules_hash": "h"})
        results_store.save_results(conn, rows, history)
        results_store.record_run(conn, {"as_of": AS_OF, "mode": "full", "scored": len(rows)})
    return ids


@pytest.mark.parametrize("q,expected", [
    ("jane", {"u1"}), ("JANE", {"u1"}), ("doe", {"u1"}), ("jane doe", {"u1"}), ("doe jane", {"u1"}),
    ("smith", {"u2"}),  # John Smith's last name; Jenny Smithers has one `name` field, found by its start
    ("jenny smith", {"u3"}), ("jenny", {"u3"}), ("j smith", {"u2"}), ("john smith", {"u2"}), ("acme", {"u1", "u2"}),
    ("acme rob", {"u1", "u2"}), ("acme jane", {"u1"}),
    ("glob", {"u3"}), ("jsmith@", {"u3"}), ("zed@initech.com", {"u4"}), ("o'brien", {"u4"}), ("u4", {"u4"}),
    ("nobody", set()), ("%", set()), ("_", set()), ("jane nobody", set()), ("'; drop table people; --", set()),
])
def test_search_by_name_company_email_and_id(store, q, expected):
    ids = seed(store)
    by_id = {v: k for k, v in ids.items()}
    with store.read() as conn:
        found = {by_id[r["subject_id"]] for r in queries.people_page(conn, PeopleQuery("conversion", q=q, size=50))}
    assert found == expected


def test_search_by_internal_id(store):
    ids = seed(store)
    with store.read() as conn:
        rows = queries.people_page(conn, PeopleQuery("conversion", q=str(ids["u2"]), size=50))
    assert [r["subject_id"] for r in rows] == [ids["u2"]]


def test_search_reads_indexes_not_the_people_table(tmp_path):
    """On SQLite, every branch of a name search is an index search: no full scan of people or accounts."""
    from sqlalchemy import select
    from crm_app.store import Store, schema
    from crm_app.store.dashboard.search import matching_ids
    store = Store(f"sqlite:///{tmp_path}/s.db")
    seed(store)
    with store.read() as conn:
        stmt = select(schema.results.c.subject_id).where(schema.results.c.subject_id.in_(matching_ids(conn, "jane do")))
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "SCAN people" not in plan and "SCAN accounts" not in plan, plan
    assert "ix_people_search_last_name" in plan and "ix_accounts_search_name" in plan, plan


def test_people_page_columns_name_company_owner_and_change_since_last_week(store):
    from crm_app.services.dashboard.overview import people_page
    ids = seed(store)
    page = people_page(store, PeopleQuery("conversion", size=50), now=AS_OF)
    rows = {r["external_id"]: r for r in page["rows"]}
    assert rows["u1"]["name"] == "Jane Doe" and rows["u1"]["company"] == "Acme Robotics"
    assert rows["u3"]["name"] == "Jenny Smithers"
    assert rows["u4"]["company"] == "Initech (trial)"  # no account: the person's own company field
    assert rows["u1"]["change"] == 0 and rows["u2"]["change"] == 5 and rows["u5"]["change"] == 20
    assert rows["u3"]["change"] is None  # not scored a week ago
    assert rows["u5"]["pql_since"] == AS_OF - 86400
    assert set(rows) == {p[0] for p in PEOPLE} and ids


@pytest.mark.parametrize("value,cell", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                                        ("\tx", "'\tx"), ("plain", "plain"), (-5, "-5"), (None, "")])
def test_csv_cells_never_start_a_formula(value, cell):
    from crm_app.services.dashboard.people_export import safe_cell
    assert safe_cell(value) == cell


@pytest.mark.parametrize("page", [2, 5, 1000])  # several pages, a last page exactly full, one page
def test_csv_export_walks_every_match_in_order(store, monkeypatch, page):
    import crm_app.services.dashboard.people_export as export
    from crm_app.services.dashboard.people_export import COLUMNS, export_lines
    ids = seed(store)
    monkeypatch.setattr(export, "PAGE", page)
    text = "".join(export_lines(store, PeopleQuery("conversion"), AS_OF))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0].keys()) == COLUMNS
    assert [int(r["id"]) for r in rows] == [ids[e] for e in ("u5", "u4", "u3", "u2", "u1")]
    evil = rows[0]
    assert evil["name"].startswith("'=HYPERLINK") and evil["company"] == "'@Evil"
    assert evil["email"] == "'=cmd@evil.example"


# --- through the app --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory, worker_id):
    from crm_app import create_app
    config, _ = copied_workspace(tmp_path_factory, worker_id, 150, dashboard_admin_password="admin-pw",
                                 dashboard_manager_password="manager-pw")
    env = sandbox_env(Path(config.specs_root))
    app = create_app(config)
    app.config["PQL_NOW"] = scored_as_of(app.config["PQL_STORE"])
    yield app, config
    app.config["PQL_STORE"].dispose()
    env.__exit__(None, None, None)


def test_export_is_csv_audited_and_filtered(site):
    from crm_app.store.dashboard.security import audit_entries
    app, _ = site
    client = signed_in(app, "manager", "manager-pw")
    response = client.get("/dashboard/people.csv?model=conversion&band=high")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and {r["band"] for r in rows} == {"high"}
    page = client.get("/dashboard/people?model=conversion&band=high")
    assert f">{len(rows)}<" in page.text.replace(",", "")  # the list's count and the export agree
    with app.config["PQL_STORE"].read() as conn:
        entry = audit_entries(conn, 5, "people_exported")[0]
    assert entry["actor"] == "manager" and entry["detail"]["band"] == "high"


@pytest.mark.parametrize("path", ["/dashboard/people.csv?band=nope", "/dashboard/people.csv?q=" + "x" * 300,
                                  "/dashboard/accounts?model=nope", "/dashboard/accounts?after=1e9",
                                  "/dashboard/accounts/99999999"])
def test_bad_workbench_parameters_are_4xx(site, path):
    app, _ = site
    client = signed_in(app, "admin", "admin-pw")
    assert client.get(path).status_code in (400, 404)


def test_accounts_list_and_account_page_show_pqa_scores_and_people(site):
    from sqlalchemy import select
    from crm_app.store import schema
    app, _ = site
    client = signed_in(app, "manager", "manager-pw")
    listing = client.get("/dashboard/accounts")
    assert listing.status_code == 200 and 'id="accounts-table"' in listing.text
    r = schema.results
    with app.config["PQL_STORE"].read() as conn:
        best = conn.execute(select(r.c.subject_id, r.c.combined).where(r.c.model == "account")
                            .order_by(r.c.combined.desc(), r.c.subject_id.desc()).limit(1)).first()
        people = conn.execute(select(schema.people.c.email).where(schema.people.c.account_id == best[0])).scalars()
        emails = list(people)
    assert f'/dashboard/accounts/{best[0]}"' in listing.text
    page = client.get(f"/dashboard/accounts/{best[0]}")
    assert page.status_code == 200 and f'data-score="combined">{best[1]}<' in page.text
    assert all(email in page.text for email in emails)


def test_person_page_links_the_crm_record_and_shows_readable_fields(site):
    from sqlalchemy import select
    from crm_app.store.crm import crm_links
    app, _ = site
    client = signed_in(app, "admin", "admin-pw")
    with app.config["PQL_STORE"].read() as conn:
        person_id, record_id = conn.execute(select(crm_links.c.person_id, crm_links.c.record_id)
                                            .where(crm_links.c.person_id.isnot(None)).limit(1)).first()
    page = client.get(f"/dashboard/people/{person_id}")
    assert page.status_code == 200 and record_id in page.text and 'id="crm-records"' in page.text
    assert "['" not in page.text  # lists read as text, never as a Python repr


def test_person_page_says_when_the_stored_result_differs(site):
    from sqlalchemy import update
    from crm_app.store import schema
    app, _ = site
    store = app.config["PQL_STORE"]
    with store.begin() as conn:
        person_id = conn.execute(schema.results.select().where(schema.results.c.model == "conversion")
                                 .limit(1)).first().subject_id
        conn.execute(update(schema.results).where(schema.results.c.subject_id == person_id,
                                                  schema.results.c.model == "conversion").values(combined=101))
    page = signed_in(app, "admin", "admin-pw").get(f"/dashboard/people/{person_id}")
    assert "stored-differs" in page.text and "combined 101 →" in page.text


def test_explain_says_what_it_shows(site, capsys):
    from crm_app.cli import main
    from sqlalchemy import select
    from crm_app.store import schema
    app, config = site
    with app.config["PQL_STORE"].read() as conn:
        person = conn.execute(select(schema.people.c.external_id).order_by(schema.people.c.id).limit(1)).scalar()
    env = {"DATABASE_URL": config.database_url, "SPECS_ROOT": config.specs_root}
    import os
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert main(["explain", person, "--model", "conversion", "--stored"]) == 0
        stored = capsys.readouterr().out
        assert main(["explain", person, "--model", "conversion"]) == 0
        fresh = capsys.readouterr().out
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert "the stored result, no rescore" in stored and "Fresh rescore" not in stored
    assert "In the CRM" in stored
    assert "Fresh rescore with the rule files loaded now" in fresh
    assert "Same as the stored result" in fresh or "Differs from the stored result" in fresh


@pytest.mark.parametrize("value,text", [(["HubSpot", "Slack"], "HubSpot, Slack"), (True, "yes"), (None, "—"),
                                        ({"plan": "pro", "seats": 5}, "plan: pro; seats: 5"), (3, "3")])
def test_field_values_read_as_text(value, text):
    from crm_app.web.dashboard.formatting import value as fmt_value
    assert fmt_value(value) == text


def test_new_pqls_per_rep_count_owners_the_playbooks_assigned(site):
    from sqlalchemy import func, select
    from crm_app.store import schema
    from crm_app.store.dashboard.queries import new_pqls_since
    from crm_app.store.playbooks.schema import pb_ledger
    app, _ = site
    r = schema.results
    with app.config["PQL_STORE"].read() as conn:
        assigned = conn.execute(select(func.count(func.distinct(pb_ledger.c.subject_id))).select_from(
            pb_ledger.join(r, (r.c.subject_id == pb_ledger.c.subject_id) & (r.c.model == "conversion")))
                                .where(pb_ledger.c.action == "assign", pb_ledger.c.status == "sent",
                                       pb_ledger.c.playbook == "new_pql", r.c.pql.is_(True))).scalar()
        before = dict(new_pqls_since(conn, "conversion", 0))
        after = dict(new_pqls_since(conn, "conversion", 0, ("new_pql",)))
    assert assigned > 0
    assert sum(before.values()) == sum(after.values())
    assert before.get(None, 0) - after.get(None, 0) == assigned  # each assigned PQL left "unassigned"
    assert all(owner and "@" in owner for owner in after if owner is not None)


def backtest_report(lift: float, conversions: list[float]) -> dict:
    threshold = {"threshold": 75, "pql_conversion": 0.3, "non_pql_conversion": 0.3 / lift, "lift": lift,
                 "precision": 0.3, "recall": 0.5, "pqls_per_rep_per_week": 4}
    buckets = [{"bucket": name, "conversion": c} for name, c in zip(("0-25", "25-50", "50-75", "75-100"), conversions)]
    return {"goal": "customer", "from": AS_OF - 90 * 86400, "to": AS_OF, "step_days": 7, "window_days": 30, "reps": 3,
            "results": {"live": {"threshold": threshold, "buckets": buckets, "samples": 100, "converted": 10,
                                 "suggestion": None}}, "notes": []}


def test_backtest_history_shows_and_compares_two_runs(site):
    from crm_app.store.lifecycle import save_backtest
    app, _ = site
    with app.config["PQL_STORE"].begin() as conn:
        first = save_backtest(conn, AS_OF - 86400, "conversion", {}, backtest_report(2.0, [0.01, 0.02, 0.05, 0.1]))
        second = save_backtest(conn, AS_OF, "conversion", {}, backtest_report(3.5, [0.01, 0.03, 0.08, 0.2]))
    client = signed_in(app, "manager", "manager-pw")
    latest = client.get("/dashboard/backtest")
    assert latest.status_code == 200 and f"Run #{second} of" in latest.text and f'data-run="{first}"' in latest.text
    compared = client.get(f"/dashboard/backtest?run={second}&compare={first}")
    assert f"beside run #{first}" in compared.text
    assert f"#{second} live" in compared.text and f"#{first} live" in compared.text
    assert "3.50x" in compared.text and "2.00x" in compared.text
    older = client.get(f"/dashboard/backtest?run={first}")
    assert f"Run #{first} of" in older.text
    assert client.get("/dashboard/backtest?run=abc").status_code == 400


def test_trends_read_daily_snapshots_and_backtests(store):
    import datetime as dt
    from crm_app.services.dashboard.trends import trends
    from crm_app.store import ops as ops_store
    from crm_app.store.lifecycle import save_backtest
    with store.begin() as conn:
        for day, pqls in (("2026-11-01", 5), ("2026-11-02", 7)):
            ops_store.save_snapshot(conn, day, [
                {"model": "conversion", "band": "high", "people": 10, "pqls": pqls, "avg_combined": 80.0,
                 "rules_hash": "h"},
                {"model": "conversion", "band": "low", "people": 90, "pqls": 1, "avg_combined": 12.34,
                 "rules_hash": "h"},
                {"model": "health", "band": "high", "people": 3, "pqls": 0, "avg_combined": 90.0, "rules_hash": "h"}])
        save_backtest(conn, AS_OF, "conversion", {}, backtest_report(2.0, [0.01, 0.02, 0.05, 0.1]))
        save_backtest(conn, AS_OF + 86400, "conversion", {}, backtest_report(3.0, [0.02, 0.02, 0.06, None]))
    found = trends(store, "conversion", today=dt.date(2026, 11, 3))
    assert found["days"] == ["2026-11-01", "2026-11-02"] and found["pqls"] == [6, 8]
    assert found["mean"]["high"] == [80.0, 80.0] and found["mean"]["low"] == [12.3, 12.3]
    assert found["mean"]["medium"] == [None, None]
    assert len(found["backtests"]["labels"]) == 2
    assert found["backtests"]["datasets"][-1] == {"label": "75-100", "data": [10.0, None]}


def test_monitoring_checks_group_by_model_with_unknown_folded():
    from crm_app.web.dashboard.pages import grouped_checks
    checks = [{"check": "pql_lift", "status": "unknown", "model": "conversion", "message": "no backtest"},
              {"check": "clustered:health", "status": "ok", "model": "health", "message": "spread"},
              {"check": "sync_failures", "status": "flag", "message": "3 failures"},
              {"check": "drift:conversion", "status": "ok", "model": "conversion", "message": "stable"}]
    groups = grouped_checks(checks, "conversion")
    assert [g["name"] for g in groups] == ["conversion", "health", "All models"]
    assert [c["check"] for c in groups[0]["known"]] == ["drift:conversion"]
    assert [c["check"] for c in groups[0]["unknown"]] == ["pql_lift"]


def test_search_with_only_common_words_intersects_exactly(store, monkeypatch):
    """When every word matches more than MAX_MATCHES people, the exact intersection is used, not the rarest word."""
    from crm_app.store.dashboard import search
    ids = seed(store)
    by_id = {v: k for k, v in ids.items()}
    monkeypatch.setattr(search, "MAX_MATCHES", 1)  # "j" matches three people, "acme" two: both are common now
    with store.read() as conn:
        found = {by_id[r["subject_id"]] for r in queries.people_page(conn, PeopleQuery("conversion", q="j acme"))}
    assert len(found) == 1 and found <= {"u1", "u2"}


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/people", "/dashboard/accounts", "/dashboard/thresholds",
                                  "/dashboard/rules", "/dashboard/models", "/dashboard/backtest",
                                  "/dashboard/activity", "/dashboard/integrations", "/dashboard/audit"])
def test_every_page_title_is_plain_text(site, path):
    app, _ = site
    page = signed_in(app, "admin", "admin-pw").get(path)
    assert page.status_code == 200
    title = re.search(r"<title>(.*?)</title>", page.text, re.S).group(1)
    assert "<" not in title and title.endswith("PQL scoring"), title
