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


class Assigner:
    """Owner choices for a batch of plan entries in one transaction: the week's counts and each pool's
    round-robin position are read once, kept up to date here as reps are chosen, and written by `flush` (in the
    same transaction as the ledger entries, before it commits)."""

    def __init__(self, conn, now: int):
        self.conn, self.week = conn, week_of(now)
        self.counts = pb_store.week_counts(conn, self.week)
        self.positions: dict = {}  # pool -> position, read on first use
        self.moved: set = set()  # pools whose position moved
        self.added: dict = {}  # rep -> assignments added

    def choose(self, routing: Routing, strategies: tuple, pool: str | None, record: dict) -> Choice:
        """Try each strategy in order; a new assignment counts toward the rep's weekly cap at once."""
        for strategy in strategies:
            email = None
            if strategy == "keep_current":
                current = _email(record.get(routing.owner_field))
                if current:
                    return Choice(current, strategy, False)
                continue
            if strategy == "account_owner":
                email = _email(record.get(routing.account_owner_field))
                email = email if eligible(routing, email, self.counts) else None
            elif strategy in ("territory", "round_robin"):
                chosen_pool = territory_pool(routing, record) if strategy == "territory" else pool
                members = routing.pools.get(chosen_pool or "", ())
                if not members:
                    continue
                email, position = next_in_pool(members, self._position(chosen_pool), routing, self.counts)
                if email:
                    self.positions[chosen_pool] = position
                    self.moved.add(chosen_pool)
            if email:
                self.counts[email] = self.counts.get(email, 0) + 1
                self.added[email] = self.added.get(email, 0) + 1
                return Choice(email, strategy, True)
        return Choice(None, None, False)

    def _position(self, pool: str) -> int:
        if pool not in self.positions:
            self.positions[pool] = pb_store.rr_position(self.conn, pool)
        return self.positions[pool]

    def flush(self) -> None:
        for pool in sorted(self.moved):
            pb_store.set_rr_position(self.conn, pool, self.positions[pool])
        pb_store.count_assignments(self.conn, self.week, self.added)
        self.moved, self.added = set(), {}


def choose_owner(conn, routing: Routing, strategies: tuple, pool: str | None, record: dict, now: int) -> Choice:
    """One choice, recorded at once (Assigner for a batch)."""
    assigner = Assigner(conn, now)
    choice = assigner.choose(routing, strategies, pool, record)
    assigner.flush()
    return choice


def _email(value) -> str | None:
    return value.strip().lower() if isinstance(value, str) and "@" in value else None
