"""CLI commands of identity resolution, account scores and customer health: identity, health-kpis."""
from __future__ import annotations

import argparse

from crm_app.config import Config


def cmd_identity(args, config: Config) -> int:
    """Link product users to CRM people and accounts, then print match rates and unmatched identities."""
    from crm_app.services.identity.resolve import format_identity_status, identity_status, resolve_identities
    from crm_app.store import Store
    store = Store(config.database_url)
    if not args.report_only:
        report = resolve_identities(store)
        methods = ", ".join(f"{m} {n}" for m, n in sorted(report.links.items())) or "none"
        accounts = ", ".join(f"{m} {n}" for m, n in sorted(report.accounts.items())) or "none"
        print(f"resolved {report.people} product users against {report.crm_people} CRM people in "
              f"{report.seconds:.2f} s: links by {methods}; accounts by {accounts}")
        for key, users in report.conflicts[:20]:
            print(f"  conflict: CRM record {key} matches several users ({', '.join(users)}); linked to the first")
    print("\n".join(format_identity_status(identity_status(store, top=args.top))))
    return 0


def cmd_health_kpis(args, config: Config) -> int:
    """Print KPIs by health score: upsell and churn rates, churn AUC, churn rate per segment."""
    from crm_app.services.lifecycle.customer_health_kpis import format_kpis, health_kpis
    from crm_app.services.ingest.messages import parse_timestamp
    from crm_app.services.admin.rule_reload import RuleHolder
    from crm_app.store import Store
    store = Store(config.database_url)
    rules = RuleHolder(store, config.spec_dirs).require().rules
    if args.model not in rules.names:
        print(f"no model named {args.model!r}; models: {', '.join(rules.names)}")
        return 1
    order = tuple(s.id for s in rules.model(args.model).segments)
    since = parse_timestamp(args.since, "--since") if args.since else None
    kpis = health_kpis(store, segment_order=order, model=args.model,
                       churn_field=args.churn_field, upsell_field=args.upsell_field, since=since)
    print("\n".join(format_kpis(kpis)))
    return 0


def format_score_extras(summary) -> list[str]:
    """Account-model and segment lines of a scoring run summary."""
    lines = []
    accounts = getattr(summary, "accounts", None)
    if accounts is not None and accounts.bands:
        for model, bands in accounts.bands.items():
            new = accounts.new_pqas.get(model, [])
            lines.append(f"{model} (accounts): {accounts.accounts} scored, {accounts.changed.get(model, 0)} changed, "
                         f"{len(new)} new PQAs; bands {dict(sorted(bands.items()))}; rollups "
                         f"{accounts.rollup_seconds:.2f} s of {accounts.seconds:.2f} s")
    for model, tally in (getattr(summary, "segments", None) or {}).items():
        parts = [f"{seg} {now} (+{entered}/-{left})" for seg, (entered, left, now) in tally.items()]
        lines.append(f"{model} segments: " + ", ".join(parts))
    return lines


def register_health(sub: argparse._SubParsersAction) -> None:
    """Add the identity and health-kpis commands."""
    p = sub.add_parser("identity", help=cmd_identity.__doc__)
    p.add_argument("--report-only", action="store_true", help="print the match report without re-resolving")
    p.add_argument("--top", type=int, default=10, help="how many unmatched identities to list (default 10)")
    p.set_defaults(func=cmd_identity)
    p = sub.add_parser("health-kpis", help=cmd_health_kpis.__doc__)
    p.add_argument("--model", default="health", help="the health model (default health)")
    p.add_argument("--churn-field", default="churn", help="record field holding churn Yes/No (default churn)")
    p.add_argument("--upsell-field", default="upsold", help="record field holding upsell Yes/No (default upsold)")
    p.add_argument("--since", help="ISO-8601: outcomes are 'Subscription Cancelled' / 'Plan Upgraded' events after it")
    p.set_defaults(func=cmd_health_kpis)
