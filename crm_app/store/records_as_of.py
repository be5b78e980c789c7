"""Flat records as they were known at a moment: today's records with field history laid over them, people's
`account.*` fields through the account each person belonged to then (membership history)."""
from __future__ import annotations

from sqlalchemy import Connection

from crm_app.store import field_history, membership

NOT_FROM_ACCOUNT = {"segments"}  # an account's segments are its own, never a member's `account.*` field


def people_as_of(conn: Connection, records: dict, lo: int, hi: int, only, as_of: int) -> dict:
    """People's flat records (people.flat_records) with each field, theirs and their account's, as of the moment."""
    overlay(records, field_history.values_as_of(conn, "person", lo, hi, only, as_of), "")
    then = membership.accounts_as_of(conn, lo, hi, only, as_of)  # people who moved: the account they had then
    if then:
        membership.rebase(records, then, membership.accounts_now(conn, lo, hi, sorted(then)),
                          membership.account_fields(conn, then.values()))
    overlay(records, field_history.account_values_for_people(conn, lo, hi, only, as_of, then), "account.")
    return records


def accounts_as_of(conn: Connection, records: dict, lo: int, hi: int, only, as_of: int) -> dict:
    """Accounts' records with their fields as of the moment."""
    overlay(records, field_history.values_as_of(conn, "account", lo, hi, only, as_of), "")
    return records


def overlay(records: dict, known: dict, prefix: str) -> None:
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
