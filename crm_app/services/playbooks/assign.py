"""Choose an owner: keep the current one, the account's owner, a territory's pool, or round-robin.

Reps over their weekly cap or marked away are skipped. The round-robin position and the weekly counts live
in the store and change in the same transaction as the ledger entry, so a restart neither repeats nor
skips a turn.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crm_app.specs.routing import Routing
from crm_app.store.playbooks import ledger as pb_store


@dataclass(frozen=True)
class Choice:
    owner: str | None  # rep email
    strategy: str | None  # which strategy chose it; None when none could
    new_assignment: bool  # False when the current owner is kept


def week_of(now: int) -> int:
    """ISO year and week as one number, e.g. 202647: the period of the weekly cap."""
    year, week, _ = dt.datetime.fromtimestamp(now, dt.timezone.utc).isocalendar()
    return year * 100 + week


def eligible(routing: Routing, email: str | None, counts: dict) -> bool:
    """A rep may receive a lead: present, not away, and under the weekly cap (unknown emails pass)."""
    if not email:
        return False
    rep = routing.rep(email)
    if rep is None:
        return True  # an owner outside the routing file (e.g. an account owner) has no cap we know of
    cap = routing.cap(rep)
    return not rep.away and (cap is None or counts.get(rep.email, 0) < cap)


def territory_pool(routing: Routing, record: dict) -> str | None:
    """The pool of the first territory whose field value matches the record's, else the default pool."""
    for t in routing.territories:
        value = record.get(t.field)
        if value is not None and str(value).strip().lower() in t.values:
            return t.pool
    return routing.default_pool


def next_in_pool(members: tuple, position: int, routing: Routing, counts: dict) -> tuple:
    """(rep, new position) for the next eligible member after `position`, or (None, position)."""
    n = len(members)
    for k in range(n):
        email = members[(position + k) % n]
        if eligible(routing, email, counts):
            return email, (position + k + 1) % n
    return None, position


def choose_owner(conn, routing: Routing, strategies: tuple, pool: str | None, record: dict, now: int) -> Choice:
    """Try each strategy in order; record round-robin turns and weekly counts for a new assignment."""
    week = week_of(now)
    counts = pb_store.week_counts(conn, week)
    for strategy in strategies:
        email, chosen_pool = None, None
        if strategy == "keep_current":
            current = _email(record.get(routing.owner_field))
            if current:
                return Choice(current, strategy, False)
            continue
        if strategy == "account_owner":
            email = _email(record.get(routing.account_owner_field))
            email = email if eligible(routing, email, counts) else None
        elif strategy in ("territory", "round_robin"):
            chosen_pool = territory_pool(routing, record) if strategy == "territory" else pool
            members = routing.pools.get(chosen_pool or "", ())
            if not members:
                continue
            email, position = next_in_pool(members, pb_store.rr_position(conn, chosen_pool), routing, counts)
            if email:
                pb_store.set_rr_position(conn, chosen_pool, position)
        if email:
            pb_store.count_assignment(conn, email, week)
            return Choice(email, strategy, True)
    return Choice(None, None, False)


def _email(value) -> str | None:
    return value.strip().lower() if isinstance(value, str) and "@" in value else None
