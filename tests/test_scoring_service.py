"""The scoring service on SQLite and PostgreSQL: full and changed runs, history, dry runs, worker processes."""
from __future__ import annotations

from sqlalchemy import func, select

from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.scoring.results import stored_result
from tests.helpers import AS_OF, DAY


def seed(store, n: int = 30) -> None:
    messages = []
    for i in range(n):
        messages.append({"type": "identify", "userId": f"u{i}", "timestamp": AS_OF - 60 * DAY,
                         "traits": {"email": f"p{i}@acme{i % 3}.io", "title": "VP Data" if i % 2 else "Analyst",
                                    "region": "Europe"}, "context": {"groupId": f"w{i % 3}"}})
        messages.append({"type": "group", "userId": f"u{i}", "groupId": f"w{i % 3}",
                         "traits": {"industry": "Software", "employees": 120}})
        for k in range(i % 7):
            messages.append({"type": "track", "userId": f"u{i}", "event": "Invite Sent", "messageId": f"i{i}-{k}",
                             "timestamp": AS_OF - k * DAY})
    report = ingest_messages(store, messages, "test", received_at=AS_OF)
    assert not report.rejected


def count(store, table, model: str | None = "conversion") -> int:
    """Rows of a table; for results and history, of one model (the default rules hold several)."""
    query = select(func.count()).select_from(table)
    if model and "model" in table.c:
        query = query.where(table.c.model == model)
    with store.read() as conn:
        return conn.execute(query).scalar()


def test_full_then_unchanged_then_changed(store, default_rules):
    seed(store)
    first = score(store, default_rules, AS_OF, workers=1)
    assert first.models["conversion"].changed == 30 and count(store, schema.results) == 30
    assert count(store, schema.score_history) == 30
    again = score(store, default_rules, AS_OF, workers=1)
    assert again.models["conversion"].changed == 0 and count(store, schema.score_history) == 30
    ingest_messages(store, [{"type": "track", "userId": "u0", "event": event, "messageId": event,
                             "timestamp": AS_OF} for event in ("Upgrade Started", "Logged In")], "test",
                    received_at=AS_OF)
    changed = score(store, default_rules, AS_OF + 60, mode="changed", workers=1)
    assert changed.people == 1 and changed.models["conversion"].changed == 1
    with store.read() as conn:
        row = stored_result(conn, "conversion", 1)
    assert ["upgrade_started", "Started the upgrade flow", 20] in row["reasons"]
    assert count(store, schema.score_history) == 31


def test_dry_run_writes_nothing(store, default_rules):
    seed(store, 5)
    summary = score(store, default_rules, AS_OF, dry_run=True, workers=1)
    assert summary.models["conversion"].changed == 5 and count(store, schema.results) == 0


def test_worker_processes_give_the_same_results(sqlite_store, tmp_path, default_rules):
    from crm_app.store import Store
    seed(sqlite_store, 40)
    score(sqlite_store, default_rules, AS_OF, workers=1, chunk=7)
    other = Store(f"sqlite:///{tmp_path}/other.db")
    seed(other, 40)
    score(other, default_rules, AS_OF, workers=2, chunk=7)
    with sqlite_store.read() as a, other.read() as b:
        query = select(schema.results.c.subject_id, schema.results.c.digest).order_by(schema.results.c.subject_id)
        assert a.execute(query).all() == b.execute(query).all()
    other.dispose()


def test_population_limits_who_a_model_scores(store):
    from tests.helpers import model_from_yaml
    from crm_app.specs.rules import RuleSet
    customers_only = model_from_yaml("""
        model: health
        stage: health
        population: {field: plan, in: [business, enterprise]}
        behaviour: [{id: base, label: Base, points: 50, when: {field: external_id, exists: true}}]
    """)
    ruleset = RuleSet(models=(customers_only,), hash="t")
    ingest_messages(store, [{"type": "identify", "userId": u, "traits": {"plan": plan}, "timestamp": AS_OF}
                            for u, plan in (("a", "business"), ("b", "trial"))], "test", received_at=AS_OF)
    summary = score(store, ruleset, AS_OF, workers=1)
    assert summary.models["health"].scored == 1 and count(store, schema.results, "health") == 1
    ingest_messages(store, [{"type": "identify", "userId": "a", "traits": {"plan": "trial"}, "timestamp": AS_OF}],
                    "test", received_at=AS_OF)
    score(store, ruleset, AS_OF + 60, mode="changed", workers=1)
    assert count(store, schema.results, "health") == 0  # a customer who went back to trial leaves the model
