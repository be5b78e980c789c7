"""People found by canonical email (trimmed, lower-cased, `+tag` removed from the local part), set-wise.

The canonical form is computed by the database from `people.email`, with an expression index on both
backends (migration 86), so a chunk of CRM records is matched with one indexed query and no stored copy of
the email can drift from the address itself. It is the same form as identity resolution's
`canonical_email`; a test holds the two together.
"""
from __future__ import annotations

from sqlalchemy import Connection, Integer, and_, case, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from crm_app.store import schema
from crm_app.store.dialect import chunks


class _position(FunctionElement):
    """1-based position of a substring, 0 when absent: instr() in SQLite, strpos() in PostgreSQL."""

    type = Integer()
    inherit_cache = True


@compiles(_position)
def _instr(element, compiler, **kw):
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_position, "postgresql")
def _strpos(element, compiler, **kw):
    return f"strpos({compiler.process(element.clauses, **kw)})"


def canonical_sql(column):
    """The canonical email of a column, with literal constants so an expression index matches the query."""
    text = func.lower(func.trim(column))
    plus, at = _position(text, literal_column("'+'")), _position(text, literal_column("'@'"))
    zero, one = literal_column("0"), literal_column("1")
    stripped = func.substr(text, one, plus - one).op("||")(func.substr(text, at))
    return case((and_(plus > zero, plus < at), stripped), else_=text)


def create_index(conn: Connection) -> None:
    """Migration 86: the expression index, compiled for this backend exactly as the queries are."""
    expression = canonical_sql(literal_column("email")).compile(conn, compile_kwargs={"literal_binds": True})
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_people_email_canonical ON people (({expression}))")


def people_by_canonical_email(conn: Connection, emails: list[str]) -> dict:
    """canonical email -> (person id, external id), for the emails exactly one person carries.

    An address two people share (say `team@acme.io` and `team+b@acme.io`) matches neither: a guess between
    them could join a CRM record to the wrong person.
    """
    p = schema.people
    canon = canonical_sql(p.c.email)
    found: dict = {}
    for part in chunks(sorted({e for e in emails if e}), 900):
        for email, pid, ext in conn.execute(select(canon, p.c.id, p.c.external_id).where(canon.in_(part))):
            found.setdefault(email, []).append((pid, ext))
    return {email: rows[0] for email, rows in found.items() if len(rows) == 1}
