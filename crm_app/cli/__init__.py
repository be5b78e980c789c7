"""`python -m crm_app COMMAND`: check, score, explain, import, demo, serve, status."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from crm_app.config import Config
from crm_app.errors import ConfigError, IngestError, SpecSetInvalid, StoreSchemaError
from crm_app.services.ingest.messages import parse_timestamp


def _as_of(text: str | None) -> int:
    return int(time.time()) if not text else parse_timestamp(text, "--as-of")


def _open(config: Config):
    from crm_app.store import Store
    return Store(config.database_url)


def _active_specs(config: Config, store):
    """The active version's admin file set (the files on disk are published first when the store has none)."""
    from crm_app.services.admin.rule_reload import RuleHolder
    return RuleHolder(store, config.spec_dirs).require()


def _ruleset(config: Config, store):
    return _active_specs(config, store).rules


def cmd_check(args, config: Config) -> int:
    """Validate rules/, field_specs/, playbooks/, lifecycle/ and the CRM files in mapping/; print every error
    as file:line: key: message, and warn about event names the store (when there is one) has never received."""
    from crm_app.errors import format_errors
    from crm_app.services.admin.validate import check_admin_root
    checked = check_admin_root(Path(config.specs_root))
    errors, specs = checked.errors, checked.specs
    if errors:
        for line in format_errors(errors):
            print(line)
        follow_ons = sum(1 for e in errors if e.cause is not None)
        print(f"{len(errors) - follow_ons} error(s)" + (f" and {follow_ons} that follow from them" if follow_ons
                                                      else "") + "; nothing was applied.", file=sys.stderr)
        return 1
    rules = specs.rules
    print(f"OK: {len(rules.models)} model(s) ({', '.join(rules.names)}), "
          f"{sum(len(m.rules) for m in rules.models)} rules, {len(specs.fields)} field spec(s), "
          f"{len(specs.playbook_files)} playbook file(s); set hash {specs.hash}")
    for warning in [] if args.offline else _event_warnings(config, specs):
        print(warning)
    return 0


def _event_warnings(config: Config, specs) -> list:
    """Event names the store has never received, when there is a store to ask; `check` never creates one."""
    from sqlalchemy.exc import SQLAlchemyError

    from crm_app.services.admin.event_names import unseen_event_warnings
    url = config.database_url
    if url.startswith("sqlite") and not (url.startswith("sqlite:///") and Path(url[len("sqlite:///"):]).is_file()):
        return []
    try:
        store = _open(config)
        try:
            return unseen_event_warnings(store, specs.rules, specs.playbooks, specs.lifecycle)
        finally:
            store.dispose()
    except SQLAlchemyError as exc:
        print(f"note: the store is not reachable ({type(exc).__name__}); event names were not checked",
              file=sys.stderr)
        return []


def cmd_plan_sql(args, config: Config) -> int:
    """Print the compiled scoring plan as SQL for a warehouse (BigQuery, Snowflake, Spark, DuckDB)."""
    from crm_app.services.scoring.warehouse_sql import plan_sql
    store = _open(config)
    rules = _ruleset(config, store)
    models = [m for m in rules.models if not args.model or m.name in args.model]
    sql, left_out = plan_sql(store, models, _as_of(args.as_of), args.dialect)
    for model, why in left_out:
        print(f"-- {model.name} left out: {why}")
    print(sql + ";")
    return 0


def cmd_score(args, config: Config) -> int:
    """Score everyone, or only people whose data changed."""
    from crm_app.services.scoring.explain import format_summary
    from crm_app.services.scoring.run import score
    store = _open(config)
    specs = _active_specs(config, store)
    mode = "changed" if args.changed else "full"
    summary = score(store, specs.rules, _as_of(args.as_of), mode=mode, dry_run=args.dry_run,
                    lifecycle=specs.lifecycle, engine=args.engine)
    print(format_summary(summary))
    from crm_app.cli.customers import format_score_extras
    for line in format_score_extras(summary):
        print(line)
    return 0


