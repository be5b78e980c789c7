"""Commands for lifecycle models: train, indicators (exclude and retrain), backtest, monitor."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from crm_app.config import SETTINGS, Config
from crm_app.errors import IngestError
from crm_app.specs.reader import parse_duration
from crm_app.services.ingest.messages import parse_timestamp

DEPRECATED_MONITOR_ALIAS = "health"  # the old name of `monitor`; kept for one release


def _specs(config: Config, rules_dir: str | None = None):
    from crm_app.specs.loader import SpecDirs, load_spec_set
    dirs = config.spec_dirs
    if rules_dir:
        dirs = SpecDirs(Path(rules_dir), dirs.field_specs, dirs.playbooks, dirs.lifecycle)
    return load_spec_set(dirs)


def _lifecycle(config: Config, name: str):
    from crm_app.errors import did_you_mean
    models = {m.name: m for m in _specs(config).lifecycle}
    if name not in models:
        hint = did_you_mean(name, models)
        raise IngestError(f"no lifecycle model named {name!r} in {config.spec_dirs.lifecycle}"
                          + (f" (did you mean {hint!r}?)" if hint else "")
                          + (f"; defined: {', '.join(models)}" if models else "; add one under lifecycle/"))
    return models[name]


def _store(config: Config):
    from crm_app.store import Store
    return Store(config.database_url)


def _progress(quiet: bool):
    start = time.time()
    return (lambda _: None) if quiet else (lambda msg: print(f"[{time.time() - start:6.1f}s] {msg}", file=sys.stderr))


def _reps(value) -> int:
    return int(value if value is not None else os.environ.get("SALES_REPS", SETTINGS["SALES_REPS"][0]))


def cmd_train(args, config: Config) -> int:
    """Train lifecycle models (all, or one) and score everyone who has not reached the goal from 1 to 100."""
    from crm_app.services.lifecycle.training import TrainingError, train
    from crm_app.services.lifecycle.report import format_report
    specs = _specs(config)
    names = [args.model] if args.model else [m.name for m in specs.lifecycle]
    person_models = tuple(m.name for m in specs.rules.models if m.subject == "person")  # account models' rollups
    if not names:
        print("No lifecycle model defined; add one under lifecycle/ (see docs/models.md).", file=sys.stderr)
        return 1
    store, as_of, status = _store(config), _as_of(args.as_of), 0
    window = None
    start, end = getattr(args, "start", None), getattr(args, "end", None)  # indicators --retrain has neither
    if start or end:
        window = (parse_timestamp(start, "--from") if start else 0, parse_timestamp(end, "--to") if end else as_of)
    for name in names:
        try:
            report = train(store, _lifecycle(config, name), as_of, _progress(args.quiet), window,
                           person_models=person_models)
        except TrainingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(json.dumps(report, default=str) if args.json else format_report(report))
        status = status or (0 if report["status"] == "trained" else 1)
    return status


def cmd_indicators(args, config: Config) -> int:
    """Show a model's indicators and breakdowns; --exclude NAME[,NAME] --retrain removes one and retrains."""
    from crm_app.services.lifecycle import training as lifecycle
    from crm_app.services.lifecycle.report import format_breakdown, format_indicators
    store = _store(config)
    spec = _lifecycle(config, args.model)
    if args.exclude or args.include:
        now = lifecycle.exclude(store, spec.name, _split(args.exclude), _split(args.include))
        print(f"{spec.name}: excluded by command: {', '.join(now) or 'none'}")
    if args.retrain:
        return cmd_train(_Args(model=spec.name, as_of=args.as_of, quiet=args.quiet, json=False), config)
    report = lifecycle.latest_report(store, spec.name)
    if report is None:
        print(f"{spec.name} has not been trained yet: python -m crm_app train {spec.name}", file=sys.stderr)
        return 1
    if args.breakdown:
        print(format_breakdown(report, args.breakdown))
    else:
        print(format_indicators(report, args.limit))
    return 0


def cmd_backtest(args, config: Config) -> int:
    """Re-score people as of past dates on the data known then; check who reached the goal within the window."""
    from crm_app.services.lifecycle.backtest import run
    from crm_app.services.lifecycle.report import format_backtest
    specs = _specs(config)
    model = specs.rules.model(args.model) if args.model else specs.rules.models[0]
    models = [model]
    if args.compare:
        models.append(_specs(config, args.compare).rules.model(model.name))
    goal = _goal(specs, model, args.goal)
    window = _duration(args.window, "--window")
    out = run(_store(config), models, goal, parse_timestamp(args.start, "--from"), parse_timestamp(args.end, "--to"),
              window, _duration(args.step, "--step"), _reps(args.reps), args.target_lift, args.target_volume,
              _progress(args.quiet), save=not args.dry_run, engine=args.engine)
    print(json.dumps(out, default=str) if args.json else format_backtest(out))
    return 0


