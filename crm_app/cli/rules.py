"""`rules publish|history|diff|rollback|patch`: the admin-file set as published versions in the store."""
from __future__ import annotations

import getpass
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from crm_app.config import Config
from crm_app.specs.loader import display_path


def _store(config: Config):
    from crm_app.store import Store
    return Store(config.database_url)


def _author(args) -> str:
    if args.author:
        return args.author
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container without a passwd entry)
        return "cli"


def _print_impact(store, before: dict, after: dict, label: str) -> None:
    """The impact preview of `after` against `before` (the same sample the dashboard shows)."""
    from crm_app.services.admin import versions
    from crm_app.services.admin.rule_impact import SAMPLE, compare_rule_sets
    old = versions.validate_files(before) if before else None
    new = versions.validate_files(after)
    if old is None or old.errors or new.errors:
        print(f"impact: not computed ({'no active version' if old is None else 'a side does not load'})")
        return
    report = compare_rule_sets(store, old.specs.rules, new.specs.rules, int(time.time()))
    print(f"impact of {label} on up to {SAMPLE:,} people:" if report else "impact: no people in the store yet")
    for model, m in report.items():
        print(f"  {model:<14} {m['people']:>6} people  {m['band_changes']:>5} change band  "
              f"{m['become_pql']:>5} become PQL  {m['stop_pql']:>5} stop being PQL  "
              f"average {m['average_delta']:+.1f}{'  (new model)' if m['new_model'] else ''}")


def cmd_rules(args, config: Config) -> int:
    """Published versions of the admin files: publish the files on disk, history, diff, rollback, patch."""
    store = _store(config)
    try:
        return ACTIONS[args.action](args, config, store)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.dispose()


def _publish(args, config: Config, store) -> int:
    """Validate the files on disk exactly as `check` does, preview them, and make them the active version."""
    from crm_app.services.admin import versions
    root = Path(config.specs_root)
    files = versions.read_admin_files(root)
    validation = versions.validate_files(files, root)
    if validation.errors:
        from crm_app.errors import format_errors
        for line in format_errors(validation.errors):  # exactly as `check` prints them
            print(line)
        follow_ons = sum(1 for e in validation.errors if e.cause is not None)
        print(f"{len(validation.errors) - follow_ons} error(s)" + (f" and {follow_ons} that follow from them"
                                                                 if follow_ons else "") + "; nothing was published.",
              file=sys.stderr)
        return 1
    current, active = versions.active_version(store)
    if current is not None and versions.set_hash(active) == versions.set_hash(files):
        print(f"unchanged: version {current} already has these files")
        return 0
    print(versions.diff_files(active, files), end="")
    _print_impact(store, active, files, f"the files in {display_path(root)}")
    if args.dry_run:
        print("dry run: nothing was published")
        return 0
    published = versions.publish(store, files, _author(args), args.message or f"published from {root}", "publish",
                                 current, "rules_published", validation=validation)
    if published.version is None:
        print("error: " + "; ".join(str(e) for e in published.errors), file=sys.stderr)
        return 1
    print(f"published version {published.version} (set {validation.specs.hash}, rules {validation.specs.rules.hash})"
          f"{f', replacing version {current}' if current else ''}")
    return 0


def _history(args, config: Config, store) -> int:
    from crm_app.services.admin import versions
    rows = versions.history(store, args.limit)
    if not rows:
        print("no version published yet: run `python -m crm_app rules publish`")
    for i, row in enumerate(rows):
        when = datetime.fromtimestamp(row["created_at"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{row['version']:>4}{'*' if i == 0 else ' '} {when}  {row['author']:<20} {row['kind']:<8} "
              f"rules {row['rules_hash']}  {row['message']}")
    return 0


def _diff(args, config: Config, store) -> int:
    from crm_app.services.admin import versions
    before, after = versions.version_files(store, args.a), versions.version_files(store, args.b)
    print(versions.diff_files(before, after) or "the two versions have the same files", end="\n" if before == after else "")
    _print_impact(store, before, after, f"version {args.b} against version {args.a}")
    return 0


def _rollback(args, config: Config, store) -> int:
    from crm_app.services.admin import versions
    current, active = versions.active_version(store)
    target = versions.version_files(store, args.version)
    print(versions.diff_files(active, target), end="")
    _print_impact(store, active, target, f"version {args.version} against the active version {current}")
    if args.dry_run:
        print("dry run: nothing was rolled back")
        return 0
    published = versions.rollback(store, args.version, _author(args), current, args.message)
    if published.version is None:
        print("error: " + "; ".join(str(e) for e in published.errors), file=sys.stderr)
        return 1
    print(f"rolled back to version {args.version}: published as version {published.version}")
    return 0


def _patch(args, config: Config, store) -> int:
    from crm_app.services.admin import versions
    print(versions.version_patch(store, args.version), end="")
    return 0


ACTIONS = {"publish": _publish, "history": _history, "diff": _diff, "rollback": _rollback, "patch": _patch}


def register(sub) -> None:
    p = sub.add_parser("rules", help=cmd_rules.__doc__)
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("publish", help=_publish.__doc__)
    q.add_argument("--message", "-m", help="why (shown in the history)")
    q.add_argument("--author", help="who (default: the login name)")
    q.add_argument("--dry-run", action="store_true", help="validate and preview only")
    q = actions.add_parser("history", help="the published versions, newest (active, *) first")
    q.add_argument("--limit", type=int, default=50)
    q = actions.add_parser("diff", help="the patch from version A to version B and B's impact against A")
    q.add_argument("a", type=int)
    q.add_argument("b", type=int)
    q = actions.add_parser("rollback", help="publish version N's files again as a new version, after a preview")
    q.add_argument("version", type=int)
    q.add_argument("--message", "-m")
    q.add_argument("--author")
    q.add_argument("--dry-run", action="store_true", help="preview only")
    q = actions.add_parser("patch", help="what version N changed, as a patch `git apply` reads")
    q.add_argument("version", type=int)
    p.set_defaults(func=cmd_rules)
