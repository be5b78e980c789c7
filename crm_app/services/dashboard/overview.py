"""What the dashboard pages show, composed from the store, the rule set and the engine's explanations."""
from __future__ import annotations

import time

from crm_app.services.scoring.explain import explain_person
from crm_app.services.scoring.explain_stored import differences
from crm_app.services.dashboard.score_cube import cube, per_run
from crm_app.services.dashboard.trends import trends  # noqa: F401 - the web layer's vocabulary
from crm_app.specs.rules import RuleSet
from crm_app.store import Store
from crm_app.store.dashboard import queries
from crm_app.store.dashboard.queries import SORTS, PeopleQuery  # noqa: F401 - the web layer's vocabulary
from crm_app.store.scoring.results import history_for, last_run, stored_result

WEEK = 7 * 86400
BANDS = ("high", "medium", "low")


def person_models(ruleset: RuleSet) -> list:
    return [m for m in ruleset.models if m.subject == "person"]


def overview(store: Store, ruleset: RuleSet, model_name: str, now: int, playbooks: tuple = ()) -> dict:
    """Histogram, counts per band, PQLs and new PQLs this week per rep, for one model (owners as the person's
    owner field or as `playbooks` assigned them)."""
    model = next(m for m in ruleset.models if m.name == model_name)
    summary = cube(store, model_name)
    week_start = (now - WEEK) // 3600 * 3600  # hour-aligned, so one cached answer serves a whole hour
    new_by_owner = per_run(store, f"new-pqls:{model_name}:{week_start}",
                           lambda: _new_pqls(store, model_name, week_start, playbooks))
    with store.read() as conn:
        run = last_run(conn)
    bands = {b: summary.count(band=b) for b in BANDS}
    return {"model": model, "bands": bands, "scored": summary.people, "pqls": summary.count(pql=True),
            "per_score": summary.by_score(),
            "new_by_owner": new_by_owner, "new_this_week": sum(n for _, n in new_by_owner), "last_run": run,
            }


def person_detail(store: Store, ruleset: RuleSet, person_id: int, now: int) -> dict | None:
    """One person: record and account, each model's fresh explanation, the stored result, history, events."""
    with store.read() as conn:
        person = queries.person_with_account(conn, person_id)
        if person is None:
            return None
        events = queries.recent_events(conn, person_id)
        stored = {m.name: stored_result(conn, m.name, person_id) for m in person_models(ruleset)}
        history = {m.name: history_for(conn, m.name, person_id) for m in person_models(ruleset)}
        actions, feedback = queries.person_actions(conn, person_id)
        records = queries.crm_records(conn, person_id)
    explained = [{"model": model, "result": result, "stored": stored.get(model.name),
                  "differences": differences(stored.get(model.name), result) if stored.get(model.name) else [],
                  "history": history.get(model.name, [])}
                 for model, _record, result in explain_person(store, ruleset, person_id, now)]
    return {"person": person, "explained": explained, "events": events, "actions": actions, "feedback": feedback,
            "crm_records": records}


def people_page(store: Store, query: queries.PeopleQuery, now: int | None = None) -> dict:
    """One page of the people list, the cursors around it, and how many match."""
    started = time.perf_counter()
    with store.read() as conn:
        rows = queries.people_page(conn, query)
        week_ago = queries.scores_at(conn, query.model, [r["subject_id"] for r in rows],
                                     (now if now is not None else int(time.time())) - WEEK)
    rows = [with_display_columns(row, week_ago) for row in rows]
    total = _total(store, query)
    size = max(1, min(query.size, queries.PAGE_MAX))
    backwards = query.before is not None
    more = len(rows) > size
    if more:
        rows = rows[1:] if backwards else rows[:size]
    column = queries.SORTS[query.sort]
    cursor = lambda row: f"{row[column]}:{row['subject_id']}"  # noqa: E731
    has_next = more if not backwards else True
    has_prev = (query.after is not None) if not backwards else more
    return {"rows": rows, "total": total, "ms": (time.perf_counter() - started) * 1000,
            "next": cursor(rows[-1]) if rows and has_next else None,
            "prev": cursor(rows[0]) if rows and has_prev else None}


def with_display_columns(row: dict, week_ago: dict) -> dict:
    """A people row with its name, company, owner and change since last week (None: not scored a week ago)."""
    attributes = row.get("attributes") or {}
    name = " ".join(str(attributes[k]) for k in ("first_name", "last_name") if attributes.get(k)) \
        or attributes.get("name") or None
    before = week_ago.get(row["subject_id"])
    return {**row, "name": name, "company": row.get("account") or attributes.get("company"),
            "owner": attributes.get("owner"), "change": None if before is None else row["combined"] - before}


def _total(store: Store, query: queries.PeopleQuery) -> int:
    """How many match: from the per-run population summary when it answers it, else counted."""
    summary = None if query.q or query.owner or query.segment else cube(store, query.model, build=False)
    if summary:
        return summary.count(query.band, query.pql)
    with store.read() as conn:
        return queries.filtered_count(conn, query)


def owner_names(store: Store) -> list[str]:
    """The owners to filter by, once per scoring run."""
    def build() -> list:
        with store.read() as conn:
            return queries.owner_names(conn)
    return per_run(store, "owner-names", build)


def threshold_preview(store: Store, model_name: str, high: float, medium: float, pql: float | None,
                      min_fit: float | None) -> dict:
    """How many people would change band, become or stop being PQLs, against the stored results."""
    preview = cube(store, model_name).preview(high, medium, pql, min_fit)
    preview["lift"] = None  # backtested lift comes from the backtest service
    return preview


def rule_firing(store: Store, ruleset: RuleSet) -> dict:
    """model -> [(rule, fired for, share of the scored population)] in file order."""
    out = {}
    for model in person_models(ruleset):
        counts = per_run(store, f"firing:{model.name}", lambda: _firing_counts(store, model.name))
        scored = cube(store, model.name).people
        out[model.name] = [(rule, counts.get(rule.id, 0), counts.get(rule.id, 0) / scored if scored else 0.0)
                           for rule in (*model.fit, *model.behaviour)]
    return out


def _new_pqls(store: Store, model_name: str, since: int, playbooks: tuple) -> list:
    with store.read() as conn:
        return queries.new_pqls_since(conn, model_name, since, playbooks)


def _firing_counts(store: Store, model_name: str) -> dict:
    with store.read() as conn:
        return queries.rule_firing_counts(conn, model_name)


def scoring_state(store: Store, ruleset: RuleSet) -> dict:
    """The last scoring run, and whether it used the rule files as they are now (else the change is pending)."""
    with store.read() as conn:
        run = last_run(conn)
    return {"run": run, "pending": run is not None and run["rules_hash"] != ruleset.hash}
