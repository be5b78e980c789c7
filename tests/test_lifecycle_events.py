"""Event-log features from the Sparkify excerpt: windows and point-in-time correctness.

Upgrade (Submit Upgrade) is the conversion goal, cancellation (Cancellation Confirmation) the churn goal.
Every feature computed as of a date is checked against a recount of the raw file restricted to events at
or before that date; a feature that used a later event fails the test.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crm_app.cli import main
from crm_app.models.dataset import event_slug
from crm_app.services.lifecycle import training_data as data
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.lifecycle.training import latest_report
from crm_app.specs.loader import SpecDirs, load_spec_set
from crm_app.store import Store
from crm_app.store import people as people_store

REPO = Path(__file__).resolve().parents[1]
LOG = REPO.parent / "shared" / "datasets" / "sparkify_excerpts" / "log_multi_users.jsonl"
DAY = 86400
pytestmark = pytest.mark.skipif(not LOG.is_file(), reason="../shared/datasets is not on this machine")


@pytest.fixture(scope="module")
def sparkify(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sparkify")
    (tmp / "lifecycle").mkdir()
    (tmp / "rules").mkdir()
    for name in ("conversion.yaml", "lists.yaml"):
        shutil.copy(REPO / "rules" / name, tmp / "rules")
    for name in ("sparkify_upgrade.yaml", "sparkify_churn.yaml"):
        shutil.copy(REPO / "examples" / "lifecycle" / name, tmp / "lifecycle")
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", f"sqlite:///{tmp / 'store.db'}")
    mp.setenv("SPECS_ROOT", str(tmp))
    assert main(["import", "events", str(LOG), "--mapping", str(REPO / "examples" / "mappings" / "sparkify.yaml"),
                 "--quiet"]) == 0
    specs = load_spec_set(SpecDirs.under(tmp))
    yield Store(f"sqlite:///{tmp / 'store.db'}"), {m.name: m for m in specs.lifecycle}
    mp.undo()


def _raw():
    return [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()]


def _recount(rows, user: str, as_of: int, page: str | None, within: int | None) -> int:
    return sum(1 for r in rows if str(r["userId"]) == user and r["ts"] // 1000 <= as_of
               and (page is None or r["page"] == page) and (within is None or r["ts"] // 1000 >= as_of - within))


@pytest.mark.parametrize("as_of", [1538956800, 1539734400, 1541030400, 1542240000])  # Oct 8, Oct 17, Nov 1, Nov 15 2018
def test_features_use_only_events_known_at_the_as_of_date(sparkify, as_of):
    store, models = sparkify
    spec = models["sparkify_upgrade"]
    pages = ["NextSong", "Thumbs Up", "Upgrade", "Submit Upgrade", "Cancellation Confirmation", "Roll Advert"]
    events = [p.lower() for p in pages]
    snap = data.snapshot(store, spec, as_of, events, [])
    with store.read() as conn:
        ids = people_store.person_ids(conn, ["95", "23", "100021", "100005", "133"])
    cols = {c.name: c for c in data.build_columns(spec, snap, list(ids.values()), events, [])}
    rows = _raw()
    for k, (user, pid) in enumerate(ids.items()):
        for page in [None, *pages]:
            slug = "any" if page is None else event_slug(page)
            assert cols[f"events.{slug}.count_all"].values[k] == _recount(rows, user, as_of, page, None), (user, page)
            for w, label in ((DAY, "1d"), (7 * DAY, "7d"), (30 * DAY, "30d")):
                assert cols[f"events.{slug}.count_{label}"].values[k] == _recount(rows, user, as_of, page, w)
            seen = [r["ts"] // 1000 for r in rows if str(r["userId"]) == user and r["ts"] // 1000 <= as_of
                    and (page is None or r["page"] == page)]
            expected = None if not seen else (as_of - max(seen)) / DAY
            assert cols[f"events.{slug}.days_since_last"].values[k] == expected


def test_an_event_after_the_as_of_date_changes_nothing(sparkify):
    store, models = sparkify
    spec, as_of = models["sparkify_upgrade"], 1541030400
    before = data.snapshot(store, spec, as_of, ["nextsong"], [])
    ingest_messages(store, [{"type": "track", "userId": "133", "event": "NextSong", "timestamp": as_of + 1,
                             "messageId": "after-as-of"}], "test")
    after = data.snapshot(store, spec, as_of, ["nextsong"], [])
    assert before.features == after.features
    assert data.snapshot(store, spec, as_of + 1, ["nextsong"], []).features != before.features


@pytest.mark.parametrize("model,as_of,reached", [
    ("sparkify_upgrade", 1542897014, {"23"}),            # the moment user 23 submits the upgrade
    ("sparkify_upgrade", 1542897013, set()),             # one second earlier: not yet
    ("sparkify_churn", 1543591644, {"100005", "100021"}),  # end of log: both cancellations
    ("sparkify_churn", 1540000000, {"100005"}),
])
def test_goals_hold_from_the_moment_of_the_event(sparkify, model, as_of, reached):
    store, models = sparkify
    snap = data.snapshot(store, models[model], as_of, [], [])
    goal = data.goal_reached(models[model], snap)
    assert {snap.records[i]["external_id"] for i, hit in goal.items() if hit} == reached


def test_five_users_are_too_few_to_train_and_the_report_says_so(sparkify, capsys):
    store, _ = sparkify
    assert main(["train", "sparkify_upgrade", "--as-of", "2018-12-01T00:00:00Z", "--quiet"]) == 1
    report = latest_report(store, "sparkify_upgrade")
    assert report["status"] == "insufficient" and report["mode"] == "horizon"
    narrow = [a for a in report["advice"] if a["kind"] == "goal_too_narrow"]
    assert narrow and "at least 30" in narrow[0]["message"]
    assert "submit_upgrade" not in {i["name"].split(".")[1] for i in report["indicators"] if i["source"] == "event"}
    assert "Only" in capsys.readouterr().out
