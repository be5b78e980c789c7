"""Account propensity models (subject: account): trained on account fields and the rollups of the people's
rule-model results, scored in the account stage of every scoring run."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from crm_app.services.lifecycle.training import TrainingError, train
from crm_app.services.scoring.run import score
from crm_app.specs.rules import RuleSet
from crm_app.store import people as people_store
from crm_app.store import schema
from tests.helpers import AS_OF, DAY, model_from_yaml
from tests.test_account_scores import PERSON, add_events
from tests.test_propensity_scoring import lifecycle_spec

ACCOUNT_SPEC = """
model: account_upgrade
stage: expansion
subject: account
goal: {field: plan, equals: paid}
algorithm: logistic
min_positives: 20
"""
RULES = RuleSet(models=(model_from_yaml(PERSON),), hash="acct-prop")


def seed_accounts(store, n: int = 240, seed: int = 5) -> dict:
    """Accounts whose active people and size make paying likelier; events strictly before AS_OF."""
    rng = np.random.default_rng(seed)
    accounts, people, events = [], [], []
    for a in range(n):
        users = int(rng.integers(1, 6))
        active = int(rng.integers(0, users + 1))
        employees = float(rng.lognormal(4, 1))
        logit = -2.5 + 1.1 * active + 0.3 * np.log(employees)
        plan = "paid" if rng.random() < 1 / (1 + np.exp(-logit)) else "free"
        accounts.append({"external_id": f"A{a}", "attributes": {"plan": plan, "employees": employees}})
        for u in range(users):
            people.append((f"a{a}u{u}", f"A{a}"))
            if u < active:
                events += [(f"a{a}u{u}", "Login", AS_OF - DAY), (f"a{a}u{u}", "Report", AS_OF - 2 * DAY)]
    with store.begin() as conn:
        ids = people_store.upsert_accounts(conn, accounts)
        pids = people_store.upsert_people(conn, [{"external_id": p, "account_id": ids[a],
                                                   "created_at": AS_OF - 60 * DAY} for p, a in people])
    add_events(store, pids, events)
    return ids


def account_result(store, model: str, external_id: str) -> dict | None:
    r, a = schema.results, schema.accounts
    with store.read() as conn:
        row = conn.execute(select(r).join(a, a.c.id == r.c.subject_id)
                           .where(r.c.model == model, a.c.external_id == external_id)).first()
    return dict(row._mapping) if row else None


def test_an_account_model_trains_on_rollups_and_scores_in_the_account_stage(store):
    ids = seed_accounts(store)
    score(store, RULES, AS_OF, workers=1)  # person results: the rollups the account model learns from
    spec = lifecycle_spec(ACCOUNT_SPEC)
    report = train(store, spec, AS_OF, person_models=("conversion",))
    assert report["status"] == "trained" and report["subject"] == "account"
    ranked = [i["name"] for i in report["indicators"]]
    assert ranked[0].startswith("people.conversion.") and "employees" in ranked
    summary = score(store, RULES, AS_OF + 3600, workers=1, lifecycle=(spec,))
    free = [ext for ext in ids if account_result(store, "account_upgrade", ext)]
    assert summary.accounts.changed["account_upgrade"] == len(free) > 50
    assert all(account_result(store, "account_upgrade", ext)["rules_hash"] == "account_upgrade@v1" for ext in free)
    # A new account with four active people arrives: the changed run scores it, high.
    with store.begin() as conn:
        new = people_store.upsert_accounts(conn, [{"external_id": "NEW", "attributes": {"plan": "free",
                                                                                          "employees": 300}}])
        pids = people_store.upsert_people(conn, [{"external_id": f"new{u}", "account_id": new["NEW"],
                                                   "created_at": AS_OF} for u in range(4)])
    add_events(store, pids, [(f"new{u}", n, AS_OF + 3600) for u in range(4) for n in ("Login", "Report")])
    with store.begin() as conn:
        people_store.mark_dirty(conn, list(pids.values()))
    score(store, RULES, AS_OF + 7200, mode="changed", workers=1, lifecycle=(spec,))
    result = account_result(store, "account_upgrade", "NEW")
    assert result is not None and result["combined"] >= 75 and result["reasons"]


@pytest.mark.parametrize("extra, message", [
    ("horizon: 30d\n", "snapshot mode only"),
    ("filter: {event: Login, within: 30d, count: {at_least: 1}}\n", "read account fields"),
])
def test_what_an_account_model_cannot_do_is_said_before_any_work(sqlite_store, extra, message):
    with pytest.raises(TrainingError, match=message):
        train(sqlite_store, lifecycle_spec(ACCOUNT_SPEC + extra), AS_OF)
