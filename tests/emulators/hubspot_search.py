"""CRM search of the HubSpot emulator (CRM API "Search").

- At most five filterGroups (ORed) of at most six filters (ANDed), 18 filters in all; operators EQ, NEQ, LT, LTE,
  GT, GTE, BETWEEN (value..highValue), IN / NOT_IN (values), HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN;
  `associations.{object}` filters on associated record ids. An unknown property or operator is a 400.
- "Only one sorting rule can be applied to any search"; dates compare as epoch milliseconds (filters may send
  ms or ISO text).
- `limit` at most 200 a page, `after` an integer; 10,000 results per query, past which the API answers 400.
- Search reads the index, which trails writes by the emulator's search_lag_seconds; archived records leave it.
"""
from __future__ import annotations

from datetime import datetime

from tests.emulators.hubspot import SEARCH_CAP, SEARCH_PAGE, fail
from tests.emulators.server import Response

_OPS = {"EQ": lambda a, b: a == b, "NEQ": lambda a, b: a != b, "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b, "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b}
_OTHER_OPS = ("BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN")
_DATES = ("lastmodifieddate", "hs_lastmodifieddate", "createdate", "hs_timestamp", "closedate")
_ASSOCIATED = {"contact": "contacts", "company": "companies", "deal": "deals", "task": "tasks"}
MAX_GROUPS, MAX_FILTERS, MAX_TOTAL = 5, 6, 18


def _value(prop: str, raw):
    """Comparable form: dates in ms, numbers as floats, else text."""
    if raw is None:
        return None
    text = str(raw)
    if prop in _DATES:
        if text.isdigit():
            return int(text)
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    try:
        return float(text)
    except ValueError:
        return text


def _one(emu, object_type: str, record: dict, f: dict) -> bool:
    prop, op = f.get("propertyName"), f.get("operator", "EQ")
    if prop.startswith("associations."):
        to_type, target = _ASSOCIATED[prop.split(".", 1)[1]], str(f.get("value"))
        return any(a[:4] == (object_type, record["id"], to_type, target) for a in emu.associations)
    raw = record["properties"].get(prop)
    have = _value(prop, raw) if raw not in (None, "") else None
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return (have is not None) == (op == "HAS_PROPERTY")
    if have is None:
        return op == "NEQ" or op == "NOT_IN"
    if op in ("IN", "NOT_IN"):
        return (have in [_value(prop, v) for v in f.get("values") or []]) == (op == "IN")
    if op == "BETWEEN":
        return _value(prop, f.get("value")) <= have <= _value(prop, f.get("highValue"))
    if op == "CONTAINS_TOKEN":
        token = str(f.get("value") or "").lower().strip("*")
        return token in str(raw).lower()
    want = _value(prop, f.get("value"))
    try:
        return _OPS[op](have, want)
    except TypeError:
        return False


def _problem(emu, object_type: str, body: dict) -> str | None:
    groups = body.get("filterGroups") or []
    if len(groups) > MAX_GROUPS:
        return f"at most {MAX_GROUPS} filterGroups are allowed"
    if any(len(g.get("filters") or []) > MAX_FILTERS for g in groups):
        return f"at most {MAX_FILTERS} filters are allowed in a filterGroup"
    if sum(len(g.get("filters") or []) for g in groups) > MAX_TOTAL:
        return f"at most {MAX_TOTAL} filters are allowed in all"
    for f in (f for g in groups for f in g.get("filters") or []):
        prop, op = str(f.get("propertyName") or ""), f.get("operator", "EQ")
        if op not in _OPS and op not in _OTHER_OPS:
            return f"unknown operator {op}"
        if prop.startswith("associations."):
            if prop.split(".", 1)[1] not in _ASSOCIATED:
                return f"cannot filter on {prop}"
        elif not emu.known(object_type, prop):
            return f"There was a problem with the request: property {prop!r} does not exist"
    sorts = body.get("sorts") or []
    if len(sorts) > 1:
        return "Only one sorting rule can be applied to any search"
    for sort in sorts:
        prop = sort.get("propertyName") if isinstance(sort, dict) else sort
        if not emu.known(object_type, str(prop)):
            return f"cannot sort on unknown property {prop!r}"
    if not str(body.get("after") or 0).isdigit():
        return "after must be an integer"
    return None


def search(emu, object_type: str, body: dict) -> Response:
    limit = int(body.get("limit") or 10)
    problem = _problem(emu, object_type, body)
    if problem:
        return fail(400, "VALIDATION_ERROR", problem)
    after = int(body.get("after") or 0)
    if limit > SEARCH_PAGE:
        return fail(400, "VALIDATION_ERROR", f"limit must be at most {SEARCH_PAGE}")
    if after + limit > SEARCH_CAP:
        return fail(400, "VALIDATION_ERROR", f"Search results are limited to {SEARCH_CAP} per query; "
                    "narrow the filters (e.g. on the last modified date) and search again")
    groups = body.get("filterGroups") or [{"filters": []}]
    index = [view for view in (emu.indexed(r) for r in emu.live(object_type)) if view is not None]
    rows = [r for r in index if any(all(_one(emu, object_type, r, f) for f in g.get("filters") or [])
                                    for g in groups)]
    rows.sort(key=lambda r: int(r["id"]))  # without a sort: oldest first
    for sort in body.get("sorts") or []:
        if isinstance(sort, str):
            sort = {"propertyName": sort.lstrip("-"), "direction": "DESCENDING" if sort.startswith("-") else
                    "ASCENDING"}
        prop = sort.get("propertyName")
        rows.sort(key=lambda r: (_value(prop, r["properties"].get(prop)) is None,
                                 _value(prop, r["properties"].get(prop)) or 0, int(r["id"])),
                  reverse=sort.get("direction") == "DESCENDING")
    names = body.get("properties") or ["createdate", "lastmodifieddate", "hs_object_id"]
    page = rows[after:after + limit]
    out = {"total": len(rows), "results": [emu.public(r, names) for r in page]}
    if after + limit < len(rows):
        out["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
    return Response(200, out)
