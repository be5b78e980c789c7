"""People who moved between accounts, in the DuckDB copy: their `account.*` fields as one timeline per field
over the accounts they belonged to, as person rows of `fh` (the plan's field history), so define_subj_as_of
reads them exactly as store.membership and store.field_history read them per person.

Membership rows (`fl`, from the link history) cut time into intervals, the first one open to the past. In each,
the field follows that account's history: the first interval takes the account's initial rows and its changes
before the interval ends; a later one starts with the account's value at its start (its latest change by then,
else its first known value, else today's value) and takes its changes inside. No account: the field is absent.
"""
from __future__ import annotations

from crm_app.store.columnar.relations import ACCOUNT_COLUMNS, json_path, literal

END = 2 ** 62  # an open interval's end


def load(con, conn, copy, account_keys: dict, renamed: str) -> int:
    """Fill `fl` with the link history and add the moved people's timelines to `fh` (renamed: the CASE that
    turns an account key into its `account.*` field over `h.field`); return how many link rows were read."""
    con.execute("CREATE OR REPLACE TEMP TABLE fl AS SELECT * FROM fh WHERE false")
    loaded = copy(con, conn, "link", ["account"], "fl")
    if not loaded:
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE fl_iv AS SELECT subject_id AS person_id, "
                "TRY_CAST(value AS BIGINT) AS account_id, row_number() OVER w = 1 AS first, valid_from AS s, "
                f"coalesce(lead(valid_from) OVER w, {END}) AS e FROM fl "
                "WINDOW w AS (PARTITION BY subject_id ORDER BY valid_from)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE fl_h AS SELECT subject_id, {renamed} END AS field, valid_from, "
                "value, initial FROM fh_account h")
    today = " UNION ALL ".join(
        f"SELECT a.id AS account_id, {literal(f)} AS field, {_today(k, f)} AS value FROM accounts a "
        f"WHERE a.id IN (SELECT account_id FROM fl_iv)" for k, f in account_keys.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE fl_today AS {today}")
    names = " UNION ALL ".join(f"SELECT {literal(f)} AS field" for f in account_keys.values())
    con.execute(  # the account's own rows inside each interval
        "INSERT INTO fh SELECT i.person_id, h.field, h.valid_from, h.value, h.initial AND i.first "
        "FROM fl_iv i JOIN fl_h h ON h.subject_id = i.account_id "
        "WHERE (i.first AND (h.initial OR h.valid_from < i.e)) "
        "OR (NOT i.first AND NOT h.initial AND h.valid_from > i.s AND h.valid_from < i.e)")
    con.execute(  # the first interval of an account without history of the field: today's value, from the start
        f"INSERT INTO fh SELECT i.person_id, n.field, i.s, t.value, TRUE FROM fl_iv i CROSS JOIN ({names}) n "
        "LEFT JOIN fl_today t ON t.account_id = i.account_id AND t.field = n.field "
        "WHERE i.first AND NOT EXISTS (SELECT 1 FROM fl_h h WHERE h.subject_id = i.account_id AND h.field = n.field)")
    con.execute(  # each later interval starts with its account's value at that moment
        "INSERT INTO fh SELECT i.person_id, n.field, i.s, coalesce(k.known, k.earliest, {'v': t.value}).v, FALSE "
        f"FROM fl_iv i CROSS JOIN ({names}) n "
        "LEFT JOIN (SELECT i2.person_id, i2.s, h.field, "
        "arg_max({'v': h.value}, h.valid_from) FILTER (WHERE h.valid_from <= i2.s) AS known, "
        "arg_min({'v': h.value}, h.valid_from) FILTER (WHERE h.initial) AS earliest "
        "FROM fl_iv i2 JOIN fl_h h ON h.subject_id = i2.account_id WHERE NOT i2.first "
        "GROUP BY i2.person_id, i2.s, h.field) k ON k.person_id = i.person_id AND k.s = i.s AND k.field = n.field "
        "LEFT JOIN fl_today t ON t.account_id = i.account_id AND t.field = n.field WHERE NOT i.first")
    con.execute("DROP TABLE fl_iv")
    con.execute("DROP TABLE fl_h")
    con.execute("DROP TABLE fl_today")
    return loaded


def _today(key: str, field: str) -> str:
    """An account's value of one field today as JSON text, as relations.subjects_query reads it for members."""
    path = json_path(key)
    column = f"WHEN true THEN CAST(to_json(a.{ACCOUNT_COLUMNS[field]}) AS VARCHAR) " if field in ACCOUNT_COLUMNS else ""
    return (f"(CASE WHEN json_exists(a.attributes, {path}) THEN CAST(json_extract(a.attributes, {path}) AS VARCHAR) "
            f"{column}END)")
