"""Tables of the DuckDB copy and the relations the set-wise plan reads (ev, subj, prev, scope)."""
from __future__ import annotations

# The copy's schema version: a copy of an older version is dropped and built again from the store.
# 2: events carry no PRIMARY KEY (its in-memory index over every event id outgrew the memory budget at 20M
# events); copy.catch_up_events skips ids already copied by an anti-join over the batch's id range instead.
COPY_SCHEMA = 2
TABLES = (
    ("CREATE TABLE IF NOT EXISTS events (id BIGINT, person_id BIGINT, type_id INTEGER, ts BIGINT, "
     "properties VARCHAR)"),
    ("CREATE TABLE IF NOT EXISTS people (id BIGINT PRIMARY KEY, external_id VARCHAR, email VARCHAR, "
     "email_domain VARCHAR, account_id BIGINT, attributes VARCHAR, created_at BIGINT)"),
    ("CREATE TABLE IF NOT EXISTS accounts (id BIGINT PRIMARY KEY, external_id VARCHAR, name VARCHAR, "
     "domain VARCHAR, attributes VARCHAR)"),
    "CREATE TABLE IF NOT EXISTS event_types (id INTEGER PRIMARY KEY, key VARCHAR)",
    ("CREATE TABLE IF NOT EXISTS prev (model VARCHAR, subject_id BIGINT, pql BOOLEAN, pql_since BIGINT, "
     "pql_first_at BIGINT, h UBIGINT, digest VARCHAR, fit INTEGER, behaviour INTEGER, combined INTEGER, "
     "band VARCHAR, fit_raw INTEGER)"),
    "CREATE TABLE IF NOT EXISTS copy_state (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS catch_ups (stamp BIGINT, max_id BIGINT)",
    "CREATE TABLE IF NOT EXISTS typed_properties (name VARCHAR PRIMARY KEY)",
)
PERSON_COLUMNS = ("external_id", "email", "email_domain", "created_at")  # win over same-named attributes
ACCOUNT_COLUMNS = {"account.id": "external_id", "account.name": "name", "account.domain": "domain"}


PREV_ADDED = (("digest", "VARCHAR"), ("fit", "INTEGER"), ("behaviour", "INTEGER"), ("combined", "INTEGER"),
              ("band", "VARCHAR"), ("fit_raw", "INTEGER"))


def create_tables(con) -> None:
    _drop_older_copy(con)
    for statement in TABLES:
        con.execute(statement)
    _drop_mirror_key(con)
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'prev'").fetchall()}
    missing = [(name, kind) for name, kind in PREV_ADDED if name not in have]
    for name, kind in missing:  # a copy made before the column existed: its mirror reloads from the store
        con.execute(f"ALTER TABLE prev ADD COLUMN {name} {kind}")
    if missing:
        con.execute("DELETE FROM copy_state WHERE key = 'columnar_results_epoch'")


def _drop_mirror_key(con) -> None:
    """The mirror holds one row a (model, subject) because every writer deletes a subject's row before it
    inserts one, in one transaction. It keeps no key: maintaining the key's index made a full run's mirror
    update 5 times slower (1.5 s against 0.25 s for 300,000 results) and its checkpoint heavier. A copy made
    with the key gets its mirror rewritten without it."""
    if not con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'prev' "
                       "AND constraint_type = 'PRIMARY KEY'").fetchall()[0][0]:
        return
    con.execute("CREATE OR REPLACE TABLE prev AS SELECT * FROM prev ORDER BY model, subject_id")


def _drop_older_copy(con) -> None:
    """A copy made by an older schema version loses its tables (they are built again, then caught up from the
    store); a new file just records the version."""
    con.execute("CREATE TABLE IF NOT EXISTS copy_schema (version INTEGER)")
    if con.execute("SELECT max(version) FROM copy_schema").fetchall()[0][0] == COPY_SCHEMA:
        return
    con.execute("BEGIN TRANSACTION")
    for statement in TABLES:
        con.execute(f"DROP TABLE IF EXISTS {statement.split()[5]}")
    con.execute("DELETE FROM copy_schema")
    con.execute("INSERT INTO copy_schema VALUES (?)", [COPY_SCHEMA])
    con.execute("COMMIT")


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def json_path(key: str) -> str:
    return literal('$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"')


def typed_expressions(name: str, source: str = "properties", path: str | None = None) -> dict:
    """The three typed columns of one event property, from its JSON: JSON text, lower text, number.
    `path` defaults to the property's key in `source`; "'$'" reads a source that holds the value's JSON."""
    path = path or json_path(name)
    kind = f"json_type({source}, {path})"
    raw = f"json_extract({source}, {path})"
    return {
        f"j:{name}": f"CAST({raw} AS VARCHAR)",
        f"s:{name}": f"(CASE {kind} WHEN 'VARCHAR' THEN lower(json_extract_string({source}, {path})) "
                     f"WHEN 'NULL' THEN NULL ELSE lower(CAST({raw} AS VARCHAR)) END)",
        f"n:{name}": f"(CASE WHEN {kind} IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST({raw} AS DOUBLE) "
                     f"WHEN {kind} = 'BOOLEAN' THEN (CASE WHEN CAST({raw} AS VARCHAR) = 'true' THEN 1.0 ELSE 0.0 END)"
                     f" END)",
    }


