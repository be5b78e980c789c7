"""What every backend can store: JSON parsed without recursion errors, and each message's values checked."""
from __future__ import annotations

import json
import math
import re
import uuid

from crm_app.errors import IngestError

MAX_DEPTH = 32  # objects and arrays inside one message, the message itself counting as 1
# A body the parser cannot follow is parsed again with everything nested past this depth cut out: the cut
# lies below MAX_DEPTH of any message (a batch's messages sit at depth 3), so only the deep message is refused.
CUT_DEPTH = MAX_DEPTH + 8
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.S)
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
MAX_INT_DIGITS = 19
# NUL: PostgreSQL text and JSON columns refuse it. Lone surrogates are not Unicode: no UTF-8 encoding exists.
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


class Unstorable:
    """Stands in for a value the parser met but no backend can keep (NaN literal, a number past int64)."""

    __slots__ = ("what",)

    def __init__(self, what: str):
        self.what = what

    def __str__(self) -> str:
        return f"<{self.what}>"

    __repr__ = __str__


def _constant(name: str) -> Unstorable:
    return Unstorable(f"non-finite number {name}")


def _integer(text: str):
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        return Unstorable(f"integer of {len(text)} digits")
    return int(text)


def loads(raw: bytes | str, parse_float=float, suspects: list | None = None, parse_int=int):
    """Parse a request body; values no backend can store come back as Unstorable, to be refused per message.

    Raises IngestError for bytes that are not JSON, or that nest deeper than the parser can follow. A body
    parsed the slow way (digits past Python's limit, nesting past the parser's) is noted in `suspects`."""
    constant = _constant if suspects is None else lambda name: suspects.append(name) or _constant(name)
    try:
        try:
            return json.loads(raw, parse_constant=constant, parse_float=parse_float, parse_int=parse_int)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise
        except ValueError:  # an integer past Python's int-str digit limit: parse again, keeping it as text
            if suspects is not None:
                suspects.append("long integer")
            return json.loads(raw, parse_constant=constant, parse_float=parse_float, parse_int=_integer)
    except RecursionError:
        if suspects is not None:
            suspects.append("deep nesting")
        return _loads_cut(raw)
    except ValueError as exc:  # also JSONDecodeError and UnicodeDecodeError
        raise IngestError(f"not valid JSON: {exc}") from None


# A body holding none of these has no string or key that parses to a NUL or a lone surrogate: their \u
# escapes, a surrogate's UTF-8 bytes (json reads bytes with surrogatepass), and NUL bytes (never valid UTF-8 JSON
# text; also every UTF-16 or UTF-32 body, which then takes the full check).
_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]")


def parse_body(raw: bytes | str) -> tuple[object, bool]:
    """The body as loads() parses it, and True when no value in it can be unstorable but by its nesting: no
    NUL or lone surrogate in any string or key, no integer of more than 18 digits, no NaN, Infinity or float
    past 1e308. Its messages then need only their depth checked (storable_depth). False is only a "maybe":
    those messages get the full check_values walk. Costs about 0.3 µs a message of a batch."""
    suspects: list = []

    def whole(text: str):
        if len(text) > MAX_INT_DIGITS - 1:
            suspects.append(text)
            return _integer(text)
        return int(text)

    def real(text: str) -> float:
        value = float(text)
        if value - value != 0:  # inf - inf is NaN
            suspects.append(text)
        return value

    body = loads(raw, real, suspects, whole)
    if suspects or not isinstance(raw, bytes) or b"\x00" in raw:
        return body, False
    return body, not (b"\xed" in raw and _SURROGATE_BYTES.search(raw)) and _ESCAPES.search(raw) is None


