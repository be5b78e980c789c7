"""Versions of lifecycle models: the live one, champion/challenger with a tolerance, scheduled retraining,
`models history` and `models rollback`."""
from __future__ import annotations

import pickle
import textwrap
import time

import numpy as np
import pytest
from sqlalchemy import insert, select, update

from crm_app.models.champion import decide
from crm_app.services.lifecycle import versions
from crm_app.services.lifecycle.schedule import due, retrain_due
from crm_app.services.lifecycle.training import train
from crm_app.services.scoring.run import score
from crm_app.store import lifecycle as lifecycle_store
from crm_app.store import people as people_store
from crm_app.store.lifecycle import lifecycle_models
from tests.helpers import AS_OF, DAY
from tests.test_propensity_scoring import HYBRID, NO_RULES, SPEC, lifecycle_spec, result_of, seed_history, signup

TIMED = {"roc_auc": 0.80, "time_aware": {"kind": "out_of_time", "roc_auc": 0.70}}


@pytest.mark.parametrize("champion, challenger, tolerance, promoted, measure", [
    (None, {"roc_auc": 0.6}, 0.01, True, None),
    (TIMED, None, 0.01, False, None),
    (TIMED, {"roc_auc": 0.90, "time_aware": {"kind": "out_of_time", "roc_auc": 0.68}}, 0.01, False, "out_of_time"),
    (TIMED, {"roc_auc": 0.60, "time_aware": {"kind": "out_of_time", "roc_auc": 0.695}}, 0.01, True, "out_of_time"),
    (TIMED, {"roc_auc": 0.60, "time_aware": {"kind": "out_of_time", "roc_auc": 0.65}}, 0.05, True, "out_of_time"),
    (TIMED, {"roc_auc": 0.79}, 0.0, False, "shuffled"),  # no time on one side: both judged by shuffled CV
    (TIMED, {"roc_auc": 0.80, "time_aware": {"kind": "rolling", "roc_auc": 0.1}}, 0.0, True, "shuffled"),
])
def test_a_challenger_replaces_the_champion_only_within_the_tolerance(champion, challenger, tolerance, promoted,
                                                                        measure):
    decision = decide(champion, challenger, tolerance, 3 if champion else None)
    assert decision["promoted"] is promoted
    if measure:
        assert decision["measure"].startswith(measure) and "v3" in decision["reason"]


@pytest.mark.parametrize("remeasured, promoted, note", [
    ({"champion": 0.52, "challenger": 0.66, "champion_saw": 0}, True, None),
    ({"champion": 0.71, "challenger": 0.66, "champion_saw": 12}, False, "v3 learned from 12 of these subjects"),
])
def test_a_remeasured_champion_is_judged_on_the_newest_period_not_its_stored_metric(remeasured, promoted, note):
    period = {"version": 3, "from": AS_OF - 10 * DAY, "to": AS_OF, "n": 300, **remeasured}
    decision = decide(TIMED, {"roc_auc": 0.5, "time_aware": {"kind": "out_of_time", "roc_auc": 0.5}}, 0.01, 3,
                      period)
    assert decision["promoted"] is promoted and decision["champion_value"] == remeasured["champion"]
    assert decision["measure"].startswith("ROC AUC on the newest period") and "300 subjects" in decision["measure"]
    assert (note in decision["reason"]) if note else "learned from" not in decision["reason"]


@pytest.fixture
def history(store):
    seed_history(store)
    return store


def live_version(store, name="lead_conversion"):
    with store.read() as conn:
        row = lifecycle_store.live_model(conn, name)
    return row and row["version"]


def test_a_weaker_challenger_stays_out_and_a_good_one_goes_live(history):
    store, spec = history, lifecycle_spec()
    assert train(store, spec, AS_OF)["decision"]["promoted"] and live_version(store) == 1
    weak = spec.with_exclude(["events.invite_sent", "events.any", "source", "size"])
    report = train(store, weak, AS_OF, challenge=True)
    assert report["decision"]["promoted"] is False and live_version(store) == 2 - 1
    assert "does not replace" in report["decision"]["reason"]
    score(store, NO_RULES, AS_OF, lifecycle=(spec,), workers=1)
    assert result_of(store, "lead_conversion", "p1")["rules_hash"] == "lead_conversion@v1"
    same = train(store, spec, AS_OF, challenge=True)
    assert same["decision"]["promoted"] and live_version(store) == 3
    rows = versions.history(store, "lead_conversion")
    assert [(r["version"], r["live"]) for r in rows] == [(3, True), (2, False), (1, False)]
    assert all(r["data_to"] == AS_OF and r["roc_auc"] for r in rows)


