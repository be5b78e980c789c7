"""Account scores (PQA): account models over the account's own fields plus rollups of its people's results.

Rollups are set-wise: one GROUP BY per person model over the stored results of people, for a range of
accounts at a time; never one query per account. A person model's rollup appears in the account record as
`people.<model>.<measure>`; see docs/accounts-and-health.md, "Account scores (PQA)".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from crm_app.engine import evaluate
from crm_app.engine.plan import activity_key, score_key
from crm_app.services.scoring.diff import HISTORY_FIELDS, ModelSummary, result_row
from crm_app.services.scoring.propensity import score_subjects
from crm_app.specs.rules import RuleSet
from crm_app.store import Store
from crm_app.store.scoring import results as results_store
from crm_app.store.scoring import rollups

CHUNK = 50_000
SEAT_FIELDS = ("seats", "seat_limit", "licensed_seats")  # account attribute holding the paid seats


@dataclass
class AccountRunSummary:
    accounts: int = 0
    changed: dict = field(default_factory=dict)  # model -> changed results
    bands: dict = field(default_factory=dict)  # model -> band -> accounts scored in this run
    new_pqas: dict = field(default_factory=dict)  # model -> [account external id]
    seconds: float = 0.0
    rollup_seconds: float = 0.0


def account_models(ruleset: RuleSet) -> list:
    return [m for m in ruleset.models if m.subject == "account"]


def person_model_names(ruleset: RuleSet) -> list:
    return [m.name for m in ruleset.models if m.subject == "person"]


def _seats(record: dict):
    for name in SEAT_FIELDS:
        value = record.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return value
    return None


def add_rollups(record: dict, model: str, rollup: dict | None) -> None:
    """Put one person model's rollup into an account record as people.<model>.<measure>."""
    rollup = rollup or {"people": 0, "pql_users": 0, "active_users_7d": 0, "active_users_30d": 0}
    for key, value in rollup.items():
        if key != "last_activity":
            record[f"people.{model}.{key}"] = value
    seats = _seats(record)
    if seats:
        record[f"people.{model}.seat_share_active"] = round(rollup.get("active_users_30d", 0) / seats, 3)


def records_with_rollups(conn, sources: list, as_of: int, lo: int, hi: int, only=None) -> tuple[dict, dict]:
    """(account id -> record with people.<model>.* rollups, account id -> last product activity of anyone)."""
    records = rollups.account_records(conn, lo, hi, only)
    last_activity: dict = {}
    for source in sources:
        for account_id, rollup in rollups.person_rollups(conn, source, as_of, lo, hi, only).items():
            if account_id in records:
                add_rollups(records[account_id], source, rollup)
                last = rollup.get("last_activity")
                if last is not None and last > last_activity.get(account_id, -1):
                    last_activity[account_id] = last
    for record in records.values():
        for source in sources:
            if f"people.{source}.people" not in record:
                add_rollups(record, source, None)
    return records, last_activity


def account_batches(store: Store, chunk: int, people: list | None = None) -> list:
    """(lo, hi, only) batches: every account in id ranges, or only the accounts of the given people."""
    with store.read() as conn:
        if people is None:
            lo, hi = rollups.account_id_bounds(conn)
            return [(start, min(hi, start + chunk - 1), None) for start in range(lo, hi + 1, chunk)]
        ids = rollups.accounts_of_people(conn, people)
    return [(part[0], part[-1], part) for part in (ids[i:i + 5000] for i in range(0, len(ids), 5000))]


def score_accounts(store: Store, ruleset: RuleSet, as_of: int, dry_run: bool = False,
                   chunk: int = CHUNK, people: list | None = None, live=()) -> AccountRunSummary:
    """Score every account model, rules and live propensity models (`live`), for every account (or the accounts
    of `people`); save what changed."""
    started = time.time()
    summary = AccountRunSummary()
    models, sources = account_models(ruleset), person_model_names(ruleset)
    if not models and not live:
        return summary
    for start, end, only in account_batches(store, chunk, people):
        with store.read() as conn:
            t0 = time.time()
            records, last_activity = records_with_rollups(conn, sources, as_of, start, end, only)
            summary.rollup_seconds += time.time() - t0
            rows, history = _evaluate_range(conn, models, records, last_activity, as_of, ruleset.hash, summary,
                                            only)
            removed = _score_propensity(conn, live, records, as_of, start, end, only, summary, rows, history)
        summary.accounts += len(records)
        if not dry_run and (rows or removed):
            with store.begin() as conn:
                results_store.save_results(conn, rows, history)
                results_store.delete_results(conn, removed)
    summary.seconds = time.time() - started
    return summary


def _score_propensity(conn, live: list, records: dict, as_of: int, lo: int, hi: int, only,
                      summary: AccountRunSummary, rows: list, history: list) -> list:
    """Live account propensity models over one range of accounts; returns (model, account id) departures."""
    removed = []
    for model in live:
        tally = ModelSummary(model.name)
        scored = score_subjects(conn, model, records, {}, as_of, lo, hi, only, tally)
        rows.extend(scored.rows)
        history.extend(scored.history)
        removed.extend((model.name, aid) for aid in scored.removed)
        if tally.changed:
            summary.changed[model.name] = summary.changed.get(model.name, 0) + tally.changed
        bands = summary.bands.setdefault(model.name, {})
        for band, n in tally.run_bands.items():
            bands[band] = bands.get(band, 0) + n
    return removed


def _evaluate_range(conn, models: list, records: dict, last_activity: dict, as_of: int, rules_hash: str,
                    summary: AccountRunSummary, only=None) -> tuple[list, list]:
    """Evaluate each account model over one range of accounts; return changed rows and history rows."""
    rows, history = [], []
    ids = sorted(records)
    lo, hi = (ids[0], ids[-1]) if ids else (0, -1)
    features = {aid: {} for aid in ids}
    for model in models:
        previous = results_store.previous_results(conn, model.name, lo, hi, only)
        key = activity_key(model)
        bands = summary.bands.setdefault(model.name, {})
        for aid in ids:
            feats = features[aid]
            if aid in last_activity:
                feats[key] = last_activity[aid]
            before = previous.get(aid)
            result = evaluate(model, records[aid], feats, as_of, before)
            feats[score_key(model.name)] = result.combined
            row = result_row(result, aid, rules_hash)
            bands[row["band"]] = bands.get(row["band"], 0) + 1
            if before is not None and row["digest"] == before["digest"]:
                continue
            summary.changed[model.name] = summary.changed.get(model.name, 0) + 1
            if row["pql"] and not (before and before.get("pql")):
                summary.new_pqas.setdefault(model.name, []).append(records[aid]["external_id"])
            rows.append(row)
            if before is None or any(row[c] != before.get(c) for c in HISTORY_FIELDS):
                history.append(row)
    return rows, history
