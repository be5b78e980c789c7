"""Person and account fields as of a past moment in the DuckDB copy: field history loaded once, today's values
replaced by the value known then, exactly as store.field_history.values_as_of reads it. An `account.*` field
reads its account's history, through the account each person belongs to now, or, for people whose account link
has history, through the account they belonged to at each moment (columnar.moves).

Per (person, field): the latest row at or before the moment; else the earliest `initial` row (the first known
value stands for the time before anything was recorded); else today's value. A None value is a missing field.
"""
from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select

from crm_app.store.columnar import moves, segments_today
from crm_app.store.columnar.relations import ident, literal, subjects_query
from crm_app.store.field_history import field_history

BATCH = 50_000


def load(con, conn, fields) -> int:
    """Copy the field history of these fields into the temp table `fh` (account fields under each member's
    person id); return how many history rows were read."""
    con.execute("CREATE OR REPLACE TEMP TABLE fh (subject_id BIGINT, field VARCHAR, valid_from BIGINT, "
                "value VARCHAR, initial BOOLEAN)")
    person_fields = [f for f in fields if not f.startswith("account.")]
    account_keys = {f.split(".", 1)[1]: f for f in fields if f.startswith("account.")}
    loaded = _copy(con, conn, "person", person_fields, "fh")
    if "segments" in person_fields:
        segments_today.load(con, conn)
    if account_keys:
        con.execute("CREATE OR REPLACE TEMP TABLE fh_account AS SELECT * FROM fh WHERE false")
        loaded += _copy(con, conn, "account", list(account_keys), "fh_account")
        renamed = "CASE h.field " + " ".join(f"WHEN {literal(k)} THEN {literal(f)}" for k, f in account_keys.items())
        moved = moves.load(con, conn, _copy, account_keys, renamed)
        con.execute(f"INSERT INTO fh SELECT p.id, {renamed} END, h.valid_from, h.value, h.initial "
                    "FROM fh_account h JOIN people p ON p.account_id = h.subject_id"
                    + (" WHERE p.id NOT IN (SELECT subject_id FROM fl)" if moved else ""))
        con.execute("DROP TABLE fh_account")
        loaded += moved
    return loaded


def _copy(con, conn, kind: str, fields: list, table: str) -> int:
    if not fields:
        return 0
    h = field_history
    query = (select(h.c.subject_id, h.c.field, h.c.valid_from, h.c.value, h.c.initial)
             .where(h.c.subject_kind == kind, h.c.field.in_(list(fields))))
    loaded = 0
    for part in conn.execution_options(yield_per=BATCH).execute(query).partitions(BATCH):
        batch = {"subject_id": np.array([r[0] for r in part], dtype=np.int64),
                 "field": np.array([r[1] for r in part], dtype=object),
                 "valid_from": np.array([r[2] for r in part], dtype=np.int64),
                 "value": np.array([None if r[3] is None else json.dumps(r[3]) for r in part], dtype=object),
                 "initial": np.array([bool(r[4]) for r in part], dtype=bool)}
        con.register("fh_part", batch)
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM fh_part")
        finally:
            con.unregister("fh_part")
        loaded += len(part)
    return loaded


def define_today(con, fields) -> None:
    """`subj_today`: one row per person with today's value of each field (the plan's subj, materialised); the
    view `subj` gives way to the views define_subj_as_of makes."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE subj_today AS {subjects_query(fields)}")
    con.execute("DROP VIEW IF EXISTS subj")


def define_subj_as_of(con, fields, as_of: int) -> None:
    """The plan's `subj` relation as of a moment (define_today comes first): a view of subj_today with the values
    known then of the subjects that have history, so no moment copies everyone."""
    if not fields:
        con.execute("CREATE OR REPLACE TEMP VIEW subj AS SELECT * FROM subj_today")
        return
    t = int(as_of)
    picked = ("SELECT subject_id, field, "
              f"arg_max({{'v': value}}, valid_from) FILTER (WHERE valid_from <= {t}) AS known, "
              "arg_min({'v': value}, valid_from) FILTER (WHERE initial) AS earliest "
              "FROM fh GROUP BY subject_id, field")
    pivot = ", ".join(
        f"bool_or(field = {literal(f)} AND (known IS NOT NULL OR earliest IS NOT NULL)) AS {ident('has:' + f)}, "
        f"max(CASE WHEN field = {literal(f)} THEN coalesce(known, earliest).v END) AS {ident('v:' + f)}"
        for f in fields)
    cols = ", ".join(f"CASE WHEN h.{ident('has:' + f)} THEN h.{ident('v:' + f)} ELSE t.{ident('v:' + f)} END "
                     f"AS {ident('v:' + f)}" for f in fields)
    con.execute(f"CREATE OR REPLACE TEMP TABLE subj_then AS WITH picked AS ({picked}) "
                f"SELECT subject_id, {pivot} FROM picked GROUP BY subject_id")
    con.execute(f"CREATE OR REPLACE TEMP VIEW subj AS SELECT t.person_id, t.created_at, {cols} FROM subj_today t "
                "LEFT JOIN subj_then h ON h.subject_id = t.person_id")


def values_ever(con, field: str) -> list:
    """Every JSON text the field holds today (subj_today) or held in its history (None included)."""
    column = ident("v:" + field)
    return [r[0] for r in con.execute(f"SELECT {column} FROM subj_today UNION SELECT value FROM fh WHERE field = ?",
                                      [field]).fetchall()]