def cmd_explain(args, config: Config) -> int:
    """Print one person's breakdown: a fresh rescore with every reason, beside the stored result and the CRM."""
    from crm_app.services.scoring.explain import explain_person, find_person, format_explanation, iso
    from crm_app.services.scoring.explain_stored import differences, format_crm, format_stored, stored_views
    store = _open(config)
    rules = _ruleset(config, store)
    person_id = find_person(store, args.person)
    if person_id is None:
        print(f"No person with user id, email or id {args.person!r}.", file=sys.stderr)
        return 1
    models = [m for m in rules.models if m.subject == "person" and (not args.model or m.name == args.model)]
    stored, crm_values = stored_views(store, models, person_id)
    if args.stored:
        for model in models:
            print(f"{args.person} — {model.label} [{model.name}]: the stored result, no rescore")
            print(format_stored(stored[model.name], iso))
    else:
        for model, record, result in explain_person(store, rules, person_id, _as_of(args.as_of)):
            if model.name not in stored:
                continue
            print("Fresh rescore with the rule files loaded now:")
            print(format_explanation(record, model, result))
            changed = differences(stored[model.name], result)
            if changed:
                print("  Differs from the stored result: " + "; ".join(changed))
                print(format_stored(stored[model.name], iso))
            else:
                print(f"  Same as the stored result (scored as of {iso(stored[model.name]['as_of'])})")
    print(format_crm(crm_values))
    return 0


def cmd_import(args, config: Config) -> int:
    """Import events, people, accounts or metrics from a file."""
    from crm_app.services.ingest import imports
    from crm_app.specs.mapping import load_mapping
    store = _open(config)
    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 1
    mapping = load_mapping(Path(args.mapping)) if args.mapping else None
    if args.kind == "events":
        report = imports.import_events(store, path, quiet=args.quiet, mapping=mapping)
        print(f"{path}: {report.accepted} stored, {report.duplicates} duplicates skipped, "
              f"{len(report.rejected)} rejected")
        for reject in report.rejected[:50]:
            print(f"{path}:{reject['index']}: {reject['reason']}")
        if len(report.rejected) > 50:
            print(f"... and {len(report.rejected) - 50} more (kept in the ingest_rejects table)")
        return 1 if report.rejected else 0
    if args.kind == "scores":
        return _import_scores(args, config, store, path)
    if args.kind == "metrics":
        result = imports.import_metrics(store, path, mapping, as_of=_as_of(args.as_of), quiet=args.quiet)
    else:
        result = imports.import_records(store, path, args.kind, mapping, quiet=args.quiet)
    print(f"{path}: {result.imported} {args.kind} rows imported, {len(result.rejected)} rejected")
    for reject in result.rejected:
        print(f"{path}:{reject['index']}: {reject['reason']}")
    return 1 if result.rejected else 0


def _import_scores(args, config: Config, store, path: Path) -> int:
    """Results the plan-sql query computed in a warehouse, written as a local run writes them."""
    from crm_app.services.scoring.explain import format_summary
    from crm_app.services.scoring.warehouse_import import import_results
    if not args.as_of:
        print("error: import scores needs --as-of: the moment plan-sql was given (the results are as of it)",
              file=sys.stderr)
        return 2
    report = import_results(store, _ruleset(config, store), str(path), _as_of(args.as_of), args.model)
    print(format_summary(report.summary))
    print(f"{path}: {report.rows} rows read, {report.summary.people} people imported, "
          f"{len(report.rejected)} results refused")
    for why in report.left_out:
        print(f"{path}: {why}")
    for n, reason in report.rejected[:50]:
        print(f"{path}:{n}: {reason}")
    if len(report.rejected) > 50:
        print(f"... and {len(report.rejected) - 50} more")
    return 1 if report.rejected or report.left_out else 0


