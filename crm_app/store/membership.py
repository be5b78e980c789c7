"""Account membership history: which account a person belonged to when, kept as field history of the person's
account link (subject kind `link`, field `account`, value the account id or None).

Only people whose link changed have rows: the account held before the first change is the `initial` row (it
stands for all the time before), so a person who never moved reads today's account at every moment.
"""
from __future__ import annotations

from sqlalchemy import Connection, select

from crm_app.store import field_history, schema
from crm_app.store.dialect import chunks

KIND, FIELD = "link", "account"


def record_moves(conn: Connection, moves: list) -> None:
    """Store (person id, old account, new account, created_at, moment) moves set-wise; non-moves are skipped."""
    initial, moved = [], []
    for pid, old, new, created_at, at in moves:
        if old == new:
            continue
        first, later = field_history.changes({FIELD: old}, {FIELD: new}, created_at or 0, at)
        initial += [(pid, *r) for r in first]
        moved += [(pid, *r) for r in later]
    field_history.record(conn, KIND, initial, moved)


def account_links_as_of(conn: Connection, lo: int, hi: int, only, as_of: int) -> dict:
    """person id -> account id (or None) as of the moment, for the people whose account link has history."""
    return {pid: fields.get(FIELD) for pid, fields in field_history.values_as_of(conn, KIND, lo, hi, only, as_of).items()}


def accounts_now(conn: Connection, lo: int, hi: int, only) -> dict:
    """person id -> today's account id (or None)."""
    p = schema.people
    if only is None:
        return dict(conn.execute(select(p.c.id, p.c.account_id).where(p.c.id.between(lo, hi))).all())
    out: dict = {}
    for part in chunks(list(only), 900):
        out.update(conn.execute(select(p.c.id, p.c.account_id).where(p.c.id.in_(part))).all())
    return out


def account_fields(conn: Connection, account_ids) -> dict:
    """account id -> the `account.*` fields a flat record holds for a member of that account (today's values)."""
    a, out = schema.accounts, {}
    for part in chunks(sorted({i for i in account_ids if i is not None}), 900):
        for row in conn.execute(select(a.c.id, a.c.external_id, a.c.name, a.c.domain, a.c.attributes)
                                .where(a.c.id.in_(part))):
            fields = {"account.id": row.external_id, "account.name": row.name, "account.domain": row.domain}
            fields.update({f"account.{k}": v for k, v in (row.attributes or {}).items()})
            out[row.id] = fields
    return out


def rebase(records: dict, then: dict, now: dict, fields: dict) -> None:
    """Give each person whose account then differs from today's the `account.*` fields of the account then
    (none when the person had no account then). `fields`: account_fields of those accounts."""
    for pid, account in then.items():
        record = records.get(pid)
        if record is None or account == now.get(pid):
            continue
        for key in [k for k in record if k.startswith("account.")]:
            del record[key]
        record.update(fields.get(account, {}))


# Flat records as they were known at a moment: today's records with field history laid over them, people's
# `account.*` fields through the account each person belonged to then.
NOT_FROM_ACCOUNT = {"segments"}  # an account's segments are its own, never a member's `account.*` field


def people_records_as_of(conn: Connection, records: dict, lo: int, hi: int, only, as_of: int) -> dict:
    """People's flat records (people.flat_records) with each field, theirs and their account's, as of the moment."""
    overlay(records, field_history.values_as_of(conn, "person", lo, hi, only, as_of), "")
    then = account_links_as_of(conn, lo, hi, only, as_of)  # people who moved: the account they had then
    if then:
        rebase(records, then, accounts_now(conn, lo, hi, sorted(then)), account_fields(conn, then.values()))
    overlay(records, field_history.account_values_for_people(conn, lo, hi, only, as_of, then), "account.")
    return records


def account_records_as_of(conn: Connection, records: dict, lo: int, hi: int, only, as_of: int) -> dict:
    """Accounts' records with their fields as of the moment."""
    overlay(records, field_history.values_as_of(conn, "account", lo, hi, only, as_of), "")
    return records


def overlay(records: dict, known: dict, prefix: str) -> None:
    """Lay subject -> {field: value then} over records (under `prefix`); a None value removes the field."""
    for sid, fields in known.items():
        record = records.get(sid)
        if record is None or (prefix and "account.id" not in record):
            continue
        for name, value in fields.items():
            if prefix and name in NOT_FROM_ACCOUNT:
                continue
            if value is None:
                record.pop(prefix + name, None)
            else:
                record[prefix + name] = value
