"""The plan's features at a rising run of moments, each moment reading only the events since the one before.

Aggregates over all history up to the moment (count, last time, sum, average, sophistication, distinct values)
are a running state per person in a temp table: the events of (previous moment, moment] are aggregated and
folded in (sums added, maxima kept). A distinct count counts first sightings: each (person, value) once, at
the first time it matched. Aggregates over a window before the moment (within, prior) are taken afresh over
that window's events; the rest (active weeks over all history) over every event up to the moment. The copy
keeps events in time order, so a slice of time costs what it holds.

Each expression is the plan's own (features.aggregate) over the same events, so a date's features equal those
of a plan run at that date; counts and maxima exactly, sums of fractional numbers up to the order of addition.
"""
from __future__ import annotations

from crm_app.engine.plan import feature_plan
from crm_app.engine.setwise import ir
from crm_app.engine.setwise.features import Catalog, aggregate, prop_column, selector_predicate
from crm_app.engine.setwise.plan import feature_column
from crm_app.store.columnar.relations import ident

ADDED = ("count", "sum", "distinct")
KEPT_MAX = ("last_at", "sophistication")


def lookback(agg) -> int | None:
    """How far before the moment an aggregate reads (None: all history)."""
    if agg.measure == "prior":
        return (agg.extra[0] + 1) * agg.selector.within
    return agg.selector.within if agg.selector is not None and agg.selector.within else None


def _kind(agg) -> str:
    if lookback(agg) is not None:
        return "window"
    return "rolling" if agg.measure in ADDED + KEPT_MAX + ("average",) else "whole"


def _render(node) -> str:
    return ir.render(node, ir.DUCKDB)


class Rolling:
    """Features of `models` (numbered as build_plan numbers them) at moments given in rising order; a moment
    before the last one starts the state over."""

    def __init__(self, con, models, catalog: Catalog, tag: str):
        self.con, self.catalog, self.table, self.models = con, catalog, f"bt_roll_{tag}", tuple(models)
        self.aggregates = tuple(a for a in feature_plan(models) if a.measure != "quota")
        self.kinds = [_kind(a) for a in self.aggregates]
        self.at: int | None = None
        self.firsts: dict = {}
        windows = [lookback(a) for a, k in zip(self.aggregates, self.kinds) if k == "window"]
        self.window = max(windows) if windows else None

    def _first_sightings(self, i: int, agg) -> str:
        """Table of (person, value) first matching times for a distinct count over all history."""
        if i not in self.firsts:
            name = f"{self.table}_first{i}"
            pred = _render(selector_predicate(agg.selector, self.catalog, 0))
            value = "type_id" if agg.of == "event" else ident(prop_column("s", agg.of))
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT person_id, min(ts) AS ts FROM ev "
                             f"WHERE {pred} AND {value} IS NOT NULL GROUP BY person_id, {value}")
            self.firsts[i] = name
        return self.firsts[i]

    def _slice(self, lo: int | None, hi: int) -> tuple[str, list]:
        """(SQL of the rolling columns over events in (lo, hi], [(column, how it folds)])."""
        span = f"ts <= {int(hi)}" + (f" AND ts > {int(lo)}" if lo is not None else "")
        cols, folds, firsts = [], [], []
        for i, (agg, kind) in enumerate(zip(self.aggregates, self.kinds)):
            if kind != "rolling":
                continue
            if agg.measure == "distinct":
                firsts.append(f" FULL JOIN (SELECT person_id, count(*) AS r{i} FROM {self._first_sightings(i, agg)} "
                              f"WHERE {span} GROUP BY person_id) q{i} USING (person_id)")
                folds.append((f"r{i}", "add"))
            elif agg.measure == "average":
                pred = _render(selector_predicate(agg.selector, self.catalog, hi))
                number = ident(prop_column("n", agg.of))
                cols += [f"sum(CASE WHEN {pred} THEN {number} END) AS r{i}s",
                         f"count(CASE WHEN {pred} THEN {number} END) AS r{i}c"]
                folds += [(f"r{i}s", "add"), (f"r{i}c", "add")]
            else:
                cols.append(f"{_render(aggregate(agg, self.catalog, hi))} AS r{i}")
                folds.append((f"r{i}", "add" if agg.measure in ADDED else "max"))
        sql = (f"SELECT person_id{''.join(', ' + c for c in cols)} FROM ev WHERE {span} GROUP BY person_id")
        if firsts:
            sql = f"SELECT * FROM ({sql}) e{''.join(firsts)}"
        return sql, folds

    def _advance(self, moment: int) -> None:
        restart = self.at is None or moment < self.at
        sql, folds = self._slice(None if restart else self.at, moment)
        if restart:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {self.table} AS {sql}")
        elif moment > self.at:
            merged = ", ".join((f"coalesce(s.{c} + d.{c}, s.{c}, d.{c})" if how == "add" else
                                f"greatest(s.{c}, d.{c})") + f" AS {c}" for c, how in folds)
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {self.table}_next AS SELECT person_id"
                             f"{', ' + merged if merged else ''} FROM {self.table} s FULL JOIN ({sql}) d "
                             "USING (person_id)")
            self.con.execute(f"DROP TABLE {self.table}")
            self.con.execute(f"ALTER TABLE {self.table}_next RENAME TO {self.table}")
        self.at = moment

    def features(self, moment: int) -> str:
        """A query of person_id and every feature column as of the moment (for build_plan's `features_sql`)."""
        self._advance(moment)
        t = int(moment)
        cols, window, whole = [], [], []
        for i, (agg, kind) in enumerate(zip(self.aggregates, self.kinds)):
            name = ident(feature_column(i))
            if kind == "rolling":
                cols.append(f"CASE WHEN r.r{i}c > 0 THEN r.r{i}s / r.r{i}c END AS {name}"
                            if agg.measure == "average" else f"r.r{i} AS {name}")
                continue
            expr = f"{_render(aggregate(agg, self.catalog, t))} AS {name}"
            (window if kind == "window" else whole).append(expr)
            cols.append(f"{'w' if kind == 'window' else 'c'}.{name}")
        sql = f"SELECT person_id{''.join(', ' + c for c in cols)} FROM {self.table} r"
        if window:
            sql += (f" FULL JOIN (SELECT person_id, {', '.join(window)} FROM ev WHERE ts <= {t} AND "
                    f"ts >= {t - self.window} GROUP BY person_id) w USING (person_id)")
        if whole:
            sql += f" FULL JOIN (SELECT person_id, {', '.join(whole)} FROM ev WHERE ts <= {t} GROUP BY person_id) c " \
                   "USING (person_id)"
        return sql
