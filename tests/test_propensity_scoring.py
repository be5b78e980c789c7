"""Lifecycle models score in the scoring loop with their stored version: a new signup gets a propensity score
within one `changed` run and no retraining, the daily full run scores everyone, hybrid rules read this run's
score, and a stored model that is not ours is refused before anything in it runs."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from sqlalchemy import func, select, update

from crm_app.errors import ErrorCollector
from crm_app.models import artifact
from crm_app.models.dataset import to_matrix
from crm_app.models.propensity import layout_columns
from crm_app.services.lifecycle import training_data as data
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.lifecycle.training import train
from crm_app.services.scoring.run import score
from crm_app.specs.lifecycle import parse_lifecycle
from crm_app.specs.rules import RuleSet
from crm_app.specs.yamlsource import parse_yaml
from crm_app.store import events as event_store
from crm_app.store import people as people_store
from crm_app.store import schema
from crm_app.store.lifecycle import lifecycle_models
from tests.helpers import AS_OF, DAY, model_from_yaml

SPEC = """
model: lead_conversion
stage: conversion
goal: {field: plan, equals: paid}
algorithm: logistic
min_positives: 20
"""
HYBRID = """
model: hybrid
fit:
  - {id: likely, label: Likely to convert, points: 60, when: {score: lead_conversion, at_least: 50}}
