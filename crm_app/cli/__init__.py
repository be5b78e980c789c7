"""`python -m crm_app COMMAND`: check, score, explain, import, demo, serve, status."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from crm_app.config import Config
from crm_app.errors import ConfigError, IngestError, SpecSetInvalid
from crm_app.services.ingest.messages import parse_timestamp


def _as_of(text: str | None) -> int:
    return int(time.time()) if not text else parse_timestamp(text, "--as-of")


def _open(config: Config):
    from crm_app.store import Store
    return Store(config.database_url)


def _ruleset(config: Config):
    from crm_app.specs.loader import load_spec_set
    return load_spec_set(config.spec_dirs).rules


def cmd_check(args, config: Config) -> int:
    """Validate rules/, field_specs/, playbooks/ and the CRM files in mapping/; print every error as
    file:line: key: message."""
    from crm_app.specs.loader import load_spec_set
    try:
        specs = load_spec_set(config.spec_dirs)
        errors = _crm_file_errors(config, list(specs.rules.names))
    except SpecSetInvalid as exc:
        errors = exc.errors
    if errors:
        for error in errors:
            print(error)
        print(f"{len(errors)} error(s); nothing was applied.", file=sys.stderr)
        return 1
    rules = specs.rules
    print(f"OK: {len(rules.models)} model(s) ({', '.join(rules.names)}), "
          f"{sum(len(m.rules) for m in rules.models)} rules, {len(specs.fields)} field spec(s), "
          f"{len(specs.playbook_files)} playbook file(s); set hash {specs.hash}")
    return 0


def _crm_file_errors(config: Config, models: list[str]) -> list:
    """Errors of the CRM data mapping and the record-creation policy (both optional files)."""
    from crm_app.crm.registry import setting
    from crm_app.errors import ErrorCollector
    from crm_app.specs.crm.creation import load_creation_policy
    from crm_app.specs.crm.mapping import parse_mapping
    from crm_app.specs.yamlsource import load_yaml
    errors = ErrorCollector()
    mapping = Path(config.specs_root) / setting("CRM_MAPPING_FILE")
    if mapping.is_file():
        doc = load_yaml(mapping, errors, str(mapping))
        if doc is not None:
            parse_mapping(doc, str(mapping), "sandbox", errors)
    load_creation_policy(Path(config.specs_root) / setting("CRM_CREATE_FILE"), models, errors)
    return errors.sorted()


def cmd_plan_sql(args, config: Config) -> int:
    """Print the compiled scoring plan as SQL for a warehouse (BigQuery, Snowflake, Spark, DuckDB)."""
    from crm_app.services.scoring.warehouse_sql import plan_sql
    rules = _ruleset(config)
    models = [m for m in rules.models if not args.model or m.name in args.model]
    sql, left_out = plan_sql(_open(config), models, _as_of(args.as_of), args.dialect)
    for model, why in left_out:
        print(f"-- {model.name} left out: {why}")
    print(sql + ";")
    return 0


def cmd_score(args, config: Config) -> int:
    """Score everyone, or only people whose data changed."""
    from crm_app.services.scoring.explain import format_summary
    from crm_app.services.scoring.run import score
    store, rules = _open(config), _ruleset(config)
    mode = "changed" if args.changed else "full"
    summary = score(store, rules, _as_of(args.as_of), mode=mode, dry_run=args.dry_run, engine=args.engine)
    print(format_summary(summary))
    from crm_app.cli.customers import format_score_extras
    for line in format_score_extras(summary):
        print(line)
    return 0


def cmd_explain(args, config: Config) -> int:
    """Print one person's breakdown: every reason with its points."""
    from crm_app.services.scoring.explain import explain_person, find_person, format_explanation
    store, rules = _open(config), _ruleset(config)
    person_id = find_person(store, args.person)
    if person_id is None:
        print(f"No person with user id, email or id {args.person!r}.", file=sys.stderr)
        return 1
    for model, record, result in explain_person(store, rules, person_id, _as_of(args.as_of)):
        if args.model and model.name != args.model:
            continue
        print(format_explanation(record, model, result))
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
    if args.kind == "metrics":
        result = imports.import_metrics(store, path, mapping, as_of=_as_of(args.as_of), quiet=args.quiet)
    else:
        result = imports.import_records(store, path, args.kind, mapping, quiet=args.quiet)
    print(f"{path}: {result.imported} {args.kind} rows imported, {len(result.rejected)} rejected")
    for reject in result.rejected:
        print(f"{path}:{reject['index']}: {reject['reason']}")
    return 1 if result.rejected else 0


def cmd_demo(args, config: Config) -> int:
    """Create a demo workspace in var/: accounts, people, 90 days of events; score and show them."""
    from crm_app.services.ops.demo import run_demo
    return run_demo(config, people=args.people, seed=args.seed, out=print)


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
    sub.add_parser("check", help=cmd_check.__doc__).set_defaults(func=cmd_check)
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
    p.set_defaults(func=cmd_explain)
    p = sub.add_parser("import", help=cmd_import.__doc__)
    p.add_argument("kind", choices=["events", "people", "accounts", "metrics"])
    p.add_argument("file", help="events: .jsonl or .csv; others: .csv")
    p.add_argument("--mapping", help="YAML file naming the id/email/account columns and field names")
    p.add_argument("--as-of", help="metrics: the moment the values describe, when the file has no as_of column")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("demo", help=cmd_demo.__doc__)
    p.add_argument("--people", type=int, default=2000, help="how many people to generate (default 2000)")
    p.add_argument("--seed", type=int, default=7, help="random seed, for a reproducible demo")
    p.set_defaults(func=cmd_demo)
    sub.add_parser("status", help=cmd_status.__doc__).set_defaults(func=cmd_status)
    from crm_app.cli.crm import register_crm  # provision, sync, writeback, crm-status
    register_crm(sub)
    from crm_app.cli.models import register as register_models
    register_models(sub)
    from crm_app.cli.playbooks import register_playbooks
    register_playbooks(sub)
    from crm_app.cli.customers import register_health
    register_health(sub)
    from crm_app.cli.users import register_users  # users, audit
    register_users(sub)
    from crm_app.cli.service import register as register_service
    register_service(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; admin-file and input errors print clearly and exit non-zero."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, Config.from_env())
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep the interpreter's final flush from failing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except SpecSetInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} error(s) in the admin files; run 'python -m crm_app check'.", file=sys.stderr)
        return 2
    except (IngestError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
