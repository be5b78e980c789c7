"""The copy's accounts. A full run re-reads the accounts updated since its last read, not all of them: every
change to an account is an upsert that stamps updated_at (store.people.upsert_accounts) and none is deleted.
An upsert stamps updated_at from its own clock before it commits, so the read reaches back `lag` seconds (the
longest a transaction stays open, clock skew between machines included). When the store holds another number
of accounts than the copy (one written some other way), every account is read again."""
from __future__ import annotations

import numpy as np
from sqlalchemy import Text, cast, func, select

from crm_app.store import schema
from crm_app.store.bulk import by_ids, partitions_of

BATCH = 50_000
READ_AT = "accounts_read_at"  # copy_state key: when the copy last read the accounts (the worker's clock)
_SELECT = "SELECT id, external_id, name, domain, CAST(attributes AS TEXT) FROM accounts WHERE id"


def load_accounts(con, conn, only) -> int:
    """Replace the copy's rows of these accounts (None: every account) with the store's; return rows read."""
    a = schema.accounts
    if only is None:
        con.execute("DELETE FROM accounts")
        parts = [select(a.c.id, a.c.external_id, a.c.name, a.c.domain, cast(a.c.attributes, Text))]
    else:
        ids = sorted(set(only))
        con.execute("DELETE FROM accounts WHERE id IN (SELECT unnest(?))", [ids])
        parts = (by_ids(conn, _SELECT, ids[i:i + BATCH]) for i in range(0, len(ids), BATCH))
    count = 0
    for part_query in parts:
        for part in partitions_of(conn, part_query, BATCH):
            ids, ext, name, domain, attributes = (np.array([r[i] for r in part], dtype=object) for i in range(5))
            con.register("staged", {"id": ids.astype(np.int64), "external_id": ext, "name": name, "domain": domain,
                                    "attributes": attributes})
            con.execute("INSERT INTO accounts SELECT * FROM staged")
            con.unregister("staged")
            count += len(part)
    return count


def refresh_accounts(con, conn, now: int | None, lag: int, everything: bool = False) -> int:
    """Bring the copy's accounts up to date, inside the caller's DuckDB transaction; return rows read.
    now None (no clock to record): every account is read."""
    row = con.execute("SELECT value FROM copy_state WHERE key = ?", [READ_AT]).fetchall()
    held = con.execute("SELECT count(*) FROM accounts").fetchall()[0][0]
    a = schema.accounts
    if everything or now is None or not row or conn.execute(select(func.count()).select_from(a)).scalar() != held:
        count = load_accounts(con, conn, None)
    else:
        since = int(row[0][0]) - lag
        count = load_accounts(con, conn, [r[0] for r in conn.execute(select(a.c.id).where(a.c.updated_at >= since))])
    if now is not None:
        con.execute("INSERT OR REPLACE INTO copy_state VALUES (?, ?)", [READ_AT, str(int(now))])
    return count
