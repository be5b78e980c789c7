"""File imports: events (JSONL, CSV), people and accounts (CSV), rolled-up metrics (CSV)."""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from crm_app.errors import IngestError
from crm_app.services.ingest.values import loads
from crm_app.services.ingest.writer import IngestReport, ingest_messages
from crm_app.services.ingest.messages import parse_timestamp
from crm_app.specs.mapping import ImportMapping
from crm_app.store import Store
from crm_app.store import events as event_store
from crm_app.store import people as people_store

BATCH = 2000
ID_COLUMNS = ("id", "user_id", "userid", "external_id", "person_id")
ACCOUNT_ID_COLUMNS = ("id", "account_id", "group_id", "groupid", "external_id", "workspace_id")


def _progress(path: Path, quiet: bool):
    size = path.stat().st_size
    return tqdm(total=size, unit="B", unit_scale=True, desc=f"importing {path.name}",
                disable=quiet or size < 5_000_000)


def import_events(store: Store, path: Path, quiet: bool = False, mapping: ImportMapping | None = None
                  ) -> IngestReport:
    """Import a JSONL (one Segment message per line) or CSV event export; bad lines are reported by line.

    With a mapping that names `event` and `timestamp` (and `id` for the user), each row of any shape becomes
    a track message: those keys give the name, time and user, every other key a property.
    """
    report = IngestReport()
    batch, lines = [], []
    with open(path, encoding="utf-8", newline="") as handle, _progress(path, quiet) as bar:
        for line_no, raw in _event_rows(path, handle, report):
            if mapping is not None and mapping.maps_events:
                raw = mapped_event(raw, mapping)
            batch.append(raw)
            lines.append(line_no)
            if len(batch) >= BATCH:
                report.merge(ingest_messages(store, batch, f"file:{path.name}", "track", positions=lines))
                bar.update(handle.buffer.tell() - bar.n)  # text tell() fails while csv iterates
                batch, lines = [], []
        if batch:
            report.merge(ingest_messages(store, batch, f"file:{path.name}", "track", positions=lines))
        bar.update(max(0, path.stat().st_size - bar.n))
    return report


def _event_rows(path: Path, handle, report: IngestReport):
    """(line number, message dict) for each row of the file; unparseable lines go to the report."""
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, _csv_event(row)
        return
    line_no = 0
    while True:
        text = handle.readline()
        if not text:
            break
        line_no += 1
        if not text.strip():
            continue
        try:
            yield line_no, loads(text)  # values no backend stores are refused per line, with a reason
        except IngestError as exc:
            report.rejected.append({"index": line_no, "reason": str(exc)})


def mapped_event(row: dict, mapping: ImportMapping) -> dict:
    """A row of a foreign event log as a Segment track message, through the mapping's key names."""
    if not isinstance(row, dict):
        return row  # refused by the Segment validation with its reason
    user_key = mapping.id_column or "userId"
    used = {user_key, mapping.event_key, mapping.timestamp_key, *mapping.skip}
    user = row.get(user_key)
    return {"type": "track", "userId": None if user in (None, "") else str(user), "event": row.get(mapping.event_key),
            "timestamp": _typed(row.get(mapping.timestamp_key), ("",)) if isinstance(row.get(mapping.timestamp_key), str)
            else row.get(mapping.timestamp_key),
            "properties": {mapping.field_name(k) if mapping.fields else k: v for k, v in row.items() if k not in used}}


def _csv_event(row: dict) -> dict:
    """A CSV row as a track message: known Segment columns, every other column a property."""
    lower = {k.strip(): v for k, v in row.items() if k}
    message = {"type": "track", "properties": {}}
    aliases = {"userId": ("userId", "user_id"), "anonymousId": ("anonymousId", "anonymous_id"),
               "event": ("event", "event_name"), "timestamp": ("timestamp", "ts", "time"),
               "messageId": ("messageId", "message_id")}
    used = set()
    for key, names in aliases.items():
        for name in names:
            if lower.get(name):
                message[key] = lower[name]
                used.add(name)
                break
    for key, value in lower.items():
        if key not in used and key not in sum(aliases.values(), ()) and value not in ("", None):
            message["properties"][key.removeprefix("properties.")] = _typed(value, ("",))
    return message


def _typed(value, missing: tuple):
    """CSV text -> None, int, float or the trimmed text."""
    if value is None:
        return None
    text = str(value).strip()
    if text in missing:
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def _find_column(header: list, configured: str | None, candidates: tuple, path: Path, what: str):
    if configured:
        if configured not in header:
            raise IngestError(f"{path}:1: the mapping names column {configured!r} for {what}, "
                              f"but the header has: {', '.join(header)}")
        return configured
    for column in header:
        if column.strip().lower().replace(" ", "_") in candidates:
            return column
    raise IngestError(f"{path}:1: no column for {what}; name one with --mapping (id: COLUMN) "
                      f"or call a column one of: {', '.join(candidates)}")


@dataclass
class ImportReport:
    """Rows stored, and each refused row with its line and reason (the good rows are kept)."""

    imported: int = 0
    rejected: list = field(default_factory=list)  # {"index": line, "reason": text}


