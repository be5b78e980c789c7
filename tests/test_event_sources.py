"""Event sources: the same events scored from the store (sent through /v1/batch), from tables in the
Segment/RudderStack warehouse schema and from a folder of Parquet files give the same results, on DuckDB and
on Spark; the settings are validated with the fix in the message."""
from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime

import duckdb
import pytest

from crm_app.errors import ConfigError
from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar.sources import EventSource, event_source, table_name
from tests.helpers import AS_OF, DAY
from tests.ingest_server import make_app

AUTH = {"Authorization": "Basic " + base64.b64encode(b"test-write-key:").decode()}
PROPERTIES = {"Feature Used": lambda r: {"feature": r.choice(["export", "api", "sso", "dashboards"])},
              "Session Ended": lambda r: {"duration_seconds": r.randrange(30, 900)},
              "Page Viewed": lambda r: {"path": r.choice(["/pricing", "/pricing/team", "/docs", "/it's"])},
              "Support Contacted": lambda r: {"topic": r.choice(["billing", "bug", "enterprise"])},
              "NPS Submitted": lambda r: {"score": r.randrange(0, 11)},
              "Logged In": lambda r: {}, "Invite Sent": lambda r: {}, "Onboarding Completed": lambda r: {}}


def messages(people: int = 30, seed: int = 3):
    """(identifies, tracks) as Segment messages: some users' first events are anonymous, identified later."""
    rng = random.Random(seed)
    identifies, tracks = [], []
    for i in range(people):
        anonymous = f"anon-{i}" if i % 3 == 0 else None
        identifies.append({"type": "identify", "userId": f"u{i}", "anonymousId": anonymous,
                           "messageId": f"i{i}", "timestamp": iso(AS_OF - 80 * DAY),
                           "traits": {"email": f"p{i}@{rng.choice(['gmail.com', 'acme.io'])}",
                                      "title": rng.choice(["VP Data", "Engineer", "Student"])}})
        for n in range(rng.randrange(0, 25)):
            event = rng.choice(sorted(PROPERTIES))
            who = {"anonymousId": anonymous} if anonymous and n < 4 else {"userId": f"u{i}"}
            tracks.append({"type": "track", "event": event, "messageId": f"t{i}-{n}",
                           "timestamp": iso(AS_OF - rng.randrange(0, 60 * DAY)),
                           "properties": PROPERTIES[event](rng), **who})
    return identifies, tracks


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def send(store_url: str, batch: list) -> None:
    app = make_app(store_url)
    try:
        for i in range(0, len(batch), 100):
            response = app.test_client().post("/v1/batch", headers=AUTH, json={"batch": batch[i:i + 100]})
            assert response.status_code == 200, response.get_json()
    finally:
        app.config["PQL_STORE"].dispose()


