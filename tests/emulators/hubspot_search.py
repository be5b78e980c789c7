"""CRM search of the HubSpot emulator (CRM API "Search"): filters, ascending/descending sorts, 200 a page, and
the 10,000-results-per-query cap, past which the API answers 400."""
from __future__ import annotations

from datetime import datetime

from tests.emulators.hubspot import SEARCH_CAP, SEARCH_PAGE, fail
from tests.emulators.server import Response

_OPS = {"EQ": lambda a, b: a == b, "NEQ": lambda a, b: a != b, "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b, "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b}


def _value(prop: str, raw):
    """Comparable form: dates in ms (filters may send ms or ISO), numbers as floats, else text."""
    if raw is None:
        return None
    text = str(raw)
    if prop in ("lastmodifieddate", "hs_lastmodifieddate", "createdate", "hs_timestamp"):
        if text.isdigit():
            return int(text)
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    try:
        return float(text)
    except ValueError:
        return text


def _matches(emu, object_type: str, record: dict, filters: list) -> bool:
    for f in filters:
        prop, op = f.get("propertyName"), f.get("operator")
        if prop and prop.startswith("associations."):
            target = str(f.get("value"))
            if not any(a[0] == object_type and a[1] == record["id"] and a[2] == target for a in emu.associations):
                return False
            continue
        have = _value(prop, record["properties"].get(prop))
        want = _value(prop, f.get("value"))
        if op not in _OPS or have is None or not _OPS[op](have, want):
            return False
    return True


def search(emu, object_type: str, body: dict) -> Response:
    limit = int(body.get("limit") or 10)
    after = int(body.get("after") or 0)
    if limit > SEARCH_PAGE:
        return fail(400, "VALIDATION_ERROR", f"limit must be at most {SEARCH_PAGE}")
    if after + limit > SEARCH_CAP:
        return fail(400, "VALIDATION_ERROR", f"Search results are limited to {SEARCH_CAP} per query; "
                    "narrow the filters (e.g. on the last modified date) and search again")
    groups = body.get("filterGroups") or [{"filters": []}]
    rows = [r for r in emu.objects[object_type].values()
            if any(_matches(emu, object_type, r, g.get("filters") or []) for g in groups)]
    for sort in reversed(body.get("sorts") or []):
        prop = sort.get("propertyName")
        rows.sort(key=lambda r: (_value(prop, r["properties"].get(prop)) is None,
                                 _value(prop, r["properties"].get(prop)) or 0, int(r["id"])),
                  reverse=sort.get("direction") == "DESCENDING")
    names = body.get("properties") or ["createdate", "lastmodifieddate", "hs_object_id"]
    page = rows[after:after + limit]
    out = {"total": len(rows), "results": [emu.public(r, names) for r in page]}
    if after + limit < len(rows):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return Response(200, out)