def cmd_demo(args, config: Config) -> int:
    """Create a demo workspace in var/: people, events, scores, CRM, playbooks, lifecycle models, a backtest."""
    from crm_app.services.ops.demo import DemoRefused, run_demo
    try:
        return run_demo(config, people=args.people, seed=args.seed, out=print, force=args.force)
    except DemoRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_status(args, config: Config) -> int:
    """Show the store, the last scoring run and the ingest totals."""
    from crm_app.services.ops.status import format_status
    print(format_status(_open(config), config))
    from crm_app.cli.crm import print_crm_status  # CRM calls, limits, watermarks
    print_crm_status(config)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crm_app", description="PQL scoring engine")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("check", help=cmd_check.__doc__)
    p.add_argument("--offline", action="store_true", help="do not ask the store which event names it has seen")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("score", help=cmd_score.__doc__)
    p.add_argument("--as-of", help="score as of this ISO-8601 moment (default: now)")
    p.add_argument("--dry-run", action="store_true", help="compute and print, save nothing")
    p.add_argument("--changed", action="store_true", help="only people whose data changed since the last run")
    p.add_argument("--engine", choices=("auto", "store", "duckdb", "spark"), default="auto",
                   help="duckdb: the set-wise plan over the DuckDB copy; spark: the same plan on Apache Spark "
                        "(SPARK_MASTER); store: per person over the store's SQL; "
                        "auto (default): duckdb for full and large incremental runs")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("plan-sql", help=cmd_plan_sql.__doc__)
    p.add_argument("--dialect", choices=("bigquery", "snowflake", "spark", "duckdb"), required=True)
    p.add_argument("--model", action="append", help="only this model (repeatable; default: every person model)")
    p.add_argument("--as-of", help="score as of this ISO-8601 moment (default: now)")
    p.set_defaults(func=cmd_plan_sql)
    p = sub.add_parser("explain", help=cmd_explain.__doc__)
    p.add_argument("person", help="product user id, email or internal id")
    p.add_argument("--as-of", help="explain as of this ISO-8601 moment (default: now)")
    p.add_argument("--model", help="only this model")
    p.add_argument("--stored", action="store_true", help="show the stored result and the CRM's values, no rescore")
    p.set_defaults(func=cmd_explain)
    p = sub.add_parser("import", help=cmd_import.__doc__)
    p.add_argument("kind", choices=["events", "people", "accounts", "metrics", "scores"])
    p.add_argument("file", help="events: .jsonl or .csv; scores: .parquet or .csv; others: .csv")
    p.add_argument("--mapping", help="YAML file naming the id/email/account columns and field names")
    p.add_argument("--as-of", help="metrics: the moment the values describe, when the file has no as_of column; "
                                    "scores: the --as-of plan-sql was given")
    p.add_argument("--model", action="append", help="scores: the --model options plan-sql was given")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("demo", help=cmd_demo.__doc__)
    p.add_argument("--people", type=int, default=2000, help="how many people to generate (default 2000)")
    p.add_argument("--seed", type=int, default=7, help="random seed, for a reproducible demo")
    p.add_argument("--force", action="store_true", help="replace a SQLite store holding data the demo did not make")
    p.set_defaults(func=cmd_demo)
    sub.add_parser("status", help=cmd_status.__doc__).set_defaults(func=cmd_status)
    from crm_app.cli.crm import register_crm  # provision, sync, writeback, crm-status
    register_crm(sub)
    from crm_app.cli.models import register as register_models
    register_models(sub)
    from crm_app.cli.versions import register as register_versions  # models history, models rollback
    register_versions(sub)
    from crm_app.cli.playbooks import register_playbooks
    register_playbooks(sub)
    from crm_app.cli.customers import register_health
    register_health(sub)
    from crm_app.cli.users import register_users  # users, audit
    register_users(sub)
    from crm_app.cli.service import register as register_service
    register_service(sub)
    from crm_app.cli.rules import register as register_rules  # rules publish|history|diff|rollback|patch
    register_rules(sub)
    from crm_app.cli.init_files import register as register_init
    register_init(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; admin-file and input errors print clearly and exit non-zero."""
    args = build_parser().parse_args(argv)
    try:
        config = Config.from_env()
        if not logging.getLogger().handlers:  # a host (a test runner) that set logging up keeps its own
            from crm_app.logs import configure_logging
            configure_logging(config.log_level)
        return args.func(args, config)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep the interpreter's final flush from failing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except SpecSetInvalid as exc:
        from crm_app.errors import format_errors
        for line in format_errors(exc.errors):
            print(line, file=sys.stderr)
        print(f"{len(exc.errors)} error(s) in the admin files; run 'python -m crm_app check'.", file=sys.stderr)
        return 2
    except (IngestError, ConfigError, StoreSchemaError) as exc:
        for line in str(exc).splitlines():  # a ConfigError holds one line per bad setting
            print(f"error: {line}", file=sys.stderr)
        return 2
