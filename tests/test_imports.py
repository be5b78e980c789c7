"""File imports: events from JSONL and CSV, people/accounts/metrics from CSV with a mapping file."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from crm_app.errors import IngestError, SpecSetInvalid
from crm_app.services.ingest.imports import import_events, import_metrics, import_records
from crm_app.specs.mapping import load_mapping
from crm_app.store import schema


def table(store, t):
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t))]


def test_jsonl_events_with_bad_lines_reported_by_line(sqlite_store, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([
        json.dumps({"userId": "u1", "event": "Logged In", "timestamp": "2026-11-01T00:00:00Z", "messageId": "a"}),
        "{broken",
        "",
        json.dumps({"userId": "u1", "timestamp": "2026-11-01T00:00:00Z"}),
        json.dumps({"userId": "u2", "event": "Invite Sent", "timestamp": 1793491200000}),
    ]) + "\n")
    report = import_events(sqlite_store, path, quiet=True)
    assert report.accepted == 2
    assert sorted((r["index"], r["reason"].split(":")[0]) for r in report.rejected) == [
        (2, "not valid JSON"), (4, "a track message needs 'event', the name of what the user did")]
    assert sorted(e["ts"] for e in table(sqlite_store, schema.events)) == [1793491200, 1793491200]
    again = import_events(sqlite_store, path, quiet=True)
    assert (again.accepted, again.duplicates) == (0, 2)


def test_csv_events_extra_columns_become_properties(sqlite_store, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,event,timestamp,feature,duration_seconds\n"
                    "u1,Feature Used,2026-11-01T10:00:00Z,reports,\n"
                    "u1,Session Ended,2026-11-01T11:00:00Z,,420\n")
    assert import_events(sqlite_store, path, quiet=True).accepted == 2
    props = [e["properties"] for e in table(sqlite_store, schema.events)]
    assert props == [{"feature": "reports"}, {"duration_seconds": 420}]


def test_people_and_accounts_csv_with_mapping(sqlite_store, tmp_path):
    (tmp_path / "accounts.csv").write_text("account_id,name,domain,industry,employees\n"
                                           "w1,Acme,acme.io,Software,120\n")
    (tmp_path / "people.csv").write_text("Prospect ID,E-mail,Company,Lead Origin,TotalVisits,Country\n"
                                         "p1,ann@acme.io,w1,API,5,Select\n"
                                         "p2,bo@gmail.com,,Landing Page,,India\n")
    (tmp_path / "map.yaml").write_text("id: Prospect ID\nemail: E-mail\naccount: Company\n"
                                       "fields: {TotalVisits: visits}\nmissing_values: ['', Select]\n")
    assert import_records(sqlite_store, tmp_path / "accounts.csv", "accounts", quiet=True).imported == 1
    mapping = load_mapping(tmp_path / "map.yaml")
    assert import_records(sqlite_store, tmp_path / "people.csv", "people", mapping, quiet=True).imported == 2
    people = {p["external_id"]: p for p in table(sqlite_store, schema.people)}
    account = table(sqlite_store, schema.accounts)[0]
    assert people["p1"]["attributes"] == {"lead_origin": "API", "visits": 5}
    assert people["p1"]["account_id"] == account["id"] and people["p1"]["email"] == "ann@acme.io"
    assert people["p2"]["attributes"] == {"lead_origin": "Landing Page", "country": "India"}
    assert account["attributes"]["employees"] == 120


def test_mapping_file_errors_name_file_line_and_key(tmp_path):
    (tmp_path / "map.yaml").write_text("id: Prospect ID\nfeilds: {}\n")
    with pytest.raises(SpecSetInvalid) as info:
        load_mapping(tmp_path / "map.yaml")
    assert str(info.value.errors[0]).endswith("map.yaml:2: feilds: unknown key 'feilds'; valid keys here: account, "
                                              "as_of, email, event, fields, id, missing_values, skip, timestamp (did you mean 'fields'?)")


def test_missing_id_column_is_a_clear_error(sqlite_store, tmp_path):
    (tmp_path / "people.csv").write_text("name,email\nAnn,ann@acme.io\n")
    with pytest.raises(IngestError, match="people.csv:1: no column for the people id"):
        import_records(sqlite_store, tmp_path / "people.csv", "people", quiet=True)


@pytest.mark.parametrize("content,expected", [
    ("user_id,logins_30d,seats_used\nu1,7,3\n", {("logins_30d", 7.0), ("seats_used", 3.0)}),
    ("user_id,metric,value,as_of\nu1,logins_30d,9,2026-11-01T00:00:00Z\n", {("logins_30d", 9.0)}),
])
def test_metrics_wide_and_long(sqlite_store, tmp_path, content, expected):
    path = tmp_path / "metrics.csv"
    path.write_text(content)
    import_metrics(sqlite_store, path, as_of=1_790_000_000, quiet=True)
    assert {(m["name"], m["value"]) for m in table(sqlite_store, schema.metrics)} == expected


def test_bad_metric_rows_are_reported_by_line_and_good_ones_kept(sqlite_store, tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("user_id,logins_30d\nu1,7\nu2,lots\n,4\nu3,1\n")
    report = import_metrics(sqlite_store, path, quiet=True)
    assert report.rejected == [{"index": 3, "reason": "metric 'logins_30d' has 'lots', not a number"},
                               {"index": 4, "reason": "column 'user_id' is empty; every row needs an id"}]
    assert report.imported == 2


def test_people_rows_without_id_are_reported_and_others_kept(sqlite_store, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("id,title\np1,VP\n,CTO\np3,Analyst\n")
    report = import_records(sqlite_store, path, "people", quiet=True)
    assert report.imported == 2 and report.rejected == [
        {"index": 3, "reason": "column 'id' is empty; every row needs an id"}]
