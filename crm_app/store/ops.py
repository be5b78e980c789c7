"""Tables and queries of the running service: job runs, the scheduler lease, applied rule sets, snapshots, and
requests for long work the web hands to the worker."""
from __future__ import annotations

import json
import time

from sqlalchemy import (JSON, Column, Connection, Float, Index, Integer, MetaData, String, Table, Text, func,
                        insert, or_, select, update)

from crm_app.store import schema
from crm_app.store.dialect import insert_for, upsert

job_runs = Table(
    "job_runs", schema.metadata,
    Column("job", String(64), primary_key=True),  # one row per job: its latest run and running totals
    Column("started_at", Float), Column("finished_at", Float), Column("seconds", Float),
    Column("outcome", String(16)),  # ok | idle | failed | not_configured
    Column("error", Text),
    Column("api_calls", Integer),
    Column("detail", JSON),
    Column("runs", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("host", String(255)),
)

scheduler_lease = Table(
    "scheduler_lease", schema.metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("acquired_at", Float, nullable=False),
)

score_snapshots = Table(
    "score_snapshots", schema.metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD (UTC) the snapshot describes
    Column("model", String(64), primary_key=True),
    Column("band", String(16), primary_key=True),
    Column("people", Integer, nullable=False),
    Column("pqls", Integer, nullable=False),
    Column("avg_combined", Float),
    Column("rules_hash", String(32)),
)

TABLES = (job_runs, scheduler_lease, score_snapshots)
REFUSED_KEY = "rules.refused"  # meta: the last refused set (JSON), cleared when a good set is applied
ACTIVE_KEY = "rules.active"


def create_tables(conn: Connection) -> None:
    """Migration 60: the service tables only."""
    schema.metadata.create_all(conn, tables=list(TABLES))


def record_job_run(conn: Connection, job: str, run: dict) -> None:
    """Keep the latest run of a job and bump its totals."""
    t = job_runs
    values = {k: run.get(k) for k in ("started_at", "finished_at", "seconds", "outcome", "error", "api_calls",
                                      "detail", "host")}
    failed = 1 if run.get("outcome") == "failed" else 0
    stmt = insert_for(conn, t).values(job=job, runs=1, failures=failed, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["job"], set_=dict(
        values, runs=t.c.runs + 1, failures=t.c.failures + failed))
    conn.execute(stmt)


def all_job_runs(conn: Connection) -> dict:
    """job name -> its latest run, as plain data."""
    return {r.job: dict(r._mapping) for r in conn.execute(select(job_runs).order_by(job_runs.c.job))}


def try_lease(conn: Connection, name: str, holder: str, seconds: float, now: float | None = None) -> bool:
    """Take or renew the named lease when it is free, expired or already ours; True when we hold it."""
    now = time.time() if now is None else now
    t = scheduler_lease
    conn.execute(insert_for(conn, t).values(name=name, holder=holder, expires_at=now + seconds, acquired_at=now)
                 .on_conflict_do_nothing(index_elements=["name"]))
    row = conn.execute(select(t.c.holder).where(t.c.name == name)).scalar()
    took = conn.execute(update(t).where(t.c.name == name, or_(t.c.holder == holder, t.c.expires_at < now))
                        .values(holder=holder, expires_at=now + seconds,
                                acquired_at=now if row != holder else t.c.acquired_at)).rowcount
    return bool(took)


def release_lease(conn: Connection, name: str, holder: str) -> None:
    """Give the lease up at once (clean shutdown), so a standby need not wait for it to expire."""
    t = scheduler_lease
    conn.execute(update(t).where(t.c.name == name, t.c.holder == holder).values(expires_at=0.0))


def lease_state(conn: Connection, name: str) -> dict | None:
    row = conn.execute(select(scheduler_lease).where(scheduler_lease.c.name == name)).first()
    return dict(row._mapping) if row else None


def record_rule_set(conn: Connection, set_hash: str, files: list[str], rules_hash: str | None = None,
                    rules_files: list[str] | None = None, now: float | None = None,
                    version: int | None = None) -> bool:
    """Record an applied set once per hash, and its rules alone under the hash results carry; make it active.

    Results record the hash of the rules/ files (`results.rules_hash`); the whole set (with field specs and
    playbooks) has its own. Both are rows here, so every score traces back to the files that produced it."""
    now = int(time.time() if now is None else now)
    t = schema.rule_sets
    fresh = False
    for digest, names in ((set_hash, files), (rules_hash, rules_files)):
        if digest and conn.execute(select(func.count()).select_from(t).where(t.c.hash == digest)).scalar() == 0:
            conn.execute(t.insert().values(hash=digest, applied_at=now, files=names or []))
            fresh = fresh or digest == set_hash
    active = {"hash": set_hash, "rules_hash": rules_hash, "since": now, "version": version}
    upsert(conn, schema.meta, [{"key": ACTIVE_KEY, "value": json.dumps(active)},
                               {"key": REFUSED_KEY, "value": ""}], ["key"], ["value"])
    return fresh


def record_refused(conn: Connection, fingerprint: str, errors: list[str], now: float | None = None) -> None:
    """Keep why the latest edit was refused, for status and /readyz in every process."""
    value = json.dumps({"fingerprint": fingerprint, "at": int(time.time() if now is None else now),
                        "errors": errors})
    upsert(conn, schema.meta, [{"key": REFUSED_KEY, "value": value}], ["key"], ["value"])


def rule_set_state(conn: Connection) -> dict:
    """The active set (hash, since) and the refused edit, if any."""
    rows = dict(conn.execute(select(schema.meta.c.key, schema.meta.c.value)
                             .where(schema.meta.c.key.in_([ACTIVE_KEY, REFUSED_KEY]))).all())
    active = json.loads(rows[ACTIVE_KEY]) if rows.get(ACTIVE_KEY) else None
    refused = json.loads(rows[REFUSED_KEY]) if rows.get(REFUSED_KEY) else None
    return {"active": active, "refused": refused}


def rule_set_applied(conn: Connection, set_hash: str) -> dict | None:
    row = conn.execute(select(schema.rule_sets).where(schema.rule_sets.c.hash == set_hash)).first()
    return dict(row._mapping) if row else None


def save_snapshot(conn: Connection, day: str, rows: list[dict]) -> int:
    """Store (or redo) one day's per-model, per-band summary."""
    upsert(conn, score_snapshots, [dict(r, day=day) for r in rows], ["day", "model", "band"],
           ["people", "pqls", "avg_combined", "rules_hash"])
    return len(rows)


def band_summary(conn: Connection) -> list[dict]:
    """Per model and band: people, PQLs, mean combined score, and one rules hash in use."""
    r = schema.results
    query = (select(r.c.model, r.c.band, func.count(), func.sum(func.cast(r.c.pql, Integer)),
                    func.avg(r.c.combined), func.max(r.c.rules_hash))
             .group_by(r.c.model, r.c.band))
    return [{"model": m, "band": b or "none", "people": n, "pqls": int(p or 0), "avg_combined": float(a or 0),
             "rules_hash": h} for m, b, n, p, a, h in conn.execute(query)]


def dirty_count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(schema.dirty)).scalar()


