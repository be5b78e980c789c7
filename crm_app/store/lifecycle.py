"""Tables and queries of lifecycle models: trained versions with their reports, backtest runs.

Reports are JSON so the dashboard can render them; the 1-100 scores go into the shared `results` table
under the lifecycle model's name, so rules read them with `score: MODEL` (the hybrid method).
"""
from __future__ import annotations

import json

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Connection, Integer, LargeBinary, String, Table, func,
                        select, update)

from crm_app.store import schema
from crm_app.store.dialect import chunks, upsert
from crm_app.store.meta import get_meta, set_meta

lifecycle_models = Table(
    "lifecycle_models", schema.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("stage", String(32)),
    Column("status", String(16), nullable=False),  # trained | insufficient
    Column("trained_at", BigInteger, nullable=False),
    Column("as_of", BigInteger),
    Column("data_from", BigInteger), Column("data_to", BigInteger),
    Column("metrics", JSON),
    Column("report", JSON),  # positives, negatives, CV metrics, calibration, indicators, advice
    Column("artifact", LargeBinary),  # the fitted model as a skops file (models.artifact)
    Column("live", Boolean),  # the version scoring uses (one per model; migration 90)
)

backtest_runs = Table(
    "backtest_runs", schema.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", BigInteger, nullable=False),
    Column("model", String(64)),
    Column("params", JSON),
    Column("report", JSON),
)

TABLES = (lifecycle_models, backtest_runs)


def create_tables(conn: Connection) -> None:
    """Migration 20: the lifecycle tables only."""
    schema.metadata.create_all(conn, tables=list(TABLES))


def next_version(conn: Connection, name: str) -> int:
    t = lifecycle_models
    return (conn.execute(select(func.max(t.c.version)).where(t.c.name == name)).scalar() or 0) + 1


def save_model(conn: Connection, row: dict) -> int:
    """Store one trained (or refused) version; return its id."""
    return conn.execute(lifecycle_models.insert().values(**row)).inserted_primary_key[0]


def latest_model(conn: Connection, name: str, trained_only: bool = True) -> dict | None:
    """The newest version of a model (by default the newest that was actually trained)."""
    t = lifecycle_models
    query = select(t).where(t.c.name == name)
    if trained_only:
        query = query.where(t.c.status == "trained")
    row = conn.execute(query.order_by(t.c.version.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def model_versions(conn: Connection, name: str | None = None) -> list[dict]:
    """Every stored version without its artifact, newest first."""
    t = lifecycle_models
    cols = [c for c in t.c if c.name != "artifact"]
    query = select(*cols).order_by(t.c.name, t.c.version.desc())
    if name:
        query = query.where(t.c.name == name)
    return [dict(r._mapping) for r in conn.execute(query)]


def save_scores(conn: Connection, model: str, as_of: int, scores: dict, version: str) -> None:
    """Write 1-100 scores into results (replacing the model's old rows) and append score history."""
    r = schema.results
    conn.execute(r.delete().where(r.c.model == model))
    rows = [{"model": model, "subject_id": sid, "as_of": as_of, "combined": score, "fit": None,
             "behaviour": None, "band": band_of(score), "pql": False, "reasons": [], "rules_hash": version}
            for sid, score in scores.items()]
    for part in chunks(rows, 2000):
        conn.execute(r.insert(), part)
    history = [{k: row[k] for k in ("model", "subject_id", "as_of", "combined", "band", "pql", "rules_hash")}
               for row in rows]
    for part in chunks(history, 2000):
        upsert(conn, schema.score_history, part, ["model", "subject_id", "as_of"],
               ["combined", "band", "pql", "rules_hash"])


def band_of(score: int) -> str:
    """Bands of a propensity score: the top quarter is high, the next quarter medium."""
    return "high" if score >= 76 else "medium" if score >= 51 else "low"


def save_backtest(conn: Connection, created_at: int, model: str, params: dict, report: dict) -> int:
    return conn.execute(backtest_runs.insert().values(created_at=created_at, model=model, params=params,
                                                      report=report)).inserted_primary_key[0]


def latest_backtest(conn: Connection, model: str | None = None) -> dict | None:
    t = backtest_runs
    query = select(t).order_by(t.c.id.desc()).limit(1)
    if model:
        query = query.where(t.c.model == model)
    row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def score_distribution(conn: Connection, model: str, as_of: int | None = None) -> list[int]:
    """Combined scores of a model from history: at one as_of, or the latest results when None."""
    if as_of is None:
        r = schema.results
        return [v for v in conn.execute(select(r.c.combined).where(r.c.model == model)).scalars() if v is not None]
    h = schema.score_history
    return [v for v in conn.execute(select(h.c.combined).where(h.c.model == model, h.c.as_of == as_of)).scalars()
            if v is not None]


def history_bounds(conn: Connection, model: str) -> tuple:
    """(first as_of, last as_of) in the score history of a model."""
    h = schema.score_history
    row = conn.execute(select(func.min(h.c.as_of), func.max(h.c.as_of)).where(h.c.model == model)).one()
    return row[0], row[1]


def event_counts(conn: Connection, limit: int) -> list[tuple[str, int]]:
    """The most frequent event names (lower-cased keys) with their counts."""
    e, t = schema.events, schema.event_types
    query = (select(t.c.key, func.count()).select_from(e.join(t, e.c.type_id == t.c.id))
             .where(e.c.person_id.is_not(None)).group_by(t.c.key).order_by(func.count().desc(), t.c.key).limit(limit))
    return [(k, n) for k, n in conn.execute(query)]


def metric_names(conn: Connection) -> list[str]:
    m = schema.metrics
    return sorted(conn.execute(select(m.c.name).distinct()).scalars())


def event_time_bounds(conn: Connection) -> tuple:
    e = schema.events
    row = conn.execute(select(func.min(e.c.ts), func.max(e.c.ts))).one()
    return row[0], row[1]


def extra_exclusions(conn: Connection, model: str) -> list[str]:
    """Indicators excluded by command or dashboard click, on top of the model file's exclude list."""
    return json.loads(get_meta(conn, f"lifecycle_exclude:{model}", "[]"))


def set_extra_exclusions(conn: Connection, model: str, names: list[str]) -> None:
    set_meta(conn, f"lifecycle_exclude:{model}", json.dumps(sorted(set(names))))


def backtest_runs_of(conn: Connection, model: str, limit: int = 50) -> list[dict]:
    """A model's backtest runs, newest first."""
    t = backtest_runs
    rows = conn.execute(select(t).where(t.c.model == model).order_by(t.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


def live_model(conn: Connection, name: str) -> dict | None:
    """The version scoring uses, with its artifact (None until one is trained and made live)."""
    t = lifecycle_models
    row = conn.execute(select(t).where(t.c.name == name, t.c.live.is_(True)).limit(1)).first()
    return dict(row._mapping) if row else None


def set_live(conn: Connection, name: str, version: int) -> None:
    """Make one version of a model the live one (every other version stops being live)."""
    t = lifecycle_models
    conn.execute(update(t).where(t.c.name == name).values(live=t.c.version == version))


def live_versions(conn: Connection) -> dict:
    """model -> its live version, for every model that has one."""
    t = lifecycle_models
    return dict(conn.execute(select(t.c.name, t.c.version).where(t.c.live.is_(True))).all())


def model_artifact(conn: Connection, name: str, version: int) -> bytes | None:
    t = lifecycle_models
    return conn.execute(select(t.c.artifact).where(t.c.name == name, t.c.version == version)).scalar()
