"""The copy's accounts in a full run: only those updated since its last read (less the lag) are read again, and
every account when the store holds another number of them; results agree with the store engine throughout."""
from __future__ import annotations

from sqlalchemy import insert, update

from crm_app.services.scoring import duck_engine
from crm_app.services.scoring.run import score
from crm_app.store import schema
from crm_app.store.columnar import accounts as copy_accounts
from crm_app.store.people import upsert_accounts
from tests.helpers import AS_OF
from tests.test_duckdb_engine import assert_a_fresh_per_person_run_stores_the_same, seed


def _reads(monkeypatch) -> list:
    """The `only` argument of every load_accounts call (None: every account)."""
    calls = []
    real = copy_accounts.load_accounts

    def spy(con, conn, only):
        calls.append(None if only is None else sorted(only))
        return real(con, conn, only)
    monkeypatch.setattr(copy_accounts, "load_accounts", spy)
    return calls


def _account_id(store, external_id: str) -> int:
    with store.read() as conn:
        return conn.execute(schema.accounts.select().where(schema.accounts.c.external_id == external_id)).one().id


def test_a_full_run_reads_again_only_the_accounts_updated_since(store, default_rules, monkeypatch):
    seed(store, people=30)
    calls = _reads(monkeypatch)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert calls == [None]  # a new copy reads every account
    with store.begin() as conn:  # stamped long before the last read: settled, not read again
        conn.execute(update(schema.accounts).values(updated_at=1))
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert calls[1:] == [[]]
    with store.begin() as conn:
        upsert_accounts(conn, [{"external_id": "w2", "attributes": {"industry": "Retail", "employees": 3}}])
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert calls[2:] == [[_account_id(store, "w2")]]
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_an_update_stamped_within_the_lag_before_the_last_read_is_read_again(store, default_rules, monkeypatch):
    seed(store, people=12)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    con = duck_engine.open_bound(store)
    try:
        read_at = int(con.execute("SELECT value FROM copy_state WHERE key = ?", [copy_accounts.READ_AT]).fetchall()[0][0])
    finally:
        con.close()
    w1 = _account_id(store, "w1")
    with store.begin() as conn:  # an upsert that began before the last read and committed after it
        conn.execute(update(schema.accounts).values(updated_at=1))
        conn.execute(update(schema.accounts).where(schema.accounts.c.id == w1)
                     .values(updated_at=read_at - duck_engine.lag_seconds() + 1,
                             attributes={"industry": "Software", "employees": 900, "tools": ["Slack"]}))
    calls = _reads(monkeypatch)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert calls == [[w1]]
    assert_a_fresh_per_person_run_stores_the_same(store, default_rules)


def test_an_account_written_without_a_stamp_is_caught_by_the_count(store, default_rules, monkeypatch):
    seed(store, people=12)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    with store.begin() as conn:
        conn.execute(insert(schema.accounts).values(external_id="unstamped", name="U", attributes={}))
    calls = _reads(monkeypatch)
    score(store, default_rules, AS_OF, engine="duckdb", workers=1)
    assert calls == [None]
