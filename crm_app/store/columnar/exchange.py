"""The copy's relations handed to another engine as Parquet files, and the results mirror updated from the
changed rows that engine sends back.

Parquet column names are kept plain (c0, c1, ...): the plan's names (`j:plan`, `v:account.industry`) hold
characters some Parquet writers and readers refuse, so each file comes with its column map.
"""
from __future__ import annotations

import os

from crm_app.store.columnar.relations import define_views, ident, literal
from crm_app.store.columnar.sources import define_events

# relation -> the query whose rows the file holds (the temp views define_views made)
_RELATIONS = {
    "ev": "SELECT * FROM ev",
    "subj": "SELECT * FROM subj",
    "prev": "SELECT model, subject_id, pql, pql_since, pql_first_at, CAST(h AS VARCHAR) AS h FROM prev",
    "scope": "SELECT person_id FROM scope",
    "event_types": "SELECT id, key FROM event_types",
    "people": "SELECT id, external_id FROM people",
}


def export_relations(con, folder: str, fields, properties, scope_ids=None, events=None) -> dict:
    """{relation: (parquet path, [(file column, plan column), ...])} for the plan's relations; `events` (a
    sources.EventSource) reads the events from elsewhere than the store."""
    define_views(con, fields, properties, scope_ids)
    if events is not None:
        define_events(con, events, properties)
    out = {}
    for name, query in _RELATIONS.items():
        names = [d[0] for d in con.execute(f"SELECT * FROM ({query}) LIMIT 0").description]
        mapping = [(f"c{i}", column) for i, column in enumerate(names)]
        select = ", ".join(f"{ident(column)} AS {plain}" for plain, column in mapping)
        path = os.path.join(folder, f"{name}.parquet")
        con.execute(f"COPY (SELECT {select} FROM ({query})) TO {literal(path)} (FORMAT PARQUET)")
        out[name] = (path, mapping)
    return out


def record_changed(con, model: str, kept: list, dropped: list) -> None:
    """The mirror after a run elsewhere: kept = [(subject id, pql, pql_since, pql_first_at, hash, fit, behaviour,
    combined, band, digest)], dropped = subject ids that left the model's population."""
    gone = [k[0] for k in kept] + list(dropped)
    if not gone:
        return
    columns = [list(c) for c in zip(*kept)]
    con.execute("BEGIN TRANSACTION")  # the mirror keeps no key: a subject's row goes before its new one comes
    try:
        con.execute("DELETE FROM prev WHERE model = ? AND subject_id IN (SELECT unnest(?::BIGINT[]))", [model, gone])
        if kept:
            con.execute("INSERT INTO prev (subject_id, pql, pql_since, pql_first_at, h, fit, behaviour, combined, "
                        "band, digest, model) SELECT unnest(?::BIGINT[]), unnest(?::BOOLEAN[]), "
                        "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::UBIGINT[]), unnest(?::INTEGER[]), "
                        "unnest(?::INTEGER[]), unnest(?::INTEGER[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ?",
                        [*columns, model])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
