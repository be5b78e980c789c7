"""Population summaries for the dashboard, derived from one grouped read of the results per scoring run.

The results table changes only when scoring runs, and every run is recorded when it ends, so the grouped
read (combined, raw fit, band, PQL -> people) is cached per (store, model, latest run). Histogram, counts per
band and PQL, and any threshold preview are then arithmetic on a few thousand groups instead of a scan of a
million rows.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from crm_app.store import Store
from crm_app.store.dashboard import queries

_CACHE: dict = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Cube:
    version: tuple
    groups: tuple  # (combined, fit_raw, band, pql, people)

    @property
    def people(self) -> int:
        return sum(g[4] for g in self.groups)

    def count(self, band: str | None = None, pql: bool | None = None) -> int:
        """People in a band and/or with a PQL flag (None: any)."""
        return sum(n for _, _, b, p, n in self.groups if (band is None or b == band) and (pql is None or p == pql))

    def by_score(self) -> dict:
        """combined -> band -> people."""
        out: dict = {}
        for combined, _, band, _, n in self.groups:
            out.setdefault(combined, {}).setdefault(band, 0)
            out[combined][band] += n
        return out

    def preview(self, high: float, medium: float, pql: float | None, min_fit: float | None) -> dict:
        """How many people would change band, become or stop being PQLs under other thresholds."""
        keys = ("people", "band_changes", "become_pql", "stop_pql", "pqls", "high", "medium", "low")
        out = dict.fromkeys(keys, 0)
        for combined, fit_raw, band, was_pql, n in self.groups:
            new_band = "high" if combined >= high else "medium" if combined >= medium else "low"
            is_pql = pql is not None and combined >= pql and (min_fit is None or (fit_raw or 0) >= min_fit)
            out["people"] += n
            out[new_band] += n
            out["band_changes"] += n * (new_band != band)
            out["become_pql"] += n * (is_pql and not was_pql)
            out["stop_pql"] += n * (was_pql and not is_pql)
            out["pqls"] += n * is_pql
        return out


def cube(store: Store, model: str, build: bool = True) -> Cube | None:
    """The model's cube for the latest scoring run; None when not cached and build is False."""
    with store.read() as conn:
        version = queries.results_version(conn)
        key = (store.url, model)
        with _LOCK:
            cached = _CACHE.get(key)
        if cached is not None and cached.version == version:
            return cached
        if not build:
            return None
        fresh = Cube(version, tuple(queries.score_cube(conn, model)))
    with _LOCK:
        _CACHE[key] = fresh
    return fresh


def per_run(store: Store, name: str, build):
    """build() once per scoring run and store, for other summaries that only scoring can change."""
    with store.read() as conn:
        version = queries.results_version(conn)
    key = (store.url, name)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    value = build()
    with _LOCK:
        _CACHE[key] = (version, value)
    return value