def warehouse(path: str, identifies: list, tracks: list) -> None:
    """The messages as a Segment warehouse loader leaves them: tracks, one table per event, identifies."""
    con = duckdb.connect(path)
    common = "id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, event VARCHAR, event_text VARCHAR, " \
             "timestamp TIMESTAMP, received_at TIMESTAMP, context_library_name VARCHAR"
    con.execute(f"CREATE TABLE tracks ({common})")
    con.execute("CREATE TABLE identifies (id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, timestamp TIMESTAMP, "
                "email VARCHAR, title VARCHAR)")
    for event, make in PROPERTIES.items():
        columns = "".join(f", {k} {'BIGINT' if isinstance(v, int) else 'VARCHAR'}"
                          for k, v in make(random.Random(0)).items())
        con.execute(f"CREATE TABLE {table_name(event)} ({common}{columns})")
    def stamp(message):
        return datetime.strptime(message["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    for m in tracks:
        row = [m["messageId"], m.get("anonymousId"), m.get("userId"), m["event"], m["event"], stamp(m), stamp(m),
               "analytics-python"]
        con.execute("INSERT INTO tracks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        values = list(m["properties"].values())
        con.execute(f"INSERT INTO {table_name(m['event'])} VALUES ({', '.join('?' * (len(row) + len(values)))})",
                    row + values)
    for m in identifies:
        con.execute("INSERT INTO identifies VALUES (?, ?, ?, ?, ?, ?)", [m["messageId"], m["anonymousId"], m["userId"],
                    stamp(m), m["traits"]["email"], m["traits"]["title"]])
    con.close()


def parquet_folder(folder, identifies: list, tracks: list) -> None:
    con = duckdb.connect()
    for name, rows in (("tracks", tracks), ("identifies", identifies)):
        (folder / name).mkdir(parents=True)
        con.execute("CREATE OR REPLACE TABLE t (id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, event VARCHAR, "
                    "timestamp TIMESTAMP, properties VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", [
            [m["messageId"], m.get("anonymousId"), m.get("userId"), m.get("event"),
             datetime.strptime(m["timestamp"], "%Y-%m-%dT%H:%M:%SZ"), json.dumps(m.get("properties", {}))]
            for m in rows])
        con.execute(f"COPY t TO '{folder / name / 'part-0.parquet'}' (FORMAT PARQUET)")


def planned(expected: dict) -> dict:
    """The results of the models the set-wise plan scores: the others read only the store's events and are
    left out, with a warning, when events come from elsewhere (account models roll those up, so they go too)."""
    from crm_app.services.scoring.setwise import plannable
    from crm_app.specs.loader import SpecDirs, load_spec_set
    from tests.conftest import ROOT
    rest = {m.name for m, _ in plannable(load_spec_set(SpecDirs.under(ROOT)).rules.models)[1]}
    assert "conversion" not in rest
    return {k: v for k, v in expected.items() if k[0] not in rest}


def results(store) -> dict:
    r, p = schema.results, schema.people
    with store.read() as conn:
        rows = conn.execute(r.join(p, p.c.id == r.c.subject_id).select().with_only_columns(
            r.c.model, p.c.external_id, r.c.combined, r.c.fit, r.c.behaviour, r.c.band, r.c.pql, r.c.reasons))
        return {(row[0], row[1]): tuple(row[2:]) for row in rows}


@pytest.fixture
def sent(store, tmp_path, monkeypatch, default_rules):
    """The messages sent through /v1/batch and scored from the store; (identifies, tracks, results)."""
    identifies, tracks = messages()
    send(store.url, identifies[:10] + tracks + identifies[10:])
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "a.duckdb"))
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    expected = results(store)
    assert len({k[1] for k in expected}) == 30 and len({v[2] for v in expected.values()}) > 5
    return identifies, tracks, expected


def people_only(tmp_path, identifies):
    from crm_app.store import Store
    other = Store(f"sqlite:///{tmp_path}/people-only.db")
    send(other.url, identifies)
    return other


def test_segment_warehouse_tables_score_like_the_same_events_sent_through_batch(sent, tmp_path, monkeypatch,
                                                                                 default_rules):
    identifies, tracks, expected = sent
    warehouse(str(tmp_path / "wh.duckdb"), identifies, tracks)
    other = people_only(tmp_path, identifies)
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "b.duckdb"))
    monkeypatch.setenv("EVENT_SOURCE", "segment_warehouse")
    monkeypatch.setenv("EVENT_SOURCE_PATH", str(tmp_path / "wh.duckdb"))
    score(other, default_rules, AS_OF, workers=1)  # auto picks the plan: the store engine reads only the store
    assert planned(results(other)) == planned(expected)
    other.dispose()


def test_a_parquet_folder_scores_like_the_same_events_sent_through_batch(sent, tmp_path, monkeypatch, default_rules):
    identifies, tracks, expected = sent
    parquet_folder(tmp_path / "events", identifies, tracks)
    other = people_only(tmp_path, identifies)
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "b.duckdb"))
    monkeypatch.setenv("EVENT_SOURCE", "parquet")
    monkeypatch.setenv("EVENT_SOURCE_PATH", str(tmp_path / "events"))
    score(other, default_rules, AS_OF, engine="duckdb", workers=1)
    assert planned(results(other)) == planned(expected)
    other.dispose()


def test_spark_scores_the_warehouse_like_the_store(sqlite_store, spark, tmp_path, monkeypatch, default_rules):
    identifies, tracks = messages(people=12, seed=9)
    send(sqlite_store.url, identifies + tracks)
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "a.duckdb"))
    score(sqlite_store, default_rules, AS_OF, engine="duckdb", workers=1)
    expected = results(sqlite_store)
    warehouse(str(tmp_path / "wh.duckdb"), identifies, tracks)
    other = people_only(tmp_path, identifies)
    monkeypatch.setenv("COLUMNAR_PATH", str(tmp_path / "b.duckdb"))
    monkeypatch.setenv("EVENT_SOURCE", "segment_warehouse")
    monkeypatch.setenv("EVENT_SOURCE_PATH", str(tmp_path / "wh.duckdb"))
    score(other, default_rules, AS_OF, engine="spark", workers=1)
    assert planned(results(other)) == planned(expected)
    other.dispose()


