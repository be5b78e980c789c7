"""Feature tables for lifecycle models: record fields, event counts and recencies in windows, metrics."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from crm_app.engine.plan import Aggregate
from crm_app.specs.conditions import (EventCondition, EventSelector, MetricCondition, ScoreCondition,
                                      iter_conditions, last_at_key)

DAY = 86400
SKIPPED_FIELDS = ("external_id", "email", "email_domain", "created_at", "account.id", "account.name",
                  "account.domain")
MAX_CATEGORIES = 30
MISSING = "(missing)"
OTHER = "(other)"


@dataclass(frozen=True)
class Column:
    """One indicator: its name, whether numeric or categorical, and its values (None = missing)."""

    name: str
    kind: str  # numeric | categorical
    values: tuple
    source: str  # field | event | metric

    def missing_share(self) -> float:
        return sum(v is None for v in self.values) / max(1, len(self.values))


def event_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "event"


def window_label(seconds: int) -> str:
    return f"{seconds // DAY}d" if seconds % DAY == 0 else f"{seconds // 3600}h"


def event_plan(event_names: list[str], windows: tuple) -> tuple:
    """Aggregates for the store: per event and for any event, counts per window and the last time seen."""
    plan = {}
    for name in [None, *event_names]:
        names = () if name is None else (name,)
        slug = "any" if name is None else event_slug(name)
        last = EventSelector(names, (), None)
        plan[f"ev:{slug}:last"] = Aggregate(f"ev:{slug}:last", "last_at", None, last)
        plan[f"ev:{slug}:all"] = Aggregate(f"ev:{slug}:all", "count", None, last)
        for w in windows:
            key = f"ev:{slug}:{window_label(w)}"
            plan[key] = Aggregate(key, "count", None, EventSelector(names, (), w))
    return tuple(plan.values())


def condition_plan(conditions) -> tuple[tuple, tuple, tuple]:
    """(aggregates, metric names, score models) that goal and filter conditions read."""
    plan = {}
    metrics, scores = set(), set()
    for cond in conditions:
        for leaf in iter_conditions(cond):
            if isinstance(leaf, EventCondition):
                last = last_at_key(leaf.selector)
                plan[last] = Aggregate(last, "last_at", None, EventSelector(leaf.selector.names, leaf.selector.where,
                                                                            None))
                if leaf.measure != "days_since_last":
                    plan[leaf.feature_key] = Aggregate(leaf.feature_key, leaf.measure, leaf.of, leaf.selector)
            elif isinstance(leaf, MetricCondition):
                metrics.add(leaf.name)
            elif isinstance(leaf, ScoreCondition):
                scores.add(leaf.model)
    return tuple(plan.values()), tuple(sorted(metrics)), tuple(sorted(scores))


def event_columns(ids: list, features: dict, event_names: list[str], windows: tuple, as_of: int) -> list[Column]:
    """Counts per window and days since last, named events.<event>.<measure>."""
    cols = []
    fs = [features.get(i, {}) for i in ids]
    for name in [None, *event_names]:
        slug = "any" if name is None else event_slug(name)
        for suffix in ["all", *[window_label(w) for w in windows]]:
            label = "count_all" if suffix == "all" else f"count_{suffix}"
            cols.append(Column(f"events.{slug}.{label}", "numeric",
                               tuple(float(f.get(f"ev:{slug}:{suffix}", 0) or 0) for f in fs), "event"))
        cols.append(Column(f"events.{slug}.days_since_last", "numeric",
                           tuple(None if f.get(f"ev:{slug}:last") is None else (as_of - f[f"ev:{slug}:last"]) / DAY
                                 for f in fs), "event"))
    return cols


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


def field_columns(ids: list, records: dict, skip: set) -> list[Column]:
    """Every record field seen, typed numeric when at least 95% of its present values are numbers."""
    names = sorted({k for i in ids for k in records.get(i, {}) if k not in SKIPPED_FIELDS and k not in skip})
    cols = []
    for name in names:
        raw = [records.get(i, {}).get(name) for i in ids]
        raw = [None if v is None or v == "" else v for v in raw]
        present = [v for v in raw if v is not None]
        if not present:
            continue
        numeric = sum(_is_number(v) for v in present) >= 0.95 * len(present)
        cols.append(typed_field_column(name, "numeric" if numeric else "categorical", raw))
    return cols


def typed_field_column(name: str, kind: str, raw: list) -> Column:
    """A field's values as training reads them: numbers (others missing) or trimmed text."""
    raw = [None if v is None or v == "" else v for v in raw]
    if kind == "numeric":
        return Column(name, kind, tuple(float(v) if _is_number(v) else None for v in raw), "field")
    return Column(name, kind, tuple(None if v is None else str(v).strip() for v in raw), "field")


def metric_columns(ids: list, features: dict, names: list[str]) -> list[Column]:
    return [Column(f"metric.{n}", "numeric", tuple(features.get(i, {}).get(f"metric:{n}") for i in ids), "metric")
            for n in names]


def is_excluded(column: str, exclude: tuple) -> bool:
    """An exclude entry removes the indicator itself and, for events.<name>, every window of it."""
    return any(column == e or column.startswith(e + ".") for e in exclude)


def identifier_like(col: Column) -> bool:
    """Unique for (almost) every subject: an id or a free-text field, which no model can learn from."""
    present = [v for v in col.values if v is not None]
    if len(present) < 50:
        return False
    distinct = len(set(present))
    if col.kind == "categorical":
        return distinct > 0.5 * len(present)
    integers = all(float(v).is_integer() for v in present)
    return integers and distinct >= 0.99 * len(present)


def constant(col: Column) -> bool:
    return len({v for v in col.values}) <= 1


def to_matrix(columns: list[Column], categories: dict | None = None) -> tuple[np.ndarray, dict]:
    """A float matrix: numbers as is (NaN when missing), categories as codes of their frequent values."""
    categories = dict(categories or {})
    n = len(columns[0].values) if columns else 0
    matrix = np.full((n, len(columns)), np.nan)
    for j, col in enumerate(columns):
        if col.kind == "numeric":
            matrix[:, j] = [np.nan if v is None else v for v in col.values]
            continue
        if col.name not in categories:
            counts: dict = {}
            for v in col.values:
                counts[v if v is not None else MISSING] = counts.get(v if v is not None else MISSING, 0) + 1
            frequent = sorted(counts, key=lambda k: (-counts[k], k))[:MAX_CATEGORIES - 1]
            categories[col.name] = [*sorted(frequent), OTHER]
        codes = {c: i for i, c in enumerate(categories[col.name])}
        other = codes[OTHER]
        matrix[:, j] = [codes.get(v if v is not None else MISSING, other) for v in col.values]
    return matrix, categories
