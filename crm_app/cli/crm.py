"""CLI commands of the CRM integration: provision, sync, writeback, crm-status (`python -m crm_app <command>`)."""
from __future__ import annotations

import argparse
import functools
import sys

from crm_app.config import Config
from crm_app.crm.base import CrmError
from crm_app.crm.registry import make_adapter, setting
from crm_app.errors import SpecSetInvalid
from crm_app.services.crm.accounting import crm_status, format_status, record_usage
from crm_app.services.crm.create import create_missing, policy_from
from crm_app.services.crm.provision import provision, provision_task_key
from crm_app.services.crm.sync import sync_crm
from crm_app.services.crm.writeback import push_scores
from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.specs.crm.mapping import load_mapping
from crm_app.store import Store


def register_crm(subparsers) -> None:
    """Add the CRM subcommands to the main parser's subparsers."""
    p = subparsers.add_parser("provision", help="create the score fields in the CRM (idempotent)")
    p.add_argument("--dry-run", action="store_true", help="print the plan only")
    p.set_defaults(func=cmd_provision)
    p = subparsers.add_parser("sync", help="pull CRM records changed since the last sync")
    p.add_argument("--full", action="store_true", help="ignore the watermarks and read everything")
    p.set_defaults(func=cmd_sync)
    p = subparsers.add_parser("writeback", help="write changed scores into the CRM")
    p.add_argument("--dry-run", action="store_true", help="count what would be written, send nothing")
    p.set_defaults(func=cmd_writeback)
    p = subparsers.add_parser("crm-status", help="CRM API calls used today, limits, watermarks, failed writes")
    p.add_argument("--refresh-limits", action="store_true", help="ask Salesforce for its limits (one API call)")
    p.set_defaults(func=cmd_status)


def _context():
    config = Config.from_env()
    return config, Store(config.database_url), make_adapter()


def _crm_errors(command):
    """CRM failures print one clear line and exit 2, like admin-file errors in the main CLI."""
    @functools.wraps(command)
    def run(args, config=None) -> int:
        try:
            return command(args)
        except CrmError as exc:
            print(f"CRM error: {exc}", file=sys.stderr)
            return 2
    return run


@_crm_errors
def cmd_provision(args) -> int:
    config, store, adapter = _context()
    fields = RuleHolder(store, config.spec_dirs).require().fields  # the active version's
    plan = provision(store, adapter, fields, dry_run=args.dry_run)
    if not args.dry_run:
        plan += provision_task_key(store, adapter)
    for item in plan:
        print(item.line())
    counts = {a: sum(1 for i in plan if i.action == a) for a in ("create", "ok", "clash", "grant")}
    verb = "would create" if args.dry_run else "created"
    print(f"{adapter.name}: {verb} {counts['create']}, unchanged {counts['ok']}, type clashes {counts['clash']}, "
          f"access grants {counts['grant']}")
    return 1 if counts["clash"] else 0


@_crm_errors
def cmd_sync(args) -> int:
    config, store, adapter = _context()
    holder = RuleHolder(store, config.spec_dirs)
    holder.require()
    mapping = load_mapping(holder.root / setting("CRM_MAPPING_FILE"), adapter.name)  # the active version's
    summary = sync_crm(store, adapter, mapping, full=args.full)
    for object_type, read in summary.read.items():
        print(f"{object_type}: read {read}, changed {summary.changed[object_type]}")
    return 0


@_crm_errors
def cmd_writeback(args) -> int:
    config, store, adapter = _context()
    holder = RuleHolder(store, config.spec_dirs)
    specs = holder.require()  # the active version, mapping/create.yaml included
    policy = policy_from(str(holder.root), setting("CRM_CREATE_FILE"), list(specs.rules.names))
    created = create_missing(store, adapter, policy, dry_run=args.dry_run)
    verb = "would get" if args.dry_run else "got"
    print(f"{adapter.name}: {created.candidates} product user(s) without a CRM record {verb} one: "
          f"{created.matched} linked by email, {created.created} created, {len(created.failed)} failed")
    for external_id, error in list(created.failed.items())[:20]:
        print(f"  not created {external_id}: {error}")
    summary = push_scores(store, adapter, specs.fields, dry_run=args.dry_run)
    print(f"{adapter.name}: {summary.changed} records with changed values, {summary.written} written, "
          f"{len(summary.failed)} failed, API calls {sum(summary.calls.values())} {summary.calls}")
    for record_id, error in list(summary.failed.items())[:20]:
        print(f"  failed {record_id}: {error}")
    return 1 if summary.failed or created.failed else 0


@_crm_errors
def cmd_status(args) -> int:
    config, store, adapter = _context()
    if args.refresh_limits and hasattr(adapter, "refresh_limits"):
        adapter.refresh_limits()
        record_usage(store, adapter, "status")
    print(format_status(crm_status(store, adapter.name)))
    return 0


def print_crm_status(config: Config) -> None:
    """The CRM section of `python -m crm_app status`: calls today, limits, watermarks (no API call)."""
    print()
    print(format_status(crm_status(Store(config.database_url), setting("CRM"))))


def main(argv: list[str] | None = None) -> int:
    """Run one CRM command; admin-file and CRM errors are printed, not raised."""
    parser = argparse.ArgumentParser(prog="python -m crm_app")
    register_crm(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SpecSetInvalid as exc:
        print(f"admin files have errors:\n{exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
