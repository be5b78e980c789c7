"""Impact of an edited rule file before it is applied: both rule sets evaluated on the same sample of people."""
from __future__ import annotations

from crm_app.engine import evaluate
from crm_app.services.admin import impact_plan
from crm_app.engine.plan import feature_plan, metric_names, score_inputs, score_key
from crm_app.services.scoring.people import ordered_models
from crm_app.specs.rules import RuleSet
from crm_app.store import Store
from crm_app.store import people as people_store
from crm_app.store.scoring.features import compute_features

SAMPLE = 5000
LISTED = 50  # people listed per model among those who change band or PQL status


def evaluate_sample(conn, ruleset: RuleSet, as_of: int, lo: int, hi: int) -> dict:
    """(model, person id) -> ScoreResult for people with ids lo..hi, exactly as scoring computes them."""
    models = ordered_models(ruleset)
    records = people_store.flat_records(conn, lo, hi)
    features = compute_features(conn, feature_plan(models), metric_names(models), score_inputs(models), as_of, lo, hi)
    out = {}
    for model in models:
        for pid, record in records.items():
            feats = features.setdefault(pid, {})
            result = evaluate(model, record, feats, as_of, None)
            feats[score_key(model.name)] = result.combined
            out[(model.name, pid)] = result
    return out


def compare_rule_sets(store: Store, current: RuleSet, candidate: RuleSet, as_of: int, sample: int = SAMPLE,
                      engine: str = "auto") -> dict:
    """model -> what the candidate changes on the first `sample` people: bands, PQLs, average score, rules fired.

    engine: 'duckdb' (or 'auto') evaluates on the set-wise plan (impact_plan), 'store' per person; a copy held
    by another process falls back to per person."""
    with store.read() as conn:
        lo, hi = people_store.person_id_bounds(conn)
    hi = min(hi, lo + sample - 1)
    both = impact_plan.evaluate_samples(store, [current, candidate], as_of, lo, hi) \
        if impact_plan.use_plan(store, engine) else None
    if both is None:
        with store.read() as conn:
            both = [evaluate_sample(conn, current, as_of, lo, hi), evaluate_sample(conn, candidate, as_of, lo, hi)]
    before, after = both
    report: dict = {}
    for (model, pid), new in after.items():
        old = before.get((model, pid))
        m = report.setdefault(model, {"people": 0, "band_changes": 0, "become_pql": 0, "stop_pql": 0,
                                      "delta_sum": 0, "new_model": old is None, "fired": {}, "changes": []})
        m["people"] += 1
        for reason in new.reasons:
            m["fired"][reason.rule] = m["fired"].get(reason.rule, 0) + 1
        if old is None:
            continue
        m["band_changes"] += old.band != new.band
        m["become_pql"] += new.pql and not old.pql
        m["stop_pql"] += old.pql and not new.pql
        m["delta_sum"] += new.combined - old.combined
        if (old.band != new.band or old.pql != new.pql) and len(m["changes"]) < LISTED:
            m["changes"].append({"person_id": pid, "before": (old.combined, old.band, old.pql),
                                 "after": (new.combined, new.band, new.pql)})
    _name_people(store, [c for m in report.values() for c in m["changes"]])
    for m in report.values():
        m["average_delta"] = m.pop("delta_sum") / m["people"] if m["people"] else 0.0
    return report


def _name_people(store: Store, changes: list[dict]) -> None:
    """Give each listed change the person's email (or user id), in one query."""
    from sqlalchemy import select
    from crm_app.store import schema
    p = schema.people
    ids = sorted({c["person_id"] for c in changes})
    if not ids:
        return
    with store.read() as conn:
        names = {row.id: row.email or row.external_id
                 for row in conn.execute(select(p.c.id, p.c.email, p.c.external_id).where(p.c.id.in_(ids)))}
    for change in changes:
        change["who"] = names.get(change["person_id"], str(change["person_id"]))