def ensure_typed_properties(con, names) -> None:
    """Add and fill the typed columns of properties not typed yet; new events get them as they are copied."""
    have = {r[0] for r in con.execute("SELECT name FROM typed_properties").fetchall()}
    missing = sorted(set(names) - have)
    for name in missing:
        exprs = typed_expressions(name)
        for column in exprs:
            kind = "DOUBLE" if column.startswith("n:") else "VARCHAR"
            con.execute(f"ALTER TABLE events ADD COLUMN IF NOT EXISTS {ident(column)} {kind}")
        sets = ", ".join(f"{ident(c)} = {e}" for c, e in exprs.items())
        con.execute(f"UPDATE events SET {sets} WHERE properties IS NOT NULL")
        con.execute("INSERT INTO typed_properties VALUES (?)", [name])
    if missing:
        # An UPDATE of every event keeps its new values in memory until a checkpoint writes them to the file:
        # left there, they took nearly all of a 384MB limit and the run's next query ran out of memory.
        con.execute("CHECKPOINT")


def typed_names(con) -> list:
    return sorted(r[0] for r in con.execute("SELECT name FROM typed_properties").fetchall())


def subjects_query(fields, scoped: bool = False) -> str:
    """The subj rows: person_id, created_at and each record field as JSON text, as the store's flat record
    holds it: the person's attributes, then the fixed person columns; for `account.*`, the account's attributes,
    then its columns, when the person has an account, else a person attribute of that dotted name (a lead's
    company fields, say). Each attributes document is parsed once for all its paths (json_extract of a list
    of paths), not once a field: 0.45 s instead of 0.95 s for the 15 fields of the shipped models at 1M people.
    scoped: only the people in the temp table `scope`, and only their accounts' documents are parsed."""
    person = [f for f in fields if f not in PERSON_COLUMNS]
    account = [f for f in fields if f.startswith("account.")]
    paths = lambda names: "[" + ", ".join(json_path(n) for n in names) + "]"  # noqa: E731

    def expression(name: str) -> str:
        if name in PERSON_COLUMNS:
            return f"CAST(to_json(p.{name}) AS VARCHAR)"
        from_person = f"CAST(p.pj[{person.index(name) + 1}] AS VARCHAR)"
        if not name.startswith("account."):
            return from_person
        held = f"a.aj[{account.index(name) + 1}]"  # NULL where the path is missing, JSON null where it holds null
        whens = f"WHEN a.id IS NOT NULL AND {held} IS NOT NULL THEN CAST({held} AS VARCHAR) "
        if name in ACCOUNT_COLUMNS:
            whens += f"WHEN a.id IS NOT NULL THEN CAST(to_json(a.{ACCOUNT_COLUMNS[name]}) AS VARCHAR) "
        return f"(CASE {whens}ELSE {from_person} END)"
    cols = "".join(f", {expression(f)} AS {ident('v:' + f)}" for f in fields)
    pj = f", json_extract(attributes, {paths(person)}) AS pj" if person else ""
    aj = f", json_extract(attributes, {paths([f.split('.', 1)[1] for f in account])}) AS aj" if account else ""
    people, accounts = "", ""
    if scoped:
        people = " WHERE id IN (SELECT person_id FROM scope)"
        accounts = f" WHERE id IN (SELECT account_id FROM people{people})"
    return (f"SELECT p.id AS person_id, p.created_at{cols} FROM (SELECT *{pj} FROM people{people}) p "
            f"LEFT JOIN (SELECT *{aj} FROM accounts{accounts}) a ON a.id = p.account_id")


SUBJECTS = "subj_everyone"  # everyone's subj rows of a run, fields extracted (materialise_subjects)


