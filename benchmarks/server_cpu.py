"""CPU the server side of a benchmark spent: a gunicorn master's workers, and a PostgreSQL database's backends.

Read from /proc (Linux, same machine), so it needs the server and PostgreSQL on this host and permission to
read their /proc entries. On a shared machine CPU a request is steadier than requests a second, which other
processes' load moves: both are printed.
"""
from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_seconds(pid: int) -> float:
    """User + system CPU seconds of one process, 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def database_backends(database_url: str) -> list[int]:
    """Process ids of the PostgreSQL backends connected to this URL's database (other than ours)."""
    import psycopg
    name = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                                           "AND pid <> pg_backend_pid()", (name,))]


class ServerCpu:
    """CPU the web workers (children of `web_pid`) and the database's backends spent between start() and stop().

    A backend or worker that starts after start() counts from zero; one that ends before stop() is missed."""

    def __init__(self, web_pid: int | None, database_url: str | None):
        self.web_pid = web_pid
        self.database_url = database_url if database_url and database_url.startswith("postgres") else None
        self.before: dict[int, float] = {}

    def _pids(self) -> tuple[list[int], list[int]]:
        web = children(self.web_pid) if self.web_pid else []
        return web, database_backends(self.database_url) if self.database_url else []

    def start(self) -> None:
        web, db = self._pids()
        self.before = {pid: process_seconds(pid) for pid in web + db}

    def stop(self) -> tuple[float, float]:
        """(web workers' CPU seconds, database backends' CPU seconds) since start()."""
        web, db = self._pids()
        return tuple(sum(process_seconds(p) - self.before.get(p, 0.0) for p in pids) for pids in (web, db))