pql: {threshold: 50}
"""
NO_RULES = RuleSet(models=(), hash="none")


def lifecycle_spec(text: str = SPEC):
    errors = ErrorCollector()
    spec = parse_lifecycle(parse_yaml(textwrap.dedent(text), "lifecycle/lead.yaml", errors), "lifecycle/lead.yaml",
                           errors, {})
    assert not errors, errors.sorted()
    return spec


def seed_history(store, n: int = 400, seed: int = 7) -> None:
    """People whose invites and company size make paying likelier; events strictly before AS_OF."""
    rng = np.random.default_rng(seed)
    people, events = [], []
    for i in range(n):
        invites = int(rng.poisson(3.0))
        size = float(rng.lognormal(3, 1))
        source = str(rng.choice(["ads", "referral", "organic"]))
        logit = -2.0 + 0.7 * invites + 0.6 * (source == "referral")
        paid = rng.random() < 1 / (1 + np.exp(-logit))
        people.append({"external_id": f"p{i}", "created_at": AS_OF - 80 * DAY,
                       "attributes": {"plan": "paid" if paid else "trial", "size": size, "source": source}})
        events += [(f"p{i}", "Invite Sent", AS_OF - int(rng.integers(1, 60)) * DAY - k) for k in range(invites)]
        events += [(f"p{i}", "Login", AS_OF - int(rng.integers(1, 60)) * DAY - k) for k in range(3)]
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, people)
        types = event_store.event_type_ids(conn, ["Invite Sent", "Login"])
        event_store.insert_events(conn, [
            {"message_id": f"{p}-{k}-{ts}", "person_id": ids[p], "anonymous_id": None, "type_id": types[n.lower()],
             "ts": ts, "properties": {}, "received_at": ts} for k, (p, n, ts) in enumerate(events)])
    with store.begin() as conn:
        conn.execute(schema.dirty.delete())


def signup(store, user: str, invites: int, when: int) -> None:
    messages = [{"type": "identify", "userId": user, "timestamp": when, "messageId": f"{user}-id",
                 "traits": {"email": f"{user}@example.com", "plan": "trial", "source": "referral", "size": 20}}]
    messages += [{"type": "track", "userId": user, "event": "Invite Sent", "timestamp": when + k,
                  "messageId": f"{user}-inv-{k}"} for k in range(invites)]
    report = ingest_messages(store, messages, "test", received_at=when)
    assert not report.rejected


def result_of(store, model: str, external_id: str) -> dict | None:
    r, p = schema.results, schema.people
    with store.read() as conn:
        row = conn.execute(select(r).join(p, p.c.id == r.c.subject_id)
                           .where(r.c.model == model, p.c.external_id == external_id)).first()
    return dict(row._mapping) if row else None


def versions(store) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(lifecycle_models)).scalar()


@pytest.fixture
def trained(store):
    seed_history(store)
    spec = lifecycle_spec()
    report = train(store, spec, AS_OF)
    assert report["status"] == "trained", report.get("advice")
    return store, spec


def test_a_new_signup_is_scored_in_one_changed_run_without_retraining(trained):
    store, spec = trained
    signup(store, "eager", invites=9, when=AS_OF + 3600)
    signup(store, "quiet", invites=0, when=AS_OF + 3600)
    before = versions(store)
    summary = score(store, NO_RULES, AS_OF + 7200, mode="changed", lifecycle=(spec,), workers=1)
    assert summary.people == 2 and summary.propensity == {"lead_conversion": "lead_conversion@v1"}
    eager, quiet = result_of(store, "lead_conversion", "eager"), result_of(store, "lead_conversion", "quiet")
    assert versions(store) == before
    assert 1 <= quiet["combined"] < eager["combined"] <= 100
    assert eager["rules_hash"] == "lead_conversion@v1" and eager["as_of"] == AS_OF + 7200
    # The reasons name the indicators that moved this score, with their values and signed points.
    top = eager["reasons"][0]
    assert top[0] == "events.invite_sent.count_all" or top[0].startswith("events.invite_sent."), eager["reasons"]
    assert top[2] > 0 and "invite sent" in top[1]
    with store.read() as conn:
        history = conn.execute(select(func.count()).select_from(schema.score_history)
                               .where(schema.score_history.c.as_of == AS_OF + 7200)).scalar()
    assert history == 2


def test_the_stored_model_gives_the_same_scores_as_the_fitted_one(trained):
    """The loop's scores are the stored model's own predictions, ranked against its training population."""
    store, spec = trained
    with store.read() as conn:
        blob = conn.execute(select(lifecycle_models.c.artifact)).scalar()
    fitted = artifact.load(blob)
    summary = score(store, NO_RULES, AS_OF, mode="full", lifecycle=(spec,), workers=1)
    assert summary.models["lead_conversion"].scored > 100
    snap = data.snapshot(store, spec, AS_OF, list(fitted.inputs["events"]), [])
    ids = sorted(i for i, r in snap.records.items() if r.get("plan") != "paid")
    matrix, _ = to_matrix(layout_columns(fitted, ids, snap.records, snap.features, AS_OF), fitted.categories)
    expected = fitted.scores(fitted.predict(matrix))
    r = schema.results
    with store.read() as conn:
        stored = dict(conn.execute(select(r.c.subject_id, r.c.combined).where(r.c.model == "lead_conversion")).all())
    assert stored == dict(zip(ids, expected.tolist()))


def test_the_full_run_scores_everyone_not_at_the_goal_and_drops_who_reached_it(trained):
    store, spec = trained
    score(store, NO_RULES, AS_OF, mode="full", lifecycle=(spec,), workers=1)
    target = next(i for i in range(400) if result_of(store, "lead_conversion", f"p{i}"))
    with store.begin() as conn:
        people_store.upsert_people(conn, [{"external_id": f"p{target}", "attributes": {"plan": "paid"}}])
    summary = score(store, NO_RULES, AS_OF + DAY, mode="changed", lifecycle=(spec,), workers=1)
    assert summary.people == 1 and result_of(store, "lead_conversion", f"p{target}") is None


def test_a_hybrid_rule_reads_the_score_of_this_run(trained):
    store, spec = trained
    signup(store, "eager", invites=12, when=AS_OF + 3600)
    rules = RuleSet(models=(model_from_yaml(HYBRID),), hash="hybrid")
    score(store, rules, AS_OF + 7200, mode="changed", lifecycle=(spec,), workers=1)
    assert result_of(store, "lead_conversion", "eager")["combined"] >= 50
    assert result_of(store, "hybrid", "eager")["fit"] == 60


def test_a_foreign_artifact_is_refused_and_the_run_goes_on(trained, tmp_path):
    store, spec = trained
    marker = tmp_path / "owned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle
    with store.begin() as conn:
        conn.execute(update(lifecycle_models).values(artifact=pickle.dumps(Exploit())))
    signup(store, "eager", invites=9, when=AS_OF + 3600)
    rules = RuleSet(models=(model_from_yaml(HYBRID),), hash="hybrid")
    summary = score(store, rules, AS_OF + 7200, mode="changed", lifecycle=(spec,), workers=1)
    assert not marker.exists()
    assert "not a skops file" in summary.refused["lead_conversion"]
    assert result_of(store, "lead_conversion", "eager") is None
    assert result_of(store, "hybrid", "eager") is not None  # the rule models still scored


def test_the_score_command_scores_propensity_models(tmp_path, monkeypatch, capsys):
    from crm_app.cli import main
    from crm_app.store import Store
    (tmp_path / "lifecycle").mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "lifecycle" / "lead.yaml").write_text(textwrap.dedent(SPEC))
    (tmp_path / "rules" / "hybrid.yaml").write_text(textwrap.dedent(HYBRID))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SPECS_ROOT", str(tmp_path))
    store = Store(url)
    seed_history(store)
    iso = "2026-09-21T14:13:20Z"  # AS_OF
    assert main(["train", "--as-of", iso, "--quiet"]) == 0
    signup(store, "eager", invites=9, when=AS_OF + 3600)
    capsys.readouterr()
    assert main(["score", "--changed", "--as-of", "2026-09-21T16:13:20Z"]) == 0
    out = capsys.readouterr().out
    assert "lead_conversion (propensity model lead_conversion@v1): 1 changed" in out
    assert result_of(store, "lead_conversion", "eager")["rules_hash"] == "lead_conversion@v1"


def test_the_worker_jobs_score_propensity_models(trained, tmp_path):
    """score_changed scores a signup with the live version; full_rescore reaches everyone."""
    from crm_app.config import Config
    from crm_app.services.admin.rule_reload import RuleHolder
    from crm_app.services.ops.jobs import JOBS_BY_NAME, JobContext, run_job
    store, _ = trained
    (tmp_path / "lifecycle").mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "lifecycle" / "lead.yaml").write_text(textwrap.dedent(SPEC))
    (tmp_path / "rules" / "hybrid.yaml").write_text(textwrap.dedent(HYBRID))
    config = Config.from_env({}, specs_root=str(tmp_path))
    ctx = JobContext(store, config, RuleHolder(store, config.spec_dirs), env={"SCORE_WORKERS": "1"})
    assert run_job(ctx, JOBS_BY_NAME["reload_rules"])["outcome"] == "ok"
    signup(store, "eager", invites=9, when=AS_OF + 3600)
    run = run_job(ctx, JOBS_BY_NAME["score_changed"])
    assert run["outcome"] == "ok", run["error"]
    assert run["detail"]["changed"]["lead_conversion"] == 1
    assert result_of(store, "lead_conversion", "eager")["rules_hash"] == "lead_conversion@v1"
    run = run_job(ctx, JOBS_BY_NAME["full_rescore"])
    assert run["outcome"] == "ok", run["error"]
    r = schema.results
    with store.read() as conn:
        scored = conn.execute(select(func.count()).where(r.c.model == "lead_conversion")).scalar()
        waiting = conn.execute(select(func.count()).select_from(schema.people)
                               .where(schema.people.c.attributes["plan"].as_string() != "paid")).scalar()
    assert scored == waiting