def cmd_monitor(args, config: Config) -> int:
    """Run the model-monitoring checks (lift, volume, drift, sync, alerts); exit 1 when any is flagged."""
    if args.command == DEPRECATED_MONITOR_ALIAS:
        print(f"`{DEPRECATED_MONITOR_ALIAS}` is deprecated and will be removed in the next release: use `monitor`",
              file=sys.stderr)
    from crm_app.services.lifecycle.monitoring import run
    specs = _specs(config)
    checks = run(_store(config), list(specs.rules.models), [m.name for m in specs.lifecycle], _reps(args.reps))
    if args.json:
        print(json.dumps(checks))
    else:
        for c in checks:
            print(f"{c['status'].upper():8s}{c['check']:28s}{c['message']}")
    return 1 if any(c["status"] == "flag" for c in checks) else 0


class _Args:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _split(text: str | None) -> list[str]:
    return [t for t in (text or "").split(",") if t.strip()]


def _as_of(text: str | None) -> int:
    return int(time.time()) if not text else parse_timestamp(text, "--as-of")


def _duration(text: str, flag: str) -> int:
    seconds = parse_duration(text)
    if not seconds:
        raise IngestError(f"{flag} {text!r} is not a duration such as 30d, 7d or 48h")
    return seconds


def _goal(specs, model, name: str | None):
    """The lifecycle model whose goal the backtest checks: named, or the one of the rule model's stage."""
    by_name = {m.name: m for m in specs.lifecycle}
    if name:
        if name not in by_name:
            raise IngestError(f"no lifecycle model named {name!r}; defined: {', '.join(by_name) or 'none'}")
        return by_name[name]
    same_stage = [m for m in specs.lifecycle if m.stage == model.stage]
    if not same_stage:
        raise IngestError(f"no lifecycle model with stage '{model.stage}' defines the goal; add one under lifecycle/ "
                          "or pass --goal MODEL")
    return same_stage[0]


def register(sub) -> None:
    """Add train, indicators, backtest and monitor to the `python -m crm_app` parser."""
    p = sub.add_parser("train", help=cmd_train.__doc__)
    p.add_argument("model", nargs="?", help="a lifecycle model name (default: all)")
    p.add_argument("--as-of", help="train as of this ISO-8601 moment (default: now)")
    p.add_argument("--from", dest="start", help="train only on subjects whose time is at or after this date")
    p.add_argument("--to", dest="end", help="train only on subjects whose time is at or before this date")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("indicators", help=cmd_indicators.__doc__)
    p.add_argument("model")
    p.add_argument("--breakdown", metavar="INDICATOR", help="per value or bin: share of converted and not converted")
    p.add_argument("--exclude", metavar="NAMES", help="comma-separated indicators to leave out from now on")
    p.add_argument("--include", metavar="NAMES", help="comma-separated indicators to bring back")
    p.add_argument("--retrain", action="store_true", help="retrain right away")
    p.add_argument("--limit", type=int, default=25, help="how many indicators to list (default 25)")
    p.add_argument("--as-of", help="with --retrain: train as of this moment")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_indicators)
    p = sub.add_parser("backtest", help=cmd_backtest.__doc__)
    p.add_argument("--from", dest="start", required=True, help="first as-of date (ISO-8601)")
    p.add_argument("--to", dest="end", required=True, help="last as-of date (ISO-8601)")
    p.add_argument("--window", default="30d", help="how long after each date the goal may be reached (default 30d)")
    p.add_argument("--step", default="7d", help="time between as-of dates (default 7d)")
    p.add_argument("--model", help="rule model to backtest (default: the first)")
    p.add_argument("--goal", help="lifecycle model whose goal counts as converted (default: same stage)")
    p.add_argument("--compare", metavar="RULES_DIR", help="an edited copy of rules/ to compare on the same history")
    p.add_argument("--reps", type=int, help="sales reps sharing the PQLs (default: SALES_REPS)")
    p.add_argument("--target-lift", type=float, help="suggest the threshold reaching this PQL/non-PQL ratio (default 3)")
    p.add_argument("--target-volume", type=float, help="suggest the threshold giving this many PQLs per rep per week")
    p.add_argument("--dry-run", action="store_true", help="print only; do not store the run")
    p.add_argument("--engine", choices=("auto", "duckdb", "store"), default="auto",
                   help="duckdb: the set-wise plan; store: the per-person engine (default auto: the plan)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_backtest)
    for name in ("monitor", DEPRECATED_MONITOR_ALIAS):
        p = sub.add_parser(name, help=cmd_monitor.__doc__ if name == "monitor" else "deprecated alias of monitor")
        p.add_argument("--reps", type=int, help="sales reps sharing the PQLs (default: SALES_REPS)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=cmd_monitor)