def people_count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(schema.people)).scalar()


def job_failures(conn: Connection, job: str) -> int | None:
    """Failed runs of one job recorded so far (a running total), or None while the job never ran."""
    row = conn.execute(select(job_runs.c.failures).where(job_runs.c.job == job)).first()
    return None if row is None else int(row[0] or 0)


def snapshots_of(conn: Connection, model: str, since_day: str) -> list[dict]:
    """A model's daily per-band summaries from `since_day` (YYYY-MM-DD) on, oldest first."""
    s = score_snapshots
    rows = conn.execute(select(s).where(s.c.model == model, s.c.day >= since_day).order_by(s.c.day, s.c.band))
    return [dict(row._mapping) for row in rows]
# Long work asked for from the web ("Score everyone now"), done by the worker. On a MetaData of its own: only
# migration 150 creates it (migration 1 builds every table of schema.metadata it does not exclude).
requests_metadata = MetaData()
job_requests = Table(
    "job_requests", requests_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("requested_by", String(320)), Column("requested_at", Float, nullable=False),
    Column("started_at", Float), Column("finished_at", Float), Column("host", String(255)),
    Column("done", Integer, nullable=False, default=0), Column("total", Integer),  # progress, in people
    Column("detail", JSON), Column("error", Text),
    Index("ix_job_requests_job_state", "job", "state"),
)
OPEN_STATES = ("queued", "running")


def create_request_table(conn: Connection) -> None:
    """Migration 150."""
    requests_metadata.create_all(conn)


def request_job(conn: Connection, job: str, requested_by: str | None, now: float | None = None,
                detail: dict | None = None) -> tuple[int, bool]:
    """Queue a request for `job` (with `detail` for the job), or join the one already queued or running:
    (id, whether it is new)."""
    t = job_requests
    open_id = conn.execute(select(t.c.id).where(t.c.job == job, t.c.state.in_(OPEN_STATES))
                           .order_by(t.c.id).limit(1)).scalar()
    if open_id is not None:
        return open_id, False
    result = conn.execute(insert(t).values(job=job, state="queued", requested_by=requested_by,
                                           requested_at=time.time() if now is None else now, done=0,
                                           detail=detail))
    return result.inserted_primary_key[0], True


def claim_request(conn: Connection, job: str, host: str, now: float | None = None) -> dict | None:
    """Take the oldest queued request of `job` (running from now on), or None.

    Only the lease holder runs jobs, one run of a job at a time, so a request still marked running when the job
    starts was cut off (a crash, a lost lease): it is taken again.
    """
    t = job_requests
    conn.execute(update(t).where(t.c.job == job, t.c.state == "running").values(state="queued"))
    row = conn.execute(select(t.c.id).where(t.c.job == job, t.c.state == "queued").order_by(t.c.id).limit(1)).first()
    if row is None:
        return None
    taken = conn.execute(update(t).where(t.c.id == row.id, t.c.state == "queued").values(
        state="running", started_at=time.time() if now is None else now, host=host))
    return request_state(conn, row.id) if taken.rowcount == 1 else None


def record_progress(conn: Connection, request_id: int, done: int, total: int | None) -> None:
    conn.execute(update(job_requests).where(job_requests.c.id == request_id).values(done=done, total=total))


def finish_request(conn: Connection, request_id: int, state: str, detail: dict | None = None,
                   error: str | None = None, now: float | None = None) -> None:
    conn.execute(update(job_requests).where(job_requests.c.id == request_id).values(
        state=state, detail=detail, error=error, finished_at=time.time() if now is None else now))


def request_state(conn: Connection, request_id: int) -> dict | None:
    row = conn.execute(select(job_requests).where(job_requests.c.id == request_id)).first()
    return None if row is None else dict(row._mapping)


def latest_request(conn: Connection, job: str) -> dict | None:
    row = conn.execute(select(job_requests).where(job_requests.c.job == job)
                       .order_by(job_requests.c.id.desc()).limit(1)).first()
    return None if row is None else dict(row._mapping)