def test_scheduled_retraining_runs_when_the_cadence_has_passed(history):
    store = history
    spec = lifecycle_spec(SPEC + "retrain: 7d\n")
    now = int(time.time())
    assert due(store, [spec], now) == [spec]  # never trained
    assert retrain_due(store, [spec], now)["lead_conversion"]["promoted"] is True
    assert due(store, [spec], now + 6 * DAY) == []
    outcome = retrain_due(store, [spec], now + 8 * DAY)
    assert outcome["lead_conversion"]["version"] == 2 and "measure" in outcome["lead_conversion"]
    assert due(store, [lifecycle_spec()], now + 30 * DAY) == []  # no retrain: key, never scheduled


def test_rollback_restores_an_earlier_version_and_scoring_uses_it(history):
    store, spec = history, lifecycle_spec()
    train(store, spec, AS_OF)
    train(store, spec, AS_OF)
    assert versions.rollback(store, "lead_conversion") == (2, 1)
    signup(store, "eager", invites=9, when=AS_OF + 3600)
    score(store, NO_RULES, AS_OF + 7200, mode="changed", lifecycle=(spec,), workers=1)
    assert result_of(store, "lead_conversion", "eager")["rules_hash"] == "lead_conversion@v1"
    with pytest.raises(versions.RollbackError, match="no trained version before the live v1"):
        versions.rollback(store, "lead_conversion")
    with pytest.raises(versions.RollbackError, match="trained versions: v2, v1"):
        versions.rollback(store, "lead_conversion", 7)
    with store.begin() as conn:
        conn.execute(update(lifecycle_models).where(lifecycle_models.c.version == 2)
                     .values(artifact=pickle.dumps({"x": 1})))
    with pytest.raises(versions.RollbackError, match="not a skops file"):
        versions.rollback(store, "lead_conversion", 2)
    assert live_version(store) == 1


