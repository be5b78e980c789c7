"""The subset of SOQL the emulator understands:
SELECT f, ... FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n].

A condition is `field op literal` (=, !=, <, <=, >, >=, IN (...), NOT IN (...)), combined with AND / OR and
parentheses. Shapes from the SOQL and SOSL Reference: "SELECT", "Condition Expression Syntax (WHERE Clause)"
(mixing AND and OR needs parentheses, e.g. `a = 1 OR (b = 2 AND c > 3)`), "Comparison Operators",
"ORDER BY" (ascending puts nulls first, descending puts them last, unless NULLS FIRST / LAST says otherwise),
"Date Formats and Date Literals" (a datetime literal is unquoted, e.g. 2024-01-01T00:00:00Z; strings are
single-quoted with \\' escapes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_QUERY = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
                    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?"
                    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$", re.I | re.S)
_ORDER_ITEM = re.compile(r"^(\w+)(?:\s+(ASC|DESC))?(?:\s+NULLS\s+(FIRST|LAST))?$", re.I)
_TOKEN = re.compile(r"\s*('(?:[^'\\]|\\.)*'|\(|\)|,|!=|<=|>=|=|<|>|[^\s(),'=<>!]+)", re.S)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
_OPS = ("=", "!=", "<", "<=", ">", ">=")


class SoqlError(ValueError):
    """MALFORMED_QUERY in Salesforce's words."""


@dataclass
class Query:
    fields: list
    obj: str
    where: tuple | None  # ("cond", field, op, value) | ("and" | "or", [nodes])
    order: list  # (field, descending, nulls_first)
    limit: int | None

    def names(self) -> list:
        """Every field the query mentions (selected, filtered on or sorted by)."""
        return self.fields + _fields_of(self.where) + [o[0] for o in self.order]


def _fields_of(node) -> list:
    if node is None:
        return []
    if node[0] == "cond":
        return [node[1]]
    return [name for child in node[1] for name in _fields_of(child)]


def parse(text: str) -> Query:
    match = _QUERY.match(text)
    if not match:
        raise SoqlError(f"unexpected token in query: {text[:80]}")
    where = None
    if match.group("where"):
        tokens = _tokens(match.group("where"))
        where, rest = _expression(tokens, 0)
        if rest != len(tokens):
            raise SoqlError(f"unexpected token: {tokens[rest]}")
    order = []
    for item in (match.group("order") or "").split(","):
        if not match.group("order"):
            break
        parsed = _ORDER_ITEM.match(item.strip())
        if not parsed:
            raise SoqlError(f"unexpected token in ORDER BY: {item.strip()}")
        descending = (parsed.group(2) or "").upper() == "DESC"
        nulls = (parsed.group(3) or ("LAST" if descending else "FIRST")).upper()
        order.append((parsed.group(1), descending, nulls == "FIRST"))
    return Query([f.strip() for f in match.group("fields").split(",")], match.group("obj"), where, order,
                 int(match.group("limit")) if match.group("limit") else None)


def _tokens(text: str) -> list[str]:
    out, at = [], 0
    while at < len(text):
        if not text[at:].strip():
            break
        found = _TOKEN.match(text, at)
        if not found:
            raise SoqlError(f"unexpected token near: {text[at:at + 20]}")
        out.append(found.group(1))
        at = found.end()
    return out


def _expression(tokens: list, at: int):
    """term ((AND | OR) term)*, with one kind of joiner per level: mixing them needs parentheses."""
    node, at = _term(tokens, at)
    joiner, parts = None, [node]
    while at < len(tokens) and tokens[at].upper() in ("AND", "OR"):
        word = tokens[at].upper()
        if joiner and word != joiner:
            raise SoqlError(f"unexpected token: '{tokens[at]}' (use parentheses to mix AND and OR)")
        joiner = word
        node, at = _term(tokens, at + 1)
        parts.append(node)
    return (parts[0] if joiner is None else (joiner.lower(), parts)), at


def _term(tokens: list, at: int):
    if at >= len(tokens):
        raise SoqlError("unexpected end of WHERE clause")
    if tokens[at] == "(":
        node, at = _expression(tokens, at + 1)
        if at >= len(tokens) or tokens[at] != ")":
            raise SoqlError("missing ')' in WHERE clause")
        return node, at + 1
    if not re.match(r"^\w+$", tokens[at]) or tokens[at].upper() in ("AND", "OR", "NOT"):
        raise SoqlError(f"unexpected token: {tokens[at]}")
    name, at = tokens[at], at + 1
    if at < len(tokens) and tokens[at].upper() == "NOT" and at + 1 < len(tokens) and tokens[at + 1].upper() == "IN":
        op, at = "NOT IN", at + 2
    elif at < len(tokens) and (tokens[at] in _OPS or tokens[at].upper() == "IN"):
        op, at = tokens[at].upper(), at + 1
    else:
        raise SoqlError(f"unexpected token after {name}: {tokens[at] if at < len(tokens) else 'end of query'}")
    if op in ("IN", "NOT IN"):
        if at >= len(tokens) or tokens[at] != "(":
            raise SoqlError(f"{op} needs a parenthesised list")
        values, at = [], at + 1
        while at < len(tokens) and tokens[at] != ")":
            if tokens[at] != ",":
                values.append(literal(tokens[at]))
            at += 1
        if at >= len(tokens):
            raise SoqlError("missing ')' after IN list")
        return ("cond", name, op, values), at + 1
    if at >= len(tokens):
        raise SoqlError(f"a value was expected after {name} {op}")
    return ("cond", name, op, literal(tokens[at])), at + 1


def literal(token: str):
    if len(token) >= 2 and token.startswith("'") and token.endswith("'"):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
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


def matches(record: dict, node) -> bool:
    if node is None:
        return True
    if node[0] == "and":
        return all(matches(record, child) for child in node[1])
    if node[0] == "or":
        return any(matches(record, child) for child in node[1])
    _, name, op, value = node
    have = record.get(name)
    if op in ("IN", "NOT IN"):
        return (have in value) == (op == "IN")
    if isinstance(value, datetime) and isinstance(have, str):
        have = parse_datetime(have)
    if isinstance(value, float) and have is not None and not isinstance(have, bool):
        have = float(have)
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    if have is None or value is None:
        return False
    try:
        return {">": have > value, ">=": have >= value, "<": have < value, "<=": have <= value}[op]
    except TypeError:
        return False


def sort(rows: list, order: list) -> list:
    """ORDER BY: stable sorts from the last key to the first, each with its own direction and null placement."""
    for name, descending, nulls_first in reversed(order):
        present = [r for r in rows if r.get(name) is not None]
        missing = [r for r in rows if r.get(name) is None]
        present.sort(key=lambda r: r[name], reverse=descending)
        rows = missing + present if nulls_first else present + missing
    return rows
