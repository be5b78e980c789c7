"""The demo's last act: identity resolution, the shipped lifecycle models trained on the demo's history, and a
backtest of the PQL rules against their goal, with its lift. After it every dashboard page has content."""
from __future__ import annotations

from sqlalchemy import func, select

from crm_app.services.identity.resolve import resolve_identities
from crm_app.services.lifecycle import backtest
from crm_app.services.lifecycle.training import TrainingError, train
from crm_app.store import schema

DAY = 86400
# The demo's conversions (Upgrade Started) happen in its last days: as-of dates from five weeks to one week back,
# two weeks apart, each with a two-week window, see them. Three dates keep the demo quick.
BACKTEST_FROM_DAYS, BACKTEST_TO_DAYS, BACKTEST_WINDOW_DAYS, BACKTEST_STEP_DAYS = 35, 7, 14, 14


def tell_the_rest(store, specs, now: int, out=print) -> dict:
    """Resolve identities, train every lifecycle model, backtest the first PQL model; print a line each."""
    told: dict = {}
    report = resolve_identities(store)
    told["identity"] = report
    out(f"\nIdentity: {report.linked_people} of {report.people} product users linked to {report.crm_people} CRM "
        f"people (" + (", ".join(f"{m} {n}" for m, n in sorted(report.links.items())) or "none") + ").")
    told["trained"] = {}
    for model in specs.lifecycle:
        try:
            trained = train(store, model, now)
        except TrainingError as exc:
            out(f"Lifecycle model {model.name}: not trained ({exc}).")
            continue
        if trained["status"] == "trained":
            told["trained"][model.name] = trained
        metrics = trained.get("metrics") or {}
        auc = f", cross-validated ROC AUC {metrics['roc_auc']:.2f}" if metrics.get("roc_auc") is not None else ""
        out(f"Lifecycle model {model.name} ({model.label}): {trained['status']}, {trained['positives']} reached "
            f"the goal of {trained['positives'] + trained['negatives']}{auc}; scored {trained.get('scored', 0)} "
            "people.")
    rule_model = next((m for m in specs.rules.models if m.subject == "person" and m.pql is not None), None)
    if rule_model is not None:
        told["ready_accounts"] = _accounts_with_several_pqls(store, rule_model.name)
        if told["ready_accounts"]:
            name, n = told["ready_accounts"][0]
            out(f"Accounts with several ready users: {len(told['ready_accounts'])}; the most, {name}, has {n} PQLs "
                "(the account model rolls them up).")
    goal = next((g for g in specs.lifecycle if rule_model and g.stage == rule_model.stage), None)
    if rule_model is None or goal is None:
        out("Backtest: skipped (no PQL model with a lifecycle goal of its stage under lifecycle/).")
        return told
    result = backtest.run(store, [rule_model], goal, now - BACKTEST_FROM_DAYS * DAY, now - BACKTEST_TO_DAYS * DAY,
                          BACKTEST_WINDOW_DAYS * DAY, BACKTEST_STEP_DAYS * DAY)
    told["backtest"] = result
    figures = result["results"][rule_model.name]
    t = figures["threshold"]
    lift = "n/a (no non-PQL converted)" if t["lift"] is None else f"{t['lift']:.1f}x"
    out(f"Backtest of {rule_model.name} against '{goal.name}' ({figures['samples']} samples over "
        f"{figures['dates']} dates): PQLs at {t['threshold']:g} converted {100 * (t['pql_conversion'] or 0):.1f}% "
        f"vs non-PQLs {100 * (t['non_pql_conversion'] or 0):.1f}%, lift {lift}.")
    return told


def _accounts_with_several_pqls(store, model: str) -> list[tuple[str, int]]:
    """(account name, PQL users) of every account with two or more PQL users, most first."""
    p, r, a = schema.people, schema.results, schema.accounts
    query = (select(func.coalesce(a.c.name, a.c.external_id), func.count())
             .select_from(p.join(r, (r.c.subject_id == p.c.id) & (r.c.model == model))
                          .join(a, a.c.id == p.c.account_id))
             .where(r.c.pql.is_(True)).group_by(a.c.id, a.c.name, a.c.external_id).having(func.count() >= 2)
             .order_by(func.count().desc(), a.c.external_id))
    with store.read() as conn:
        return [(name, n) for name, n in conn.execute(query)]


def customer_table(store, personas: dict) -> str:
    """How each customer persona scored on health and upsell, and which segment (the first that holds) they are in."""
    from crm_app.services.ops.demo_customers import CUSTOMER_PERSONAS
    p, r = schema.people, schema.results
    u = r.alias("upsell")
    with store.read() as conn:
        rows = conn.execute(select(p.c.external_id, r.c.combined, r.c.segment, u.c.combined)
                            .join(r, (r.c.subject_id == p.c.id) & (r.c.model == "health"))
                            .outerjoin(u, (u.c.subject_id == p.c.id) & (u.c.model == "upsell"))).all()
    stats: dict = {}
    for external_id, health, segment, upsell in rows:
        s = stats.setdefault(personas.get(external_id, "?"), {"n": 0, "health": 0, "upsell": 0, "segments": {}})
        s["n"] += 1
        s["health"] += health or 0
        s["upsell"] += upsell or 0
        s["segments"][segment or "none"] = s["segments"].get(segment or "none", 0) + 1
    lines = ["\nCustomers by persona (health and upsell models; segments from rules/health.yaml):",
             f"  {'persona':<20}{'people':>7}{'health':>8}{'upsell':>8}  segments (expected most: …)"]
    for name, (_, _, expected) in CUSTOMER_PERSONAS.items():
        if name in stats:
            s = stats[name]
            segs = ", ".join(f"{k} {v}" for k, v in sorted(s["segments"].items(), key=lambda kv: -kv[1]))
            lines.append(f"  {name:<20}{s['n']:>7}{s['health'] / s['n']:>8.1f}{s['upsell'] / s['n']:>8.1f}  "
                         f"{segs} ({expected or 'none'})")
    return "\n".join(lines)