def materialise_subjects(con, fields) -> None:
    """Everyone's subj rows as the temp table SUBJECTS, and the view subj over it: each field's JSON is then
    extracted once a run, where the lists of values and every part of the plan would each extract it again."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SUBJECTS} AS {subjects_query(fields)}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW subj AS SELECT * FROM {SUBJECTS}")


def define_views(con, fields, properties, scope_ids=None, part: tuple[int | None, int | None] | None = None,
                 subjects: str | None = None) -> None:
    """The plan's relations as views over the copy; `scope_ids` narrows a run to those people, whose events and
    fields are then read once into small temp tables, so planning and the query never scan everyone again.
    part (low, high): only the people with low <= id < high (None: no bound), for everyone's run in parts.
    subjects: the table materialise_subjects made, read for everyone's subj rows instead of the people."""
    con.execute("CREATE OR REPLACE TEMP TABLE scope (person_id BIGINT)")
    if scope_ids is not None:
        con.execute("INSERT INTO scope SELECT unnest(?)", [list(scope_ids)])
    props = ", ".join(f"{ident(c)}" for name in properties for c in typed_expressions(name))
    events = f"SELECT person_id, type_id, ts{', ' + props if props else ''} FROM events WHERE person_id IS NOT NULL"
    if scope_ids is None:
        people = f"SELECT * FROM {ident(subjects)}" if subjects is not None else subjects_query(fields)
        low, high = part or (None, None)
        bounds = ([f">= {int(low)}"] if low is not None else []) + ([f"< {int(high)}"] if high is not None else [])
        if bounds:
            events += "".join(f" AND person_id {b}" for b in bounds)
            people = f"SELECT * FROM ({people}) WHERE " + " AND ".join(f"person_id {b}" for b in bounds)
        con.execute(f"CREATE OR REPLACE TEMP VIEW ev AS {events}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW subj AS {people}")
        return
    # ev_scoped holds each property's JSON text alone; the view derives the other typed columns from it for the
    # few rows read. Reading a column of the scope's events costs about a scan of it whatever the scope (their
    # rows lie in every block): only the columns the plan reads, and one a property, not three.
    json_columns = "".join(f", {ident('j:' + name)}" for name in properties)
    con.execute(f"CREATE OR REPLACE TEMP TABLE ev_scoped AS SELECT person_id, type_id, ts{json_columns} "
                "FROM events WHERE person_id IN (SELECT person_id FROM scope)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE subj_scoped AS {subjects_query(fields, scoped=True)}")
    derived = "".join(f", {expr} AS {ident(column)}" for name in properties
                      for column, expr in typed_expressions(name, ident("j:" + name), "'$'").items()
                      if not column.startswith("j:"))
    con.execute(f"CREATE OR REPLACE TEMP VIEW ev AS SELECT *{derived} FROM ev_scoped")
    con.execute("CREATE OR REPLACE TEMP VIEW subj AS SELECT * FROM subj_scoped")


def distinct_lists(con, relation: str, columns, scoped: bool = False) -> dict:
    """column -> its distinct values in ev or subj (NULL aside), all columns in one scan: one grouping set a
    column, whose hash tables spill (a `list(DISTINCT ...)` a column kept its state outside the memory limit,
    and 14 of them over 1M people ran out of it under 384MB). A row of a column's set holds NULL in every
    other column."""
    columns = list(columns)
    if not columns:
        return {}
    where = " WHERE person_id IN (SELECT person_id FROM scope)" if scoped else ""
    names = [ident(c) for c in columns]
    found: dict = {c: [] for c in columns}
    for row in con.execute(f"SELECT {', '.join(names)} FROM {relation}{where} "
                           f"GROUP BY GROUPING SETS ({', '.join(f'({n})' for n in names)})").fetchall():
        for column, value in zip(columns, row):
            if value is not None:
                found[column].append(value)
    return found


def distinct_values(con, relation: str, column: str, scoped: bool = False) -> list:
    """The distinct values of a column of ev or subj (scoped: among the people in `scope` only)."""
    where = " WHERE person_id IN (SELECT person_id FROM scope)" if scoped else ""
    return [r[0] for r in con.execute(f"SELECT DISTINCT {ident(column)} FROM {relation}{where}").fetchall()]


# Every character Python's str.strip() removes: a text of only these is blank to the engine's operators.
WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())


def blank_texts(con, relation: str, column: str, scoped: bool = False) -> list:
    """The distinct JSON texts of a column of subj that may hold no value: null, an empty list, a string of
    whitespace only (a superset: the caller decides each with the engine's own predicate)."""
    where = " AND person_id IN (SELECT person_id FROM scope)" if scoped else ""
    c = ident(column)
    text = f"ltrim({c}, ' \t\n\r')"  # JSON's own whitespace may lead a text
    # A blank string's text opens with a quote followed by whitespace, an escape or the closing quote. A text
    # opening with a quote and any other character (an id, a name: most texts of a filled field) is ruled out
    # first by two cheap tests; only the rest meet the trims and the JSON parse.
    marks = literal(WHITESPACE + chr(92) + chr(34))
    ordinary = f"(starts_with({c}, '\"') AND strpos({marks}, substr({c}, 2, 1)) = 0)"
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT {c} FROM {relation} WHERE {c} IS NOT NULL AND NOT {ordinary} "
        f"AND (trim({text}, ' \t\n\r') = 'null' "
        f"OR (left({text}, 1) = '[' AND json_array_length({c}) = 0) OR (left({text}, 1) = '\"' "
        f"AND strpos({marks}, substr({text}, 2, 1)) > 0 "
        f"AND length(trim(json_extract_string({c}, '$'), {literal(WHITESPACE)})) = 0)){where}").fetchall()]
