"""How many person partitions a full run's plan runs in, and which. The plan is strictly per person (features
grouped by person, fields and previous results joined by person), so running it over ranges of person ids and
appending the parts gives the very rows of one run. What it saves is memory: the features' hash table holds
every person's aggregate states at once, and past DuckDB's memory limit it spills to disk. Measured on 1M people
and 20M events, conversion model (29 aggregates), 2 threads: the plan took 12.1 s in one part under 384MB,
7.5 s in 3 parts, 7.3 s in 4, 9.2 s in 6, 11.0 s in 8 (each part scanned every event); with 4GB, 5.1 s in one.
Parts are ranges, not residues, so that with the copy's events in person order (clustering) a part's scan skips
the row groups of the other ranges: 4 parts over clustered events took 5.4-6.5 s, residues 6.1-8.5 s."""
from __future__ import annotations

import math
import re

from crm_app.store.columnar.relations import define_views, ident

# Bytes of hash table a person costs, per feature aggregate (plus a few for the key and the row): fitted to the
# measurements above, where a quarter of a million people a part was best under 384MB.
BYTES_PER_AGGREGATE = 40
BASE_AGGREGATES = 4
MAX_PARTS = 16
_UNITS = {"b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


def size_bytes(text: str) -> int | None:
    """'384MB', '384.0 MiB' (as DuckDB prints its settings) -> bytes; None when not a size."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", text or "")
    if not match or match.group(2).lower() not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parts_for(people: int, aggregates: int, memory_bytes: int | None) -> int:
    """Partitions so that one part's aggregate states fit in the memory limit (1 when there is no limit)."""
    if not memory_bytes or people <= 0:
        return 1
    per_person = BYTES_PER_AGGREGATE * (aggregates + BASE_AGGREGATES)
    return max(1, min(MAX_PARTS, math.ceil(people * per_person / memory_bytes)))


def plan_parts(con, aggregates: int) -> int:
    """parts_for the copy's people under the connection's memory limit."""
    people = con.execute("SELECT count(*) FROM people").fetchall()[0][0]
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    return parts_for(people, aggregates, size_bytes(str(limit)))


def person_ranges(con, parts: int) -> list[tuple[int | None, int | None]]:
    """`parts` ranges (low, high) of the copy's person ids with about as many people each; the first has no
    low bound and the last no high one, so together they hold every id."""
    if parts <= 1:
        return [(None, None)]
    cuts = con.execute("SELECT quantile_disc(id, ?) FROM people",
                       [[k / parts for k in range(1, parts)]]).fetchall()[0][0] or []
    bounds = [None, *sorted(set(int(c) for c in cuts if c is not None)), None]
    return list(zip(bounds, bounds[1:]))


def create_in_parts(con, table: str, query: str, parts: int, fields, properties, subjects: str | None = None) -> None:
    """The temp table `table` of the query's rows: with parts > 1, the query runs once per range of person ids
    (the views ev and subj narrowed to it; subj read from `subjects` when given, see define_views) and the
    parts' rows are appended; the views over everyone are defined again after."""
    ranges = person_ranges(con, parts)
    if len(ranges) == 1:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(table)} AS {query}")
        return
    try:
        for k, part in enumerate(ranges):
            define_views(con, fields, properties, None, part=part, subjects=subjects)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(table)} AS {query}" if k == 0 else
                        f"INSERT INTO {ident(table)} {query}")
    finally:
        define_views(con, fields, properties, subjects=subjects)
