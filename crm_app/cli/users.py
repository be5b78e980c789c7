"""`users` (add, set-password, set-role, remove, list) and `audit`: dashboard users and the audit log."""
from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime, timezone

from crm_app.config import Config


def _store(config: Config):
    from crm_app.store import Store
    return Store(config.database_url)


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Again: "):
        raise SystemExit("error: the passwords differ")
    return first


def cmd_users(args, config: Config) -> int:
    """Manage dashboard users: add, set-password, set-role (admin, manager, viewer), remove, list."""
    from crm_app.services.dashboard import users
    store = _store(config)
    try:
        if args.action == "list":
            rows = users.list_users(store)
            for row in rows:
                when = datetime.fromtimestamp(row["created_at"], timezone.utc).strftime("%Y-%m-%d")
                print(f"{row['user']:<32} {row['role']:<8} since {when}")
            if not rows:
                print("no users in the store (the DASHBOARD_* environment logins still work)")
        elif args.action == "add":
            users.add_user(store, args.user, _password(args), args.role)
            print(f"added {args.user} ({args.role})")
        elif args.action == "set-password":
            ended = users.set_password(store, args.user, _password(args))
            print(f"password of {args.user} changed; {ended} session(s) ended")
        elif args.action == "set-role":
            ended = users.set_role(store, args.user, args.role)
            print(f"{args.user} is now {args.role}; {ended} session(s) ended")
        elif args.action == "remove":
            users.remove_user(store, args.user)
            print(f"removed {args.user}")
    except users.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.dispose()
    return 0


def cmd_audit(args, config: Config) -> int:
    """Print the audit log, newest first: sign-ins, threshold and rule changes, alert buttons, user changes."""
    from crm_app.services.dashboard.users import audit_entries
    store = _store(config)
    try:
        for entry in audit_entries(store, args.limit, args.action):
            when = datetime.fromtimestamp(entry["at"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            detail = entry["detail"] or {}
            diff = detail.pop("diff", None) if isinstance(detail, dict) else None
            print(f"{when}  {entry['actor']:<20} {entry['action']:<20} {entry['target'] or '-'}  "
                  f"{json.dumps(detail, sort_keys=True) if detail else ''}".rstrip())
            if diff:
                print("    " + diff.rstrip("\n").replace("\n", "\n    "))
    finally:
        store.dispose()
    return 0


def register_users(sub) -> None:
    p = sub.add_parser("users", help=cmd_users.__doc__)
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list")
    for name in ("add", "set-password", "set-role", "remove"):
        q = actions.add_parser(name)
        q.add_argument("user")
        if name in ("add", "set-role"):
            q.add_argument("--role", required=True, choices=("admin", "manager", "viewer"))
        if name in ("add", "set-password"):
            q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_users)
    p = sub.add_parser("audit", help=cmd_audit.__doc__)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--action", help="only this action (sign_in, thresholds_changed, rule_file_changed, ...)")
    p.set_defaults(func=cmd_audit)
