"""The demo's epilogue: a brand-new trial signup, after the lifecycle models were trained, gets a propensity score
from one cycle of the worker's `score_changed` job (the stored model, no retraining)."""
from __future__ import annotations

import time

from sqlalchemy import select

from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.scoring.explain import find_person
from crm_app.store import schema
from crm_app.store.scoring.results import stored_result

HOUR = 3600
NEW_USER = "u-new-signup"
# (event, count, hours ago from, to, properties): a day and a half in, two logins and a first feature
_FIRST_DAYS = (("Signed Up", 1, 40, 40, None), ("Logged In", 2, 0, 36, None), ("Feature Used", 1, 1, 30, "feature"))


def signup_messages(store, now: int) -> list[dict]:
    """Segment messages of a new signup at a trial account of an ICP industry, all before `now`."""
    a = schema.accounts
    with store.read() as conn:
        account = next((row for row in conn.execute(select(a.c.external_id, a.c.domain, a.c.attributes)
                                                    .order_by(a.c.id))
                        if (row.attributes or {}).get("plan") == "trial"
                        and (row.attributes or {}).get("industry") == "Software"), None)
    context = {"groupId": account.external_id} if account else {}
    traits = {"email": f"nadia.newcomer@{account.domain if account else 'example.com'}", "name": "Nadia Newcomer",
              "title": "VP Engineering", "job_function": "Engineering", "region": "Europe", "plan": "trial"}
    out = [{"type": "identify", "userId": NEW_USER, "traits": traits, "messageId": f"identify-{NEW_USER}",
            "timestamp": now - 40 * HOUR, "context": context}]
    features = ("reports", "dashboards", "alerts", "sharing")
    for name, count, newest, oldest, props in _FIRST_DAYS:
        for k in range(count):
            ts = now - (oldest - (oldest - newest) * k // max(1, count - 1)) * HOUR
            properties = {"feature": features[k % len(features)]} if props == "feature" else dict(props or {})
            out.append({"type": "track", "userId": NEW_USER, "event": name, "timestamp": ts, "context": context,
                        "messageId": f"{NEW_USER}-{name}-{k}", "properties": properties})
    return out


def score_new_signup(config, store, specs, now: int, out=print) -> dict | None:
    """Ingest a new signup, run one `score_changed` cycle as the worker does, print its propensity scores and
    their top reasons. None when no lifecycle model is live (nothing was trained)."""
    from crm_app.services.admin.rule_reload import RuleHolder
    from crm_app.services.ops.jobs import JOBS_BY_NAME, JobContext, run_job
    from crm_app.store.lifecycle import live_versions
    with store.read() as conn:
        live = live_versions(conn)
    person_models = [m.name for m in specs.lifecycle if m.subject == "person" and m.name in live]
    if not person_models:
        return None
    report = ingest_messages(store, signup_messages(store, now), "demo", received_at=now)
    started = time.perf_counter()
    worker = JobContext(store, config, RuleHolder(store, config.spec_dirs), env={"SCORE_WORKERS": "1"})
    ran = run_job(worker, JOBS_BY_NAME["score_changed"])
    seconds = time.perf_counter() - started
    person_id = find_person(store, NEW_USER)
    with store.read() as conn:
        scores = {name: stored_result(conn, name, person_id) for name in person_models}
    out(f"\nNew signup {NEW_USER}: {report.accepted} messages through ingest after training, then one cycle of "
        f"the worker's score_changed job ({ran['outcome']}, {seconds:.1f}s, no retraining):")
    for name, result in scores.items():
        if result is None:
            out(f"  {name}: no propensity score (not in the model's population)")
            continue
        reasons = "; ".join(f"{text} ({points:+d})" for _, text, points, *_ in (result["reasons"] or [])[:3])
        out(f"  {name} propensity {result['combined']}/100 (band {result['band']}), live version "
            f"v{live[name]}; top reasons: {reasons or 'none'}")
    return {"person_id": person_id, "outcome": ran["outcome"], "scores": scores}
