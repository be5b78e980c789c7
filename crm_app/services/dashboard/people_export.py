"""The people list as CSV: every person a filter matches, walked page by page in sort order."""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Iterator

from crm_app.services.dashboard.overview import WEEK, with_display_columns
from crm_app.store import Store
from crm_app.store.dashboard import queries
from crm_app.store.dashboard.queries import SORTS, PeopleQuery

PAGE = 1000  # rows read per keyset step; no count is taken, unlike a page of the list

COLUMNS = ("id", "user_id", "name", "email", "company", "owner", "score", "change_7d", "fit", "behaviour", "band",
           "pql", "pql_since", "activation", "last_activity")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A cell a spreadsheet shows as text: values that would start a formula get a leading quote."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not isinstance(value, (int, float)):
        return "'" + text
    return text


def _date(ts) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d") if ts else None


def _line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([safe_cell(v) for v in values])
    return out.getvalue()


def export_lines(store: Store, query: PeopleQuery, now: int) -> Iterator[str]:
    """The header, then one line per matching person, in the list's order; memory stays one page."""
    yield _line(COLUMNS)
    cursor = None
    column = SORTS[query.sort]
    while True:
        with store.read() as conn:
            rows = queries.people_page(conn, PeopleQuery(**{**query.__dict__, "after": cursor, "before": None,
                                                            "size": PAGE}), limit=PAGE)
            week_ago = queries.scores_at(conn, query.model, [r["subject_id"] for r in rows], now - WEEK)
        for row in (with_display_columns(r, week_ago) for r in rows):
            yield _line((row["subject_id"], row["external_id"], row["name"], row["email"], row["company"],
                         row["owner"], row["combined"], row["change"], row["fit"], row["behaviour"], row["band"],
                         "yes" if row["pql"] else "no", _date(row["pql_since"]), row["activation"],
                         _date(row["last_activity"])))
        if len(rows) < PAGE:
            return
        cursor = (rows[-1][column], rows[-1]["subject_id"])
