"""`models history` and `models rollback`: the versions of a lifecycle model, and making an earlier one live."""
from __future__ import annotations

import json
import sys
import time

from crm_app.config import Config


def _date(ts) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts)) if ts is not None else "?"


def _auc(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def cmd_models(args, config: Config) -> int:
    """Lifecycle model versions: `models history MODEL` lists them; `models rollback MODEL [--to N]` restores one."""
    from crm_app.cli.models import _lifecycle
    from crm_app.services.lifecycle import versions
    from crm_app.store import Store
    spec = _lifecycle(config, args.model)
    store = Store(config.database_url)
    if args.action == "rollback":
        try:
            old, new = versions.rollback(store, spec.name, args.to)
        except versions.RollbackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{spec.name}: v{new} is live (was {'v' + str(old) if old else 'none'}); the worker rescores everyone "
              f"at its next cycle, or run: python -m crm_app score")
        return 0
    rows = versions.history(store, spec.name)
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"{spec.name}: no version yet; run: python -m crm_app train {spec.name}")
        return 0
    print(f"{spec.name}: {len(rows)} version(s), newest first (* = live)")
    for r in rows:
        print(f"{'*' if r['live'] else ' '} v{r['version']:<3} {r['status']:12s} trained {_date(r['trained_at'])}, "
              f"data {_date(r['data_from'])} to {_date(r['data_to'])}, {r['algorithm'] or '-'}: "
              f"CV ROC AUC {_auc(r['roc_auc'])}, {r['validation'] or 'no'} validation ROC AUC "
              f"{_auc(r['time_aware_roc_auc'])}; {r['positives']}/{r['negatives']} subjects")
        if r["decision"]:
            print(f"        {r['decision']}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("models", help=cmd_models.__doc__)
    p.add_argument("action", choices=["history", "rollback"])
    p.add_argument("model", help="a lifecycle model name")
    p.add_argument("--to", type=int, help="rollback: the version to make live (default: the one before the live one)")
    p.add_argument("--json", action="store_true", help="history: print the versions as JSON")
    p.set_defaults(func=cmd_models)
