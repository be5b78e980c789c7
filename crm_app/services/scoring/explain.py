"""Read-side views: one person's breakdown, and a score summary, as text for the terminal."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import or_, select

from crm_app.engine import evaluate, in_population
from crm_app.engine.plan import feature_plan, metric_names, score_inputs
from crm_app.services.scoring.run import ScoreSummary
from crm_app.specs.rules import RuleSet
from crm_app.store import Store, schema
from crm_app.store import people as people_store
from crm_app.store.scoring.features import compute_features
from crm_app.store.scoring.results import previous_results


def iso(ts) -> str:
    return "-" if ts is None else datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def find_person(store: Store, key: str) -> int | None:
    """A person's id from their product user id, email or internal id."""
    p = schema.people
    with store.read() as conn:
        condition = or_(p.c.external_id == key, p.c.email == key.strip().lower(), p.c.email == key)
        if key.isdigit():
            condition = or_(condition, p.c.id == int(key))
        return conn.execute(select(p.c.id).where(condition).order_by(p.c.id).limit(1)).scalar()


def explain_person(store: Store, ruleset: RuleSet, person_id: int, as_of: int) -> list:
    """(model, record, ScoreResult) for each person model whose population holds them, evaluated as of as_of."""
    models = [m for m in ruleset.models if m.subject == "person"]
    with store.read() as conn:
        records = people_store.flat_records(conn, 0, 0, [person_id])
        features = compute_features(conn, feature_plan(models), metric_names(models), score_inputs(models), as_of,
                                    only=[person_id]).get(person_id, {})
        out = []
        for model in models:
            if not in_population(model, records[person_id], features, as_of):
                continue
            previous = previous_results(conn, model.name, 0, 0, [person_id]).get(person_id)
            out.append((model, records[person_id], evaluate(model, records[person_id], features, as_of, previous)))
    return out


def format_explanation(record: dict, model, result) -> str:
    """A rep-readable breakdown of one score."""
    who = record.get("email") or record.get("external_id")
    company = record.get("account.name") or record.get("account.id") or "no account"
    lines = [f"{who} ({company}) — {model.label} [{model.name}] as of {iso(result.as_of)}",
             f"  combined {result.combined}/100  band {result.band}  PQL {'yes' if result.pql else 'no'}"
             + (f" since {iso(result.pql_since)}" if result.pql else ""),
             f"  fit {result.fit} (raw {result.fit_raw})  behaviour {result.behaviour} "
             f"(before decay {result.behaviour_before_decay}, decay -{result.decay})",
             f"  activation {result.activation or '-'}  last activity {iso(result.last_activity)}"
             + (f" ({result.days_inactive} days ago)" if result.days_inactive is not None else "")]
    for kind, title in (("fit", "Fit"), ("behaviour", "Behaviour"), ("decay", "Decay")):
        chosen = [r for r in result.reasons if r.kind == kind]
        if chosen:
            lines.append(f"  {title}:")
            lines.extend(f"    {r.points:+4d}  {r.text}" + (f"  [{r.base_points:+g} ×{r.factor:.2f} recency]"
                                                            if r.kind == "behaviour" and r.factor != 1 else "")
                         for r in chosen)
    if not result.reasons:
        lines.append("  No rule fired.")
    return "\n".join(lines)


def format_summary(summary: ScoreSummary) -> str:
    """Counts per band, new PQLs and the biggest movers of a scoring run."""
    verb = "would change" if summary.dry_run else "changed"
    lines = [f"Scored {summary.people} people ({summary.mode}) as of {iso(summary.as_of)} in "
             f"{summary.seconds:.2f}s with rules {summary.rules_hash}" + (" [dry run: nothing saved]"
                                                                          if summary.dry_run else "")]
    for ms in summary.models.values():
        bands = ", ".join(f"{b} {ms.bands.get(b, 0)}" for b in ("high", "medium", "low"))
        tag = summary.propensity.get(ms.model)
        if tag:
            lines.append(f"  {ms.model} (propensity model {tag}): {ms.changed} {verb}; bands: {bands}")
            continue
        lines.append(f"  {ms.model}: {ms.changed} {verb}; bands: {bands}; new PQLs: {len(ms.new_pqls)}")
        for external, combined in sorted(ms.new_pqls, key=lambda p: (-p[1], str(p[0])))[:10]:
            lines.append(f"    new PQL {external} ({combined})")
        for delta, external, old, new in ms.movers[:10]:
            lines.append(f"    mover {external}: {old} -> {new} ({delta:+d})")
    for name, why in summary.refused.items():
        lines.append(f"  {name}: not scored: {why}")
    return "\n".join(lines)
