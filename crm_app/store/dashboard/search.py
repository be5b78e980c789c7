"""People search by name, email, company and id: prefix range scans on expression indexes, never a table scan.

Each word of the search text must match one of the person's name fields, their email, their account's name
(each by prefix, case-insensitively), their product user id or their id; or the whole text must start one of
the names. A one-field `name` ("Jenny Smithers") is found by its start, not by its second word. Expressions are
written with literal JSON paths, because SQLite uses an expression index only for the very same expression (see
owner_expr).
"""
from __future__ import annotations

import re

from sqlalchemy import Connection, Index, and_, func, intersect, literal_column, or_, select, union
from sqlalchemy.schema import CreateIndex

from crm_app.store import schema

NAME_FIELDS = ("first_name", "last_name", "name")
MAX_WORDS = 4
MAX_MATCHES = 1000  # a search narrows the list; a word matching more than this many people narrows nothing


def attribute_lower(dialect: str, field: str):
    a = schema.people.c.attributes
    if dialect == "postgresql":
        return func.lower(a.op("->>")(literal_column(f"'{field}'")))
    return func.lower(func.json_extract(a, literal_column(f"'$.{field}'")))


def account_name_lower():
    return func.lower(schema.accounts.c.name)


def search_indexes(dialect: str) -> list[Index]:
    indexes = [Index(f"ix_people_search_{field}", attribute_lower(dialect, field)) for field in NAME_FIELDS]
    indexes.append(Index("ix_accounts_search_name", account_name_lower()))
    return indexes


def create_search_indexes(conn: Connection) -> None:
    for index in search_indexes(conn.dialect.name):
        index.table.indexes.discard(index)  # built for one dialect: keep it out of the shared metadata
        conn.execute(CreateIndex(index, if_not_exists=True))


def words(text: str) -> list[str]:
    """The lower-cased words of a search text, at most MAX_WORDS of them."""
    return [w for w in re.split(r"[\s,]+", text.strip().lower()) if w][:MAX_WORDS]


def _prefix(expression, word: str):
    return and_(expression >= word, expression < word + "\uffff")


def _word_matches(word: str, original: str, dialect: str):
    """People one word matches: each branch is a range scan or an equality on an index."""
    p, a = schema.people, schema.accounts
    companies = select(a.c.id).where(_prefix(account_name_lower(), word)).limit(MAX_MATCHES)
    branches = [_prefix(p.c.email, word), p.c.external_id == original, p.c.account_id.in_(companies.scalar_subquery())]
    branches += [_prefix(attribute_lower(dialect, field), word) for field in NAME_FIELDS]
    if word.isdigit() and len(word) <= 18:
        branches.append(p.c.id == int(word))
    return select(p.c.id).where(or_(*branches))


def _phrase_matches(phrase: str, dialect: str):
    p, a = schema.people, schema.accounts
    companies = select(a.c.id).where(_prefix(account_name_lower(), phrase)).limit(MAX_MATCHES)
    return select(p.c.id).where(or_(p.c.account_id.in_(companies.scalar_subquery()),
                                    *(_prefix(attribute_lower(dialect, field), phrase) for field in NAME_FIELDS)))


def matching_ids(conn: Connection, text: str):
    """A subquery of the ids of the people every word of `text` matches (at most MAX_MATCHES).

    With several words, each word's matches are first counted up to MAX_MATCHES + 1 (cheap: one bounded index
    walk). The rarest word drives when it matches at most MAX_MATCHES people, and the other words only filter
    its rows; when every word is common the exact intersection is computed instead.
    """
    dialect = conn.dialect.name
    originals = [w for w in re.split(r"[\s,]+", text.strip()) if w][:MAX_WORDS]
    parts = [_word_matches(word, original, dialect) for word, original in zip(words(text), originals)]
    if not parts:
        return select(schema.people.c.id).where(literal_column("1") == 0).scalar_subquery()
    if len(parts) == 1:
        return select(parts[0].subquery().c.id).limit(MAX_MATCHES).scalar_subquery()
    counts = [conn.execute(select(func.count()).select_from(part.limit(MAX_MATCHES + 1).subquery())).scalar()
              for part in parts]
    rarest = min(range(len(parts)), key=counts.__getitem__)
    if counts[rarest] <= MAX_MATCHES:
        driver = parts[rarest].subquery()
        others = [part.whereclause for i, part in enumerate(parts) if i != rarest]
        every_word = select(schema.people.c.id).where(schema.people.c.id.in_(select(driver.c.id)), *others)
    else:
        every_word = select(intersect(*parts).subquery().c.id)
    # or the whole phrase as the start of one name ("jenny smi" finds Jenny Smithers)
    both = union(every_word, _phrase_matches(" ".join(words(text)), dialect)).subquery()
    return select(both.c.id).limit(MAX_MATCHES).scalar_subquery()
