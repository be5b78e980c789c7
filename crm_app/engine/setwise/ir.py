"""A small, engine-neutral expression tree for the plan, and its rendering to SQL text per dialect.

Nodes are tuples so a plan is plain data: ("col", name, relation), ("lit", value), ("op", symbol, left, right),
("and", items), ("or", items), ("not", item), ("case", ((when, then), ...), otherwise), ("fn", name, args),
("idiv", left, right), ("in", item, values), ("null", item), ("int", item).
Conditions are rendered total: a leaf that meets NULL is false, so NOT never meets an unknown.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def col(name: str, relation: str | None = None) -> tuple:
    return ("col", name, relation)


def lit(value) -> tuple:
    return ("lit", value)


def op(symbol: str, left, right) -> tuple:
    return ("op", symbol, left, right)


def fn(name: str, *args) -> tuple:
    return ("fn", name, tuple(args))


def and_(*items) -> tuple:
    items = tuple(i for i in items if i != TRUE)
    return items[0] if len(items) == 1 else ("and", items) if items else TRUE


def or_(*items) -> tuple:
    items = tuple(i for i in items if i != FALSE)
    return items[0] if len(items) == 1 else ("or", items) if items else FALSE


def not_(item) -> tuple:
    return ("not", item)


def case(whens, otherwise=None) -> tuple:
    return ("case", tuple(whens), ("lit", None) if otherwise is None else otherwise)


def idiv(left, right) -> tuple:
    """Integer division, floored: both sides are whole numbers and the plan only divides non-negatives."""
    return ("idiv", left, right)


def isin(item, values) -> tuple:
    return ("in", item, tuple(values))


def is_null(item) -> tuple:
    return ("null", item)


def to_int(item) -> tuple:
    return ("int", item)


def total(cond) -> tuple:
    """A condition that is false, never unknown, when it meets NULL."""
    return fn("coalesce", cond, FALSE)


TRUE, FALSE, NULL = ("lit", True), ("lit", False), ("lit", None)


@dataclass(frozen=True)
class Dialect:
    name: str
    int_division: str  # a format with {0} and {1}
    count_distinct: str = "count(DISTINCT {0})"
    quote: str = '"'
    to_int: str = "CAST(trunc({0}) AS BIGINT)"  # towards zero, as Python's int()
    backslash_escapes: bool = False  # string literals read \\ and \' as escapes (Spark SQL, BigQuery)
    double: str = "DOUBLE"
    greatest_skips_null: bool = True  # False: GREATEST/LEAST return NULL when any argument is NULL
    plain_names: bool = False  # column names only of letters, digits and _ (BigQuery): others become _<hex>_
    # An IN list longer than LONG_IN, as a format with {0} (the item) and {1} (the values): a hash lookup where
    # the list would be compared item by item (a field with thousands of distinct values).
    long_in: str | None = None

    def ident(self, name: str) -> str:
        q = self.quote
        if self.plain_names:
            name = "".join(c if c.isascii() and (c.isalnum() or c == "_") else f"_{ord(c):x}_" for c in name)
        return q + name.replace(q, q + q) + q


LONG_IN = 64
DUCKDB = Dialect("duckdb", "({0} // {1})", long_in="({0} IN (SELECT unnest([{1}])))")
SPARK = Dialect("spark", "({0} div {1})", quote="`", to_int="CAST({0} AS BIGINT)", backslash_escapes=True)
# Warehouses: BigQuery and Snowflake GREATEST/LEAST return NULL on any NULL argument; Snowflake's `/` is a
# rounded decimal, so whole-number division is done exactly (the plan only divides non-negatives).
BIGQUERY = Dialect("bigquery", "DIV({0}, {1})", quote="`", to_int="CAST(TRUNC({0}) AS INT64)",
                   backslash_escapes=True, double="FLOAT64", greatest_skips_null=False, plain_names=True)
SNOWFLAKE = Dialect("snowflake", "CAST((({0}) - MOD({0}, {1})) / ({1}) AS BIGINT)", backslash_escapes=True,
                    greatest_skips_null=False)
DIALECTS = {d.name: d for d in (DUCKDB, SPARK, BIGQUERY, SNOWFLAKE)}


def _literal(value, dialect: Dialect | None = None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a plan never holds a non-finite number")
        return f"CAST({value!r} AS {dialect.double if dialect else 'DOUBLE'})"
    if dialect is not None and dialect.backslash_escapes:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + str(value).replace("'", "''") + "'"


def render(node, dialect: Dialect = DUCKDB) -> str:
    """SQL text of an expression tree."""
    kind = node[0]
    if kind == "col":
        return dialect.ident(node[1]) if node[2] is None else f"{node[2]}.{dialect.ident(node[1])}"
    if kind == "lit":
        return _literal(node[1], dialect)
    if kind == "op":
        return f"({render(node[2], dialect)} {node[1]} {render(node[3], dialect)})"
    if kind in ("and", "or"):
        return "(" + f" {kind.upper()} ".join(render(i, dialect) for i in node[1]) + ")"
    if kind == "not":
        return f"(NOT {render(node[1], dialect)})"
    if kind == "case":
        whens = " ".join(f"WHEN {render(w, dialect)} THEN {render(t, dialect)}" for w, t in node[1])
        return f"(CASE {whens} ELSE {render(node[2], dialect)} END)"
    if kind == "fn":
        args = [render(a, dialect) for a in node[2]]
        if node[1] == "count_distinct":
            return dialect.count_distinct.format(*args)
        if node[1] in ("greatest", "least") and not dialect.greatest_skips_null and len(args) > 1:
            # Each argument falls back to the others, so NULLs are skipped as DuckDB and Spark skip them.
            args = [f"coalesce({', '.join(args[i:] + args[:i])})" for i in range(len(args))]
        return f"{node[1]}({', '.join(args)})"
    if kind == "idiv":
        return dialect.int_division.format(render(node[1], dialect), render(node[2], dialect))
    if kind == "in":
        if not node[2]:
            return "FALSE"
        values = ", ".join(_literal(v, dialect) for v in node[2])
        if dialect.long_in and len(node[2]) > LONG_IN:
            return dialect.long_in.format(render(node[1], dialect), values)
        return f"({render(node[1], dialect)} IN ({values}))"
    if kind == "null":
        return f"({render(node[1], dialect)} IS NULL)"
    if kind == "int":
        return dialect.to_int.format(render(node[1], dialect))
    raise ValueError(f"unknown plan node {kind!r}")

