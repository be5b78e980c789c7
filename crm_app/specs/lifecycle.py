"""Lifecycle propensity models (lifecycle/*.yaml) -> frozen, typed objects.

A lifecycle model names a goal (conditions on fields and events, in the rules' condition language), an
optional population filter, and indicators to leave out. Training learns which indicators predict the goal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from crm_app.errors import ErrorCollector
from crm_app.specs.conditions import EventCondition, FieldCondition, iter_conditions
from crm_app.specs.condition_parser import parse_condition
from crm_app.specs.reader import Reader, Where, item_where, parse_duration
from crm_app.specs.yamlsource import load_yaml

LIFECYCLE_STAGES = ("conversion", "onboarding", "expansion", "retention")
SUBJECTS = ("person", "account")
ALGORITHMS = ("auto", "logistic", "gradient_boosting")
CALIBRATIONS = ("sigmoid", "isotonic")
VALIDATIONS = ("auto", "shuffled", "out_of_time", "rolling")
LIFECYCLE_KEYS = ("model", "label", "stage", "subject", "goal", "filter", "exclude", "horizon", "windows",
                  "events", "algorithm", "calibration", "min_positives", "folds", "validation", "holdout",
                  "time_field", "retrain", "tolerance")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class LifecycleModel:
    """A propensity model for one lifecycle stage, trained on the store's own history."""

    name: str
    label: str
    stage: str
    subject: str
    goal: object  # condition tree
    filter: object | None
    exclude: tuple  # feature names (snake_case fields, or event feature prefixes) never used
    horizon: int | None  # seconds; None = snapshot mode (label from the current record)
    windows: tuple  # seconds, for event counts
    events: int  # how many of the most frequent event names become features
    algorithm: str
    calibration: str
    min_positives: int
    folds: int
    source: str = ""
    validation: str = "auto"  # auto = out_of_time when the subjects carry times, else shuffled
    holdout: float = 0.25  # the latest share of subjects an out-of-time validation judges on
    time_field: str = "created_at"  # the record field that orders subjects in time
    retrain: int | None = None  # seconds between scheduled retrainings; None = only when asked
    tolerance: float = 0.01  # a challenger may be this much worse (time-aware ROC AUC) and still replace

    def goal_fields(self) -> tuple:
        """Record fields the goal reads: never features, or the model would learn the goal itself."""
        return tuple(sorted({c.field for c in iter_conditions(self.goal) if isinstance(c, FieldCondition)}))

    def goal_events(self) -> tuple:
        """Event names the goal reads (lower-cased)."""
        return tuple(sorted({n for c in iter_conditions(self.goal) if isinstance(c, EventCondition)
                             for n in c.selector.names}))

    def with_exclude(self, extra) -> "LifecycleModel":
        """A copy that also excludes these indicators (for exclude-and-retrain)."""
        merged = tuple(dict.fromkeys(self.exclude + tuple(extra)))
        return LifecycleModel(**{**self.__dict__, "exclude": merged})


def parse_lifecycle(doc, file: str, errors: ErrorCollector, lists: dict) -> LifecycleModel | None:
    """One lifecycle file -> LifecycleModel, recording every problem with file:line and key."""
    r = Reader(doc, Where(file, getattr(doc, "line", 1), ""), errors, "a lifecycle model file")
    if not r.ok:
        return None
    name = r.text("model", required=True)
    if name and not _ID.match(name):
        r.error(r.at("model"), f"model name '{name}' must be lower_snake_case, such as 'lead_conversion'")
    stage = r.choice("stage", LIFECYCLE_STAGES, required=True)
    subject = r.choice("subject", SUBJECTS, default="person")
    goal_raw = r.raw("goal", required=True)
    goal = parse_condition(goal_raw, r.at("goal"), errors, lists) if goal_raw is not None else None
    filter_raw = r.raw("filter", None)
    filt = parse_condition(filter_raw, r.at("filter"), errors, lists) if filter_raw is not None else None
    exclude = _texts(r, "exclude")
    horizon = r.duration("horizon", None)
    windows = _windows(r)
    events = r.number("events", default=25, minimum=0, maximum=500)
    algorithm = r.choice("algorithm", ALGORITHMS, default="auto")
    calibration = r.choice("calibration", CALIBRATIONS, default="sigmoid")
    min_positives = r.number("min_positives", default=30, minimum=2, maximum=100000)
    folds = r.number("folds", default=5, minimum=2, maximum=20)
    label = r.text("label", default=name or "")
    validation = r.choice("validation", VALIDATIONS, default="auto")
    holdout = r.number("holdout", default=0.25, minimum=0.05, maximum=0.5)
    time_field = r.text("time_field", default="created_at")
    retrain = r.duration("retrain", None)
    tolerance = r.number("tolerance", default=0.01, minimum=0, maximum=0.5)
    r.finish(LIFECYCLE_KEYS)
    if horizon == 0:
        r.error(r.at("horizon"), "'horizon' must be longer than zero, such as 30d; leave it out for snapshot mode")
    if retrain == 0:
        r.error(r.at("retrain"), "'retrain' must be longer than zero, such as 7d; leave it out to retrain only "
                                 "with the train command")
    if not r.ok or name is None or goal is None:
        return None
    return LifecycleModel(name=name, label=label, stage=stage, subject=subject, goal=goal, filter=filt,
                          exclude=exclude, horizon=horizon, windows=windows, events=int(events),
                          algorithm=algorithm, calibration=calibration, min_positives=int(min_positives),
                          folds=int(folds), source=file, validation=validation, holdout=float(holdout),
                          time_field=time_field, retrain=retrain, tolerance=float(tolerance))


def _texts(r: Reader, key: str) -> tuple:
    items = r.sequence(key) or []
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            r.error(item_where(r.at(key), items, i), f"expected an indicator name, got {item!r}")
            continue
        out.append(indicator_name(str(item)))
    return tuple(out)


def indicator_name(name: str) -> str:
    """Indicator names as written ('Lead Quality') or as stored ('lead_quality') both work."""
    return re.sub(r"[^a-z0-9.:_]+", "_", name.strip().lower()).strip("_")


def _windows(r: Reader) -> tuple:
    items = r.sequence("windows")
    if items is None:
        return (7 * 86400, 30 * 86400, 90 * 86400)
    out = []
    for i, item in enumerate(items):
        seconds = parse_duration(item)
        if not seconds:
            r.error(item_where(r.at("windows"), items, i), f"expected a duration such as 7d or 48h, got {item!r}")
            continue
        out.append(seconds)
    return tuple(sorted(set(out)))


def load_lifecycle(directory: Path, errors: ErrorCollector, lists: dict, taken: list[str],
                   display=str) -> tuple:
    """Every lifecycle model of a folder; names must be unique and differ from the rule models'."""
    if directory is None or not Path(directory).is_dir():
        return ()
    found: dict = {}
    for path in sorted(p for p in Path(directory).iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
        name = display(path)
        doc = load_yaml(path, errors, name, holds="a lifecycle model ('model:', 'stage:', 'goal:')")
        if doc is None:
            continue
        model = parse_lifecycle(doc, name, errors, lists)
        if model is None:
            continue
        if model.name in found or model.name in taken:
            where = found[model.name].source if model.name in found else "rules/"
            errors.add(name, getattr(doc, "key_lines", {}).get("model", 1), "model",
                       f"model '{model.name}' is already defined in {where}; rename one of them")
            continue
        found[model.name] = model
    return tuple(found.values())
