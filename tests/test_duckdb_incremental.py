"""An incremental DuckDB run costs what its people cost: it reads from the store only their rows and their
events' ids, never re-reads the copy's people or events wholesale, keeps the copy's low watermark after a quiet
spell, and still stores what the per-person engine stores when an event changed hands."""
from __future__ import annotations

from crm_app.services.scoring import duck_engine
from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar import accounts as copy_accounts
from crm_app.store.columnar import copy, mirror, scoped
from crm_app.store.people import mark_dirty
from tests.helpers import AS_OF
from tests.test_duckdb_engine import seed, stored


def test_a_catch_up_after_a_quiet_spell_rereads_only_the_last_lag_of_ids(store, tmp_path):
    seed(store, people=5)
    con = mirror.open_copy(str(tmp_path / "c.duckdb"))
    for now in (1000, 1030):
        with store.read() as conn:
            copy.catch_up_events(con, conn, now=now, lag=60)
    top = con.execute("SELECT max(id) FROM events").fetchall()[0][0]
    with store.read() as conn:  # a day later: the old catch-ups are pruned, but not the newest settled one
        copy.catch_up_events(con, conn, now=1030 + 86400, lag=60)
    assert copy.low_watermark(con, 60) == top


def test_an_incremental_run_reads_only_its_people(store, default_rules, monkeypatch):
    seed(store, people=40)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    changed = [3, 17, 29]
    with store.begin() as conn:
        mark_dirty(conn, changed)
        e = schema.events
        theirs = conn.execute(e.select().with_only_columns(e.c.person_id, e.c.type_id, e.c.ts)
                              .where(e.c.person_id.in_(changed))).all()
        accounts = set(conn.execute(schema.people.select().with_only_columns(schema.people.c.account_id)
                                    .where(schema.people.c.id.in_(changed))).scalars().all())

    def wholesale(*args, **kwargs):
        raise AssertionError("an incremental run re-read the copy's people or events wholesale")
    for name in ("refresh_people", "follow_every_event", "_load_people", "load_accounts"):
        monkeypatch.setattr(copy, name, wholesale)
    monkeypatch.setattr(copy_accounts, "load_accounts", wholesale)
    read = []
    real = scoped.by_ids
    monkeypatch.setattr(scoped, "by_ids", lambda conn, sql, ids: read.append((sql.split()[-3], list(ids)))
                        or real(conn, sql, ids))
    seen = {}
    real_plan = duck_engine.plan_over

    def plan(con, *args, **kwargs):
        planned = real_plan(con, *args, **kwargs)
        seen["ev"] = sorted(con.execute("SELECT person_id, type_id, ts FROM ev_scoped").fetchall())
        return planned
    monkeypatch.setattr(duck_engine, "plan_over", plan)
    summary = score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1)
    assert summary.people == len(changed)
    assert seen["ev"] == sorted(tuple(r) for r in theirs)  # the run's events are its people's, no one else's
    # No event is read from the store: moves between people come from the store's log of them.
    assert {table: sorted(ids) for table, ids in read} == {"people": changed, "accounts": sorted(accounts)}


def test_an_event_that_left_a_claimed_person_leaves_their_score(store, default_rules):
    seed(store, people=12)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    e = schema.events
    with store.begin() as conn:  # person 5's events go to person 6; only 5 is queued
        conn.execute(e.update().where(e.c.person_id == 5).values(person_id=6))
        mark_dirty(conn, [5])
    score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1)
    with store.begin() as conn:
        mark_dirty(conn, [6])
    score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1)
    duck = stored(store)
    with store.begin() as conn:
        conn.execute(schema.results.delete())
    score(store, default_rules, AS_OF, engine="store", workers=1)
    assert stored(store) == duck


def test_a_runs_band_totals_are_the_stored_results_bands(store, default_rules):
    """The totals a DuckDB run reports come from its mirror of the results, not from a scan of the store: after a
    full run and after an incremental one where people changed plan (some leave a population), they must be
    the store's own counts."""
    from crm_app.store.people import upsert_people
    seed(store, people=40)
    runs = [score(store, default_rules, AS_OF, engine="duckdb", workers=1)]
    _same_bands(store, runs[0])
    with store.begin() as conn:
        upsert_people(conn, [{"external_id": f"u{i}", "attributes": {"plan": "paid", "title": "Student"}}
                             for i in range(0, 40, 3)])
        mark_dirty(conn, list(range(1, 41, 3)))
    runs.append(score(store, default_rules, AS_OF, engine="duckdb", mode="changed", workers=1))
    assert runs[1].people > 0
    _same_bands(store, runs[1])


def _same_bands(store, summary) -> None:
    from crm_app.store.scoring.results import band_counts
    with store.read() as conn:
        for name, model in summary.models.items():
            assert model.bands == band_counts(conn, name), name
