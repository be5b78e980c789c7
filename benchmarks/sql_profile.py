"""Count and time the SQL one thread sends through a SQLAlchemy engine, grouped by statement text.

    profile = SqlProfile(store.engine, thread=threading.current_thread())
    ... work ...
    print(profile.report(cycles=10))

Statements sent through the driver's own cursor (store.bulk) are not seen by SQLAlchemy's events; the
connection checkouts (each one a round trip for pool_pre_ping on PostgreSQL) are counted separately.
"""
from __future__ import annotations

import re
import threading
import time
from collections import defaultdict

from sqlalchemy import event


def shape(statement: str) -> str:
    """The statement with its literal lists and parameter runs folded, so one query shape is one row."""
    text = re.sub(r"\s+", " ", statement).strip()
    text = re.sub(r"(%\([^)]+\)s|\?|\$\d+|:\w+)(\s*,\s*(%\([^)]+\)s|\?|\$\d+|:\w+))+", "...", text)
    text = re.sub(r"__\[POSTCOMPILE_\w+\]", "...", text)
    return text


class SqlProfile:
    def __init__(self, engine, thread: threading.Thread | None = None):
        self.engine, self.thread = engine, thread
        self.stats = defaultdict(lambda: [0, 0.0])  # shape -> [count, seconds]
        self.checkouts = 0
        self._started: dict = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine.pool, "checkout", self._checkout)

    def _mine(self) -> bool:
        return self.thread is None or threading.current_thread() is self.thread

    def _before(self, conn, cursor, statement, params, context, executemany):
        if self._mine():
            self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn, cursor, statement, params, context, executemany):
        began = self._started.pop(id(cursor), None)
        if began is not None:
            row = self.stats[shape(statement)]
            row[0] += 1
            row[1] += time.perf_counter() - began

    def _checkout(self, *_args):
        if self._mine():
            self.checkouts += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        event.remove(self.engine.pool, "checkout", self._checkout)

    def report(self, cycles: int, top: int = 15) -> str:
        cycles = max(1, cycles)
        total_n = sum(n for n, _ in self.stats.values())
        total_s = sum(s for _, s in self.stats.values())
        lines = [f"SQL per cycle ({cycles} cycles): {total_n / cycles:.1f} statements, {total_s / cycles * 1000:.1f} ms "
                 f"in the database driver, {self.checkouts / cycles:.1f} connection checkouts"]
        for text, (n, s) in sorted(self.stats.items(), key=lambda kv: -kv[1][1])[:top]:
            lines.append(f"  {n / cycles:7.1f}/cycle {s / cycles * 1000:8.2f} ms/cycle  {text[:150]}")
        return "\n".join(lines)