def import_records(store: Store, path: Path, kind: str, mapping: ImportMapping | None = None,
                   quiet: bool = False) -> ImportReport:
    """Import people or accounts from CSV; every column becomes a field of the record."""
    mapping = mapping or ImportMapping()
    report = ImportReport()
    with open(path, encoding="utf-8-sig", newline="") as handle, _progress(path, quiet) as bar:
        reader = csv.DictReader(handle)
        header = [h for h in reader.fieldnames or [] if h]
        id_col = _find_column(header, mapping.id_column, ID_COLUMNS if kind == "people" else ACCOUNT_ID_COLUMNS,
                              path, f"the {kind} id")
        email_col = mapping.email_column or next((h for h in header if h.strip().lower() == "email"), None)
        batch = []
        for row in reader:
            ident = (row.get(id_col) or "").strip()
            if not ident:
                report.rejected.append({"index": reader.line_num, "reason": f"column {id_col!r} is empty; "
                                        "every row needs an id"})
                continue
            attributes = {mapping.field_name(c): _typed(v, mapping.missing_values) for c, v in row.items()
                          if c and c not in (id_col, email_col, mapping.account_column) and c not in mapping.skip}
            record = {"external_id": ident, "attributes": {k: v for k, v in attributes.items() if v is not None}}
            if kind == "people":
                record["email"] = (row.get(email_col) or "").strip() or None if email_col else None
                record["account"] = (row.get(mapping.account_column) or "").strip() or None \
                    if mapping.account_column else None
            else:
                record["name"] = record["attributes"].get("name")
                record["domain"] = record["attributes"].get("domain")
            batch.append(record)
            if len(batch) >= BATCH:
                report.imported += _store_records(store, kind, batch)
                bar.update(handle.buffer.tell() - bar.n)  # text tell() fails while csv iterates
                batch = []
        report.imported += _store_records(store, kind, batch)
    return report


def _store_records(store: Store, kind: str, batch: list) -> int:
    if not batch:
        return 0
    with store.begin() as conn:
        if kind == "accounts":
            people_store.upsert_accounts(conn, batch)
            return len(batch)
        wanted = sorted({r["account"] for r in batch if r.get("account")})
        accounts = people_store.account_ids(conn, wanted)
        missing = [a for a in wanted if a not in accounts]
        if missing:
            accounts.update(people_store.upsert_accounts(conn, [{"external_id": a} for a in missing]))
        rows = [{"external_id": r["external_id"], "email": r.get("email"), "attributes": r["attributes"],
                 "account_id": accounts.get(r.get("account"))} for r in batch]
        people_store.upsert_people(conn, rows)
    return len(batch)


def import_metrics(store: Store, path: Path, mapping: ImportMapping | None = None, as_of: int | None = None,
                   quiet: bool = False) -> ImportReport:
    """Import per-person metrics: wide (one column per metric) or long (user_id, metric, value[, as_of])."""
    mapping = mapping or ImportMapping()
    as_of = int(time.time()) if as_of is None else as_of
    report = ImportReport()
    with open(path, encoding="utf-8-sig", newline="") as handle, _progress(path, quiet) as bar:
        reader = csv.DictReader(handle)
        header = [h for h in reader.fieldnames or [] if h]
        id_col = _find_column(header, mapping.id_column, ID_COLUMNS, path, "the person id")
        lowered = {h.strip().lower(): h for h in header}
        long_form = "metric" in lowered and "value" in lowered
        as_of_col = mapping.as_of_column or lowered.get("as_of")
        batch = []
        for row in reader:
            try:
                batch.extend(_metric_row(row, reader.line_num, id_col, as_of_col, as_of, long_form, lowered,
                                         mapping))
            except IngestError as exc:
                report.rejected.append({"index": reader.line_num, "reason": str(exc)})
            if len(batch) >= BATCH:
                report.imported += _store_metrics(store, batch)
                bar.update(handle.buffer.tell() - bar.n)  # text tell() fails while csv iterates
                batch = []
        report.imported += _store_metrics(store, batch)
    return report


def _metric_row(row: dict, line: int, id_col: str, as_of_col, as_of: int, long_form: bool, lowered: dict,
                mapping: ImportMapping) -> list:
    """(person, metric, as_of, value) tuples of one CSV row; IngestError names what is wrong."""
    stamp = parse_timestamp(row[as_of_col], "as_of") if as_of_col and row.get(as_of_col) else as_of
    person = (row.get(id_col) or "").strip()
    if not person:
        raise IngestError(f"column {id_col!r} is empty; every row needs an id")
    pairs = ([(row[lowered["metric"]], row[lowered["value"]])] if long_form else
             [(mapping.field_name(c), v) for c, v in row.items()
              if c and c not in (id_col, as_of_col) and c not in mapping.skip])
    out = []
    for name, value in pairs:
        number = _typed(value, mapping.missing_values)
        if number is None:
            continue
        if not isinstance(number, (int, float)):
            raise IngestError(f"metric {name!r} has {value!r}, not a number")
        out.append((person, str(name).strip(), stamp, float(number)))
    return out


def _store_metrics(store: Store, batch: list) -> int:
    if not batch:
        return 0
    with store.begin() as conn:
        ids = people_store.ensure_people(conn, [b[0] for b in batch])
        rows = {(ids[p], n, t): v for p, n, t, v in batch}
        event_store.upsert_metrics(conn, [{"person_id": p, "name": n, "as_of": t, "value": v}
                                          for (p, n, t), v in rows.items()])
    return len(rows)