def _loads_cut(raw: bytes | str):
    """Parse a body nested past what the parser follows: each value deeper than CUT_DEPTH is replaced by an
    Unstorable before parsing, so the message holding it is refused alone and the rest of the batch is kept.
    Only brackets outside strings count; the text cut out is not parsed (its message is refused anyway)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise IngestError(f"not valid JSON: {exc}") from None
    marker = f"pql-cut-{uuid.uuid4().hex}"
    pieces, depth, start, kept_to = [], 0, 0, 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth == CUT_DEPTH + 1:
                start = match.start()
        elif token in "]}":
            depth -= 1
            if depth == CUT_DEPTH:
                pieces += [text[kept_to:start], f'"{marker}"']
                kept_to = match.end()
    pieces.append(text[kept_to:])
    if depth != 0:
        raise IngestError("not valid JSON: its brackets do not balance")
    try:
        body = json.loads("".join(pieces), parse_constant=_constant, parse_int=_integer)
    except (ValueError, RecursionError) as exc:
        raise IngestError(f"not valid JSON: {exc}") from None
    return _mark_cut(body, marker)


def _mark_cut(body, marker: str):
    """Every value that is the cut marker becomes an Unstorable naming why."""
    deep = Unstorable(f"value nested past {CUT_DEPTH} levels")
    if body == marker:
        return deep
    stack = [body]
    while stack:
        container = stack.pop()
        pairs = container.items() if type(container) is dict else enumerate(container)
        for key, item in list(pairs):
            if item == marker:
                container[key] = deep
            elif type(item) is dict or type(item) is list:
                stack.append(item)
    return body


def _where(path: tuple) -> str:
    text = ".".join(str(p) for p in path) or "message"
    return text if len(text) <= 120 else text[:117] + "..."


def _storable(message: dict, max_depth: int) -> bool:
    """True when every value can be stored; the fast walk that good traffic takes (no paths built)."""
    search, isfinite = _UNSTORABLE_TEXT.search, math.isfinite
    stack = [(message, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > max_depth:
            return False
        if type(container) is dict:
            for key in container:
                if not key.isprintable() and search(key):  # NUL and surrogates are never printable
                    return False
            container = container.values()
        for item in container:
            kind = type(item)
            if kind is str:
                if not item.isprintable() and search(item):
                    return False
            elif kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is int:
                if not INT64_MIN <= item <= INT64_MAX:
                    return False
            elif kind is float:
                if not isfinite(item):
                    return False
            elif item is not None and kind is not bool:
                return False
    return True


def storable_depth(message: dict, max_depth: int = MAX_DEPTH) -> bool:
    """True when no object or array in the message nests past max_depth (the message counting as 1); the only
    check a message of a body parse_body found plain needs."""
    stack = [(message, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > max_depth:
            return False
        for item in (container.values() if type(container) is dict else container):
            if type(item) is dict or type(item) is list:
                stack.append((item, depth + 1))
    return True


def check_values(message: dict, max_depth: int = MAX_DEPTH) -> None:
    """Raise IngestError naming the first value in the message that some backend cannot store."""
    if _storable(message, max_depth):
        return
    stack = [(message, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                raise IngestError(f"'{_where(path)}' nests deeper than {max_depth} levels")
            for key, item in value.items():
                if _UNSTORABLE_TEXT.search(key):
                    raise IngestError(f"a key in '{_where(path)}' holds a NUL character or a lone surrogate")
                stack.append((item, depth + 1, path + (key,)))
        elif isinstance(value, list):
            if depth > max_depth:
                raise IngestError(f"'{_where(path)}' nests deeper than {max_depth} levels")
            stack.extend((item, depth + 1, path + (i,)) for i, item in enumerate(value))
        elif isinstance(value, str):
            if _UNSTORABLE_TEXT.search(value):
                raise IngestError(f"'{_where(path)}' holds a NUL character or a lone surrogate")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise IngestError(f"'{_where(path)}' is an integer outside the 64-bit range")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise IngestError(f"'{_where(path)}' is not a finite number (NaN, Infinity or past 1e308)")
        elif isinstance(value, Unstorable):
            raise IngestError(f"'{_where(path)}' is a {value.what}, which no backend stores")
        else:
            raise IngestError(f"'{_where(path)}' is a {type(value).__name__}, not a JSON value")
    raise IngestError("a value no backend stores")  # _storable and this walk disagree: refuse all the same


def text_field(values: dict, key: str, field: str, limit: int) -> str | None:
    """A scalar text value that lands in a column of `limit` characters (also once lower-cased), or None."""
    value = values.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise IngestError(f"'{field}' must be text, got {type(value).__name__}")
    text = str(value).strip()
    if max(len(value), len(text.lower())) > limit:  # the writer stores the value as sent
        raise IngestError(f"'{field}' is longer than {limit} characters")
    return text or None