@pytest.mark.parametrize("env,message", [
    ({"EVENT_SOURCE": "kafka"}, "EVENT_SOURCE='kafka' is not a source: use one of store, parquet, segment_warehouse"),
    ({"EVENT_SOURCE": "parquet"}, "EVENT_SOURCE=parquet needs EVENT_SOURCE_PATH"),
    ({"EVENT_SOURCE": "segment_warehouse"}, "needs EVENT_SOURCE_PATH: the warehouse database DuckDB attaches"),
    ({"EVENT_SOURCE": "parquet", "EVENT_SOURCE_PATH": "/nonexistent"}, "has no tracks/ folder"),
    ({"EVENT_SOURCE": "segment_warehouse", "EVENT_SOURCE_PATH": "x.duckdb", "EVENT_SOURCE_SCHEMA": "a; drop"},
     "is not a plain schema name"),
])
def test_bad_source_settings_name_the_setting_and_the_fix(env, message):
    with pytest.raises(ConfigError, match=None) as err:
        event_source(env)
    assert message in str(err.value)


def test_good_source_settings():
    assert event_source({}) == EventSource("store")
    assert event_source({"EVENT_SOURCE": " Segment_Warehouse ", "EVENT_SOURCE_PATH": "wh.duckdb",
                         "EVENT_SOURCE_SCHEMA": "prod"}) == EventSource("segment_warehouse", "wh.duckdb", "prod")


def add_late_event(kind: str, tmp_path, user: str, timestamp: int, arrived: int) -> None:
    """One more Logged In of `user`, stamped `timestamp`, reaching the source at `arrived`."""
    if kind == "parquet":
        con = duckdb.connect()
        con.execute(f"""COPY (SELECT 'late-1' AS id, NULL::VARCHAR AS anonymous_id, '{user}' AS user_id,
                        'Logged In' AS event, to_timestamp({timestamp})::TIMESTAMP AS timestamp, '{{}}' AS properties,
                        to_timestamp({arrived})::TIMESTAMP AS received_at)
                        TO '{tmp_path / "events" / "tracks" / "part-1.parquet"}' (FORMAT PARQUET)""")
        return
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    row = ["late-1", None, user, "Logged In", "Logged In", datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None),
           datetime.fromtimestamp(arrived, UTC).replace(tzinfo=None), "analytics-python"]
    for table in ("tracks", "logged_in"):
        con.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    con.close()


@pytest.mark.parametrize("kind", ["parquet", "segment_warehouse"])
def test_changed_runs_from_a_source_score_who_has_events_that_arrived_since_the_last_run(
        store, tmp_path, monkeypatch, default_rules, kind):
    from crm_app.services.scoring.source_changes import watermark
    identifies, tracks = messages(people=12, seed=4)
    if kind == "parquet":
        parquet_folder(tmp_path / "events", identifies, tracks)
        path = tmp_path / "events"
    else:
        warehouse(str(tmp_path / "wh.duckdb"), identifies, tracks)
        path = tmp_path / "wh.duckdb"
    send(store.url, identifies)
    monkeypatch.setenv("EVENT_SOURCE", kind)
    monkeypatch.setenv("EVENT_SOURCE_PATH", str(path))
    monkeypatch.setenv("COLUMNAR_LAG_SECONDS", "0")  # else who arrived in the last 300 s is scored again
    first = score(store, default_rules, AS_OF, mode="changed", engine="duckdb", workers=1)
    assert first.people == 12  # no watermark yet: everyone
    newest = watermark(store, event_source())
    assert newest is not None
    idle = score(store, default_rules, AS_OF, mode="changed", engine="duckdb", workers=1)
    assert idle.people == 0 and idle.models["conversion"].changed == 0
    # An event that happened days ago but reached the source an hour after the newest arrival: still news.
    add_late_event(kind, tmp_path, "u4", AS_OF - 3 * DAY, newest + 3600)
    later = score(store, default_rules, AS_OF + 7200, mode="changed", engine="duckdb", workers=1)
    assert later.people == 1 and watermark(store, event_source()) == newest + 3600
    incremental = results(store)
    full = score(store, default_rules, AS_OF + 7200, engine="duckdb", workers=1)
    assert results(store)[("conversion", "u4")] == incremental[("conversion", "u4")]
    assert full.people == 12
