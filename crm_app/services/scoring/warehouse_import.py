"""Results the plan-sql query computed in a warehouse, brought back into the store as a local run writes
them: each result rendered, compared by digest with the stored one and written with history only when it
changed; then account roll-ups and segments for the people imported, and a run recorded (mode "import").
Write-back and playbooks read the store's results, so they see exactly what changed."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
from sqlalchemy import select

from crm_app.services.scoring.diff import ModelSummary, top_movers
from crm_app.services.scoring.duck_engine import FETCH, _save
from crm_app.services.scoring.run import ScoreSummary, _after_people
from crm_app.services.scoring.setwise import plannable
from crm_app.services.scoring.warehouse_rows import (BadValue, file_query, locate, select_list, text_columns,
                                                          typed)
from crm_app.specs.rules import RuleSet
from crm_app.store import Store, schema
from crm_app.store.columnar.mirror import forget_epoch
from crm_app.store.scoring import results as results_store


@dataclass
class ImportReport:
    summary: ScoreSummary
    rows: int = 0
    rejected: list = field(default_factory=list)  # (row number from 1, reason)
    left_out: list = field(default_factory=list)  # models of the file not imported, with why


def import_results(store: Store, ruleset: RuleSet, path: str, as_of: int, only=None,
                   dry_run: bool = False) -> ImportReport:
    """Import the result table at `path` scored as of `as_of` (the --as-of plan-sql was given); `only`: the
    --model names plan-sql was given. Bad rows are refused with a reason; the others are written."""
    started = time.time()
    models, _ = plannable([m for m in ruleset.models if only is None or m.name in only])
    summary = ScoreSummary(as_of=as_of, mode="import", dry_run=dry_run, rules_hash=ruleset.hash)
    con = duckdb.connect()
    try:
        query = file_query(path)
        try:
            names = [d[0] for d in con.execute(f"{query} LIMIT 0").description]
        except duckdb.Error as exc:
            raise_unreadable(path, exc)
        found = locate(path, names, models, as_of)
        report = ImportReport(summary, left_out=found.left_out)
        summary.models = {m.name: ModelSummary(m.name) for m in found.plan.models}
        query = file_query(path, text_columns(found))
        cursor = con.execute(f"SELECT {select_list(found)} FROM ({query})")
        columns = [d[0] for d in cursor.description]
        seen, people = set(), []
        while chunk := cursor.fetchmany(FETCH):
            batch = [dict(zip(columns, values)) for values in chunk]
            people += _import_batch(store, found.plan, ruleset.hash, batch, report, seen, dry_run)
    finally:
        con.close()
    for ms in summary.models.values():
        ms.movers = top_movers(ms.movers)
    summary.people = len(people)
    if not dry_run:
        with store.begin() as conn:
            forget_epoch(conn)  # the columnar copies' mirrors reload from the store before they are trusted
    _after_people(store, ruleset, as_of, dry_run, summary, people, [])
    with store.begin() as conn:
        for name, ms in summary.models.items():
            ms.bands = ms.run_bands if dry_run else results_store.band_counts(conn, name)
        summary.seconds = time.time() - started
        first = next(iter(summary.models.values()))
        results_store.record_run(conn, {
            "started_at": int(started), "finished_at": int(time.time()), "as_of": as_of, "mode": "import",
            "dry_run": dry_run, "scored": summary.people, "changed": first.changed,
            "new_pqls": len(first.new_pqls), "rules_hash": ruleset.hash})
    return report


def raise_unreadable(path: str, exc: Exception):
    from crm_app.errors import IngestError
    raise IngestError(f"{path}: cannot be read as a result table ({str(exc).splitlines()[0]})") from exc


def _import_batch(store: Store, plan, rules_hash: str, batch: list, report: ImportReport, seen: set,
                  dry_run: bool) -> list:
    """Check one batch of rows and save each model's good results; return the person ids imported."""
    first = report.rows + 1
    report.rows += len(batch)
    for row in batch:  # a CSV column holding one bad id is read as text
        if isinstance(row["person_id"], str) and row["person_id"].strip().isdigit():
            row["person_id"] = int(row["person_id"])
    ids = [row["person_id"] for row in batch if isinstance(row["person_id"], int)]
    p = schema.people
    with store.read() as conn:
        known = dict(conn.execute(select(p.c.id, p.c.external_id).where(p.c.id.in_(ids))).all()) if ids else {}
    kept = []
    for n, row in enumerate(batch, start=first):
        pid = row["person_id"]
        if pid not in known:
            why = "is not a whole number" if not isinstance(pid, int) else "is not a person in the store"
            report.rejected.append((n, f"person_id {pid!r} {why}"))
        elif pid in seen:
            report.rejected.append((n, f"person_id {pid} appears twice; the first row was kept"))
        else:
            seen.add(pid)
            row["@external_id"] = known[pid]
            kept.append((n, row))
    for model in plan.models:
        good = []
        for n, row in kept:
            try:
                good.append(typed(plan, model, row))
            except BadValue as exc:
                report.rejected.append((n, f"person_id {row['person_id']}: model {model.name}: {exc}"))
        _save(store, plan, model, good, rules_hash, report.summary.models[model.name], dry_run)
    return [row["person_id"] for _, row in kept]
