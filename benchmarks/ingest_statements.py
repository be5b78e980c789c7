"""Statement by statement: what a PostgreSQL ingest request sends, and the CPU it costs on both sides.

    python benchmarks/ingest_statements.py --database-url postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/ingest_statements.py --database-url ... --code-root ../other-checkout   # another tree

POSTs the bodies `ingest_load.py` sends through Flask's test client (no network) to a fresh database, after
warm-up requests that create the people, accounts and event types (so the timed requests are the steady state
of a long load run). psycopg's `Cursor.execute` and `executemany` are wrapped: each statement's calls and rows
a request, and the wall time spent in them. Also printed: this process's CPU a request (`time.process_time`)
and the CPU its PostgreSQL backend spent (read from /proc: the server must run on this machine).
"""
from __future__ import annotations

import argparse
import base64
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import psycopg
from ingest_load import batch_body, fresh_postgres
from server_cpu import database_backends, process_seconds

ROOT = Path(__file__).resolve().parent.parent


def shape(query) -> str:
    """A statement's text with runs of VALUES tuples folded, so one statement's variants add up."""
    text = query.decode() if isinstance(query, bytes) else str(query)
    text = re.sub(r"\(%s(, %s)*\)(, \(%s(, %s)*\))+", "(...) x N", text)
    return re.sub(r"\s+", " ", text)[:140]


class StatementLog:
    """Calls, rows (executemany) and seconds per statement shape, while `on`."""

    def __init__(self):
        self.on = False
        self.seen: dict = defaultdict(lambda: [0, 0, 0.0])
        for name in ("execute", "executemany"):
            self._wrap(name)

    def _wrap(self, name: str) -> None:
        real = getattr(psycopg.Cursor, name)
        log = self

        def call(cursor, query, params=None, *args, **kwargs):
            if not log.on:
                return real(cursor, query, params, *args, **kwargs)
            if name == "executemany":
                params = list(params)
            began = time.perf_counter()
            try:
                return real(cursor, query, params, *args, **kwargs)
            finally:
                entry = log.seen[(name, shape(query))]
                entry[0] += 1
                entry[1] += len(params) if name == "executemany" else 1
                entry[2] += time.perf_counter() - began
        setattr(psycopg.Cursor, name, call)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL URL; a fresh database is made beside it")
    parser.add_argument("--code-root", default=str(ROOT), help="the checkout whose crm_app is measured")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=60, help="requests before timing (60 x 100 events: every "
                        "one of the 5,000 users exists)")
    args = parser.parse_args()

    log = StatementLog()
    database_url, drop = fresh_postgres(args.database_url)
    try:
        sys.path.insert(0, str(Path(args.code_root).resolve()))
        from crm_app import create_app
        from crm_app.config import Config
        app = create_app(Config.from_env({}, database_url=database_url, specs_root=args.code_root, write_key="k"))
        client = app.test_client()
        bodies = [batch_body("st", 100, i * 100, 5000) for i in range(args.warmup + args.requests)]
        headers = {"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(b"k:").decode()}
        for body in bodies[:args.warmup]:
            assert client.post("/v1/batch", data=body, headers=headers).status_code == 200
        backends = database_backends(database_url)
        server_began = sum(process_seconds(pid) for pid in backends)
        cpu = []
        log.on = True
        for body in bodies[args.warmup:]:
            began = time.process_time()
            answer = client.post("/v1/batch", data=body, headers=headers)
            cpu.append(time.process_time() - began)
            assert answer.status_code == 200 and not answer.get_json()["rejected"], answer.get_data()[:300]
        log.on = False
        server = sum(process_seconds(pid) for pid in backends) - server_began
        app.config["PQL_STORE"].dispose()
    finally:
        drop()
    n = args.requests
    print(f"code {args.code_root}, {n} requests of 100 events after {args.warmup}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"CPU a request: this process median {statistics.median(cpu) * 1000:.2f} ms, mean "
          f"{statistics.mean(cpu) * 1000:.2f} ms; PostgreSQL backends ({len(backends)}) {server / n * 1000:.2f} ms")
    calls = sum(v[0] for v in log.seen.values())
    print(f"driver calls a request {calls / n:.2f}, statements the server ran {sum(v[1] for v in log.seen.values()) / n:.2f}"
          f", wall time in them {sum(v[2] for v in log.seen.values()) / n * 1000:.2f} ms")
    print("calls  statements  wall ms  (a request)")
    for (kind, text), (count, rows, seconds) in sorted(log.seen.items(), key=lambda kv: -kv[1][2]):
        print(f"{count / n:5.2f}  {rows / n:10.1f}  {seconds / n * 1000:7.2f}  {kind} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
