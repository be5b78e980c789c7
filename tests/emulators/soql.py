"""The subset of SOQL the emulator understands: SELECT f, ... FROM Obj [WHERE a op lit AND ...] [ORDER BY f] [LIMIT n].

Shapes from the SOQL and SOSL Reference: "SELECT", "Comparison Operators", "Date Formats and Date Literals"
(a datetime literal is unquoted, e.g. 2024-01-01T00:00:00Z; strings are single-quoted with \\' escapes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_QUERY = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
                    r"(?:\s+ORDER\s+BY\s+(?P<order>[\w, ]+?)(?:\s+(?P<dir>ASC|DESC))?)?"
                    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$", re.I | re.S)
_COND = re.compile(r"^\s*(\w+)\s*(=|!=|>=|<=|>|<|\bIN\b)\s*(.+?)\s*$", re.S | re.I)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


class SoqlError(ValueError):
    """MALFORMED_QUERY in Salesforce's words."""


@dataclass
class Query:
    fields: list
    obj: str
    conditions: list  # (field, op, value)
    order: list
    descending: bool
    limit: int | None


def parse(text: str) -> Query:
    match = _QUERY.match(text)
    if not match:
        raise SoqlError(f"unexpected token in query: {text[:80]}")
    conditions = []
    if match.group("where"):
        for part in re.split(r"\s+AND\s+", match.group("where"), flags=re.I):
            cond = _COND.match(part)
            if not cond:
                raise SoqlError(f"unexpected token: {part}")
            op = cond.group(2).upper()
            value = [literal(t.strip()) for t in _in_list(cond.group(3))] if op == "IN" else literal(cond.group(3))
            conditions.append((cond.group(1), op, value))
    order = [f.strip() for f in (match.group("order") or "").split(",") if f.strip()]
    return Query([f.strip() for f in match.group("fields").split(",")], match.group("obj"), conditions, order,
                 (match.group("dir") or "").upper() == "DESC", int(match.group("limit")) if match.group("limit") else None)


def _in_list(text: str) -> list[str]:
    """The items of "('a', 'b')" (no commas inside the quoted ids this emulator deals in)."""
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise SoqlError(f"IN needs a parenthesised list, got {text[:40]}")
    return [t for t in text[1:-1].split(",") if t.strip()]


def literal(token: str):
    if token.startswith("'") and token.endswith("'"):
        return token[1:-1].replace("\\'", "'")
    low = token.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if _DATETIME.match(token):
        return parse_datetime(token)
    if token.startswith("'") or token.endswith("'"):
        raise SoqlError(f"unterminated string: {token}")
    if re.match(r"^\d{4}-\d{2}-\d{2}$", token):
        return token
    try:
        return float(token)
    except ValueError:
        raise SoqlError(f"a datetime or quoted value was expected, got {token}") from None


def parse_datetime(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text)


def matches(record: dict, conditions: list) -> bool:
    for name, op, value in conditions:
        have = record.get(name)
        if op != "IN" and isinstance(value, datetime) and isinstance(have, str):
            have = parse_datetime(have)
        if op != "IN" and isinstance(value, float) and have is not None:
            have = float(have)
        if op == "IN":
            if have not in value:
                return False
            continue
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op in (">", ">=", "<", "<=") and (have is None or not _compare(have, op, value)):
            return False
    return True


def _compare(have, op: str, value) -> bool:
    return {">": have > value, ">=": have >= value, "<": have < value, "<=": have <= value}[op]
