"""What a password-guessing attack costs the web process, with the sign-in throttle's store-backed counters.

Sends N wrong passwords for one user from one address through the real app (Flask test client), with
`login_failures` pre-filled with background failures, and prints attempts per second beside two references
measured in the same run: N GETs of the sign-in page (no throttle check) and up to 200 real sign-ins (a GET
for the form, then the right password: a throttle check, a Werkzeug password hash check and a new session).

    PYTHONPATH=. .venv/bin/python benchmarks/login_throttle.py [--attempts 1000] [--background 100000]
        [--postgres postgresql://127.0.0.1/test]   (runs in a fresh database beside it, dropped after)
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_app import create_app  # noqa: E402
from crm_app.config import Config  # noqa: E402
from crm_app.services.dashboard.users import add_user  # noqa: E402
from crm_app.store import Store  # noqa: E402
from crm_app.store.dashboard.security import login_failures  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed(label: str, n: int, call) -> float:
    started = time.perf_counter()
    codes = [call(i) for i in range(n)]
    seconds = time.perf_counter() - started
    counts = {c: codes.count(c) for c in sorted(set(codes))}
    print(f"{label:<48} {n / seconds:>9,.0f} per s  {1000 * seconds / n:6.2f} ms each  answers {counts}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--background", type=int, default=100_000, help="failures already in the table")
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL; a fresh database is made beside it")
    args = parser.parse_args()
    if args.postgres:
        with fresh_postgres(args.postgres) as url:
            run(args, url)
    else:
        run(args, f"sqlite:///{tempfile.mkdtemp()}/bench.db")


@contextlib.contextmanager
def fresh_postgres(base: str):
    import psycopg
    name, admin = f"pql_bench_login_{uuid.uuid4().hex[:8]}", base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args, url: str) -> None:
    store = Store(url)
    now = time.time()
    with store.begin() as conn:
        rows = [{"user": f"user{i % 5000}", "address": f"10.{i % 250}.{i // 250 % 250}.1", "at": now - i % 800}
                for i in range(args.background)]
        for start in range(0, len(rows), 10_000):
            conn.execute(login_failures.insert(), rows[start:start + 10_000])
    config = Config.from_env({}, database_url=url, specs_root=str(ROOT), secret_key="b" * 32)
    app = create_app(config, store=store)
    add_user(store, "bench-user", "bench-password-1", "viewer")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.250"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").text).group(1)
    print(f"{args.attempts} attempts, {args.background:,} background failures, {url.split(':')[0]}, "
          f"load average {os.getloadavg()[0]:.2f}")
    timed("reference: GET the sign-in page", args.attempts, lambda i: client.get("/dashboard/login").status_code)
    def right_password(i: int) -> int:
        fresh = app.test_client()
        fresh.environ_base["REMOTE_ADDR"] = "198.51.100.250"
        fresh_token = re.search(r'name="csrf_token" value="([^"]+)"', fresh.get("/dashboard/login").text).group(1)
        return fresh.post("/dashboard/login", data={"user": "bench-user", "password": "bench-password-1",
                                                    "csrf_token": fresh_token}).status_code
    timed("reference: GET the page + right password", min(args.attempts, 200), right_password)
    timed("attack: wrong passwords, one user, one address", args.attempts,
          lambda i: client.post("/dashboard/login", data={"user": "bench-user", "password": f"guess-{i}",
                                                         "csrf_token": token}).status_code)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    store.dispose()


if __name__ == "__main__":
    main()
