"""People's `segments` in the DuckDB copy's field history: people whose segment list has no history yet get
today's list as their first known value (an initial row), so the plan reads `segments` from segment membership
as the per-person records do (store.people.flat_records), not from a person attribute."""
from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select

from crm_app.store.scoring.segments import segment_members


def load(con, conn) -> int:
    """Add the initial rows to `fh`; return how many people got one."""
    t = segment_members
    lists: dict = {}
    for sid, seg in conn.execute(select(t.c.subject_id, t.c.segment).where(t.c.subject == "person")):
        lists.setdefault(sid, []).append(seg)
    if not lists:
        return 0
    ids = sorted(lists)
    batch = {"subject_id": np.array(ids, dtype=np.int64),
             "value": np.array([json.dumps(sorted(lists[i])) for i in ids], dtype=object)}
    con.register("seg_today", batch)
    try:
        con.execute("INSERT INTO fh SELECT s.subject_id, 'segments', 0, s.value, TRUE FROM seg_today s "
                    "WHERE s.subject_id NOT IN (SELECT subject_id FROM fh WHERE field = 'segments')")
    finally:
        con.unregister("seg_today")
    return len(ids)