def test_migration_makes_the_newest_trained_version_live(store):
    """On a store from before legacy step 90: the column is added and each model's newest trained version is live."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import text

    from crm_app.store.migrations.frozen_service import step_90
    with store.begin() as conn:
        for version, status in ((1, "trained"), (2, "trained"), (3, "insufficient")):
            conn.execute(insert(lifecycle_models).values(name="m", version=version, status=status, trained_at=1,
                                                         live=None))
        conn.execute(text("ALTER TABLE lifecycle_models DROP COLUMN live"))
        step_90(Operations(MigrationContext.configure(conn)))
        live = conn.execute(select(lifecycle_models.c.version).where(lifecycle_models.c.live.is_(True))).all()
    assert live == [(2,)]


def test_history_and_rollback_commands(tmp_path, monkeypatch, capsys):
    from crm_app.cli import main
    from crm_app.store import Store
    (tmp_path / "lifecycle").mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "lifecycle" / "lead.yaml").write_text(textwrap.dedent(SPEC))
    (tmp_path / "rules" / "hybrid.yaml").write_text(textwrap.dedent(HYBRID))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("SPECS_ROOT", str(tmp_path))
    seed_history(Store(f"sqlite:///{tmp_path / 'store.db'}"))
    for _ in range(2):
        assert main(["train", "lead_conversion", "--as-of", "2026-09-21T14:13:20Z", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["models", "history", "lead_conversion"]) == 0
    out = capsys.readouterr().out
    assert "* v2" in out and "  v1" in out and "trained by command" in out and "data " in out
    assert main(["models", "rollback", "lead_conversion"]) == 0
    assert "v1 is live (was v2)" in capsys.readouterr().out
    assert main(["models", "rollback", "lead_conversion", "--to", "9"]) == 1
    assert "trained versions: v2, v1" in capsys.readouterr().err


def test_the_worker_retrains_on_schedule_and_a_new_live_version_wakes_the_full_rescore(history, tmp_path):
    from crm_app.config import Config
    from crm_app.services.admin.rule_reload import RuleHolder
    from crm_app.services.ops.jobs import JOBS_BY_NAME, JobContext, run_job
    store = history
    (tmp_path / "lifecycle").mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "lifecycle" / "lead.yaml").write_text(textwrap.dedent(SPEC))
    (tmp_path / "rules" / "hybrid.yaml").write_text(textwrap.dedent(HYBRID))
    config = Config.from_env({}, specs_root=str(tmp_path))
    woken = []
    ctx = JobContext(store, config, RuleHolder(store, config.spec_dirs), env={"SCORE_WORKERS": "1"},
                     wake=woken.append)
    assert run_job(ctx, JOBS_BY_NAME["reload_rules"])["outcome"] == "ok"
    assert run_job(ctx, JOBS_BY_NAME["retrain_models"])["outcome"] == "not_configured"
    (tmp_path / "lifecycle" / "lead.yaml").write_text(textwrap.dedent(SPEC) + "retrain: 7d\n")
    from crm_app.services.admin import versions as admin_versions  # files on disk reach a service once published
    assert admin_versions.publish(store, admin_versions.read_admin_files(tmp_path), "test", "retrain weekly",
                                  base=admin_versions.active_version(store)[0]).version
    assert run_job(ctx, JOBS_BY_NAME["reload_rules"])["outcome"] == "ok"
    run_job(ctx, JOBS_BY_NAME["score_changed"])  # remembers the live versions (none yet)
    run = run_job(ctx, JOBS_BY_NAME["retrain_models"])
    assert run["outcome"] == "ok" and run["detail"]["models"]["lead_conversion"]["promoted"] is True
    assert woken == ["full_rescore"]
    assert run_job(ctx, JOBS_BY_NAME["retrain_models"])["outcome"] == "idle"  # not due again yet
    versions.rollback(store, "lead_conversion", 1)  # no change: v1 is live; now another process trains v2
    train(store, lifecycle_spec(), AS_OF)
    run_job(ctx, JOBS_BY_NAME["score_changed"])
    assert woken == ["full_rescore", "full_rescore"]


def seed_drift(store, n: int = 1200, seed: int = 3) -> None:
    """Sign-ups over 100 days; in the first half paying follows x1, in the second half x3 (x1 then says nothing)."""
    rng = np.random.default_rng(seed)
    people = []
    for i in range(n):
        x1, x2, x3 = rng.normal(size=3)
        day = 100 * i / n
        logit = 2.5 * (x1 if day < 50 else x3)
        paid = rng.random() < 1 / (1 + np.exp(-logit))
        people.append({"external_id": f"d{i}", "created_at": int(AS_OF - (100 - day) * DAY),
                       "attributes": {"plan": "paid" if paid else "trial", "x1": float(x1), "x2": float(x2),
                                      "x3": float(x3)}})
    with store.begin() as conn:
        people_store.upsert_people(conn, people)


def test_the_champion_is_measured_again_on_the_challengers_newest_period(store):
    """A champion from before a drift keeps a high stored out-of-time ROC AUC from its own window; on the
    challenger's newest period it is no better than chance, so the challenger goes live."""
    seed_drift(store)
    spec = lifecycle_spec()
    champion = train(store, spec, AS_OF, window=(AS_OF - 100 * DAY, AS_OF - 50 * DAY))
    assert champion["metrics"]["time_aware"]["roc_auc"] >= 0.75
    challenger = train(store, spec, AS_OF, challenge=True)
    newest = challenger["metrics"]["time_aware"]["periods"][-1]
    decision = challenger["decision"]
    assert decision["promoted"] is True and live_version(store) == 2, decision
    assert decision["challenger_value"] == newest["roc_auc"] and decision["champion_value"] < 0.6
    assert (decision["period"]["from"], decision["period"]["to"], decision["period"]["n"]) == \
        (newest["from"], newest["to"], newest["n"])
    assert "newest period" in decision["measure"] and "v1" in decision["reason"]
    # The stored metric alone would have kept the champion.
    assert champion["metrics"]["time_aware"]["roc_auc"] > newest["roc_auc"] + spec.tolerance
