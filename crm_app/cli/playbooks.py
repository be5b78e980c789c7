"""`python -m crm_app playbooks ...`: run playbooks, send digests, show the outbox and the false-positive audit."""
from __future__ import annotations

import datetime as dt
import json
import sys
import time


def _runtime(config):
    from crm_app.services.admin.rule_reload import RuleHolder
    from crm_app.services.playbooks.runtime import make_runtime
    from crm_app.store import Store
    try:
        from crm_app.crm.registry import make_adapter  # CRM=sandbox|salesforce|hubspot
    except ImportError:
        print("error: no CRM adapters are installed yet (crm_app.crm.registry)", file=sys.stderr)
        raise SystemExit(2)
    store = Store(config.database_url)
    return make_runtime(store, RuleHolder(store, config.spec_dirs).require(), make_adapter())


def cmd_playbooks_run(args, config) -> int:
    """Run playbooks on score changes and dispatch the ledger; --loop repeats score + playbooks."""
    from crm_app.services.playbooks.cycle import run_cycle
    from crm_app.services.playbooks.cycle import run_playbooks
    rt = _runtime(config)
    while True:
        if args.loop:
            report = run_cycle(rt)
            print(f"scored {report.scored}, playbooks {report.playbooks} in {report.seconds:.2f}s", flush=True)
            time.sleep(args.loop)
            continue
        print(json.dumps(run_playbooks(rt, digests=args.digests)))
        return 0


def cmd_playbooks_outbox(args, config) -> int:
    """Print the newest Slack messages of the embedded outbox (when no Slack token is set)."""
    from crm_app.slack.senders import outbox_messages
    from crm_app.store import Store
    for m in reversed(outbox_messages(Store(config.database_url), args.limit)):
        when = dt.datetime.fromtimestamp(m["updated_at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        print(f"[{when}] {m['channel']}: {m['text']}")
        for block in m["blocks"] or []:
            text = (block.get("text") or {}).get("text") or " · ".join(
                e.get("text", "") for e in block.get("elements", []) if block["type"] == "context")
            if text:
                print("    " + text.replace("\n", "\n    "))
    return 0


def cmd_playbooks_audit(args, config) -> int:
    """List the false positives recorded with 'Not a fit' since --days ago: the monthly audit."""
    from crm_app.store import Store
    from crm_app.store.playbooks.alerts import false_positives
    since = int(time.time()) - args.days * 86400
    with Store(config.database_url).read() as conn:
        rows = false_positives(conn, since)
    for r in rows:
        when = dt.datetime.fromtimestamp(r["at"], dt.timezone.utc).strftime("%Y-%m-%d")
        print(f"{when} person {r['subject_id']} ({r['model']}) by {r['by']}: {r['reason']}")
    print(f"{len(rows)} false positive(s) in the last {args.days} days")
    return 0


def register_playbooks(sub) -> None:
    """Add `playbooks run|outbox|audit` to the CLI."""
    p = sub.add_parser("playbooks", help="run playbooks, show the Slack outbox, the false-positive audit")
    inner = p.add_subparsers(dest="playbooks_command", metavar="ACTION", required=True)
    r = inner.add_parser("run", help=cmd_playbooks_run.__doc__)
    r.add_argument("--digests", action="store_true", help="also send the daily digests")
    r.add_argument("--loop", type=float, default=0, help="repeat score + playbooks every N seconds")
    r.set_defaults(func=cmd_playbooks_run)
    o = inner.add_parser("outbox", help=cmd_playbooks_outbox.__doc__)
    o.add_argument("--limit", type=int, default=20)
    o.set_defaults(func=cmd_playbooks_outbox)
    a = inner.add_parser("audit", help=cmd_playbooks_audit.__doc__)
    a.add_argument("--days", type=int, default=30)
    a.set_defaults(func=cmd_playbooks_audit)
