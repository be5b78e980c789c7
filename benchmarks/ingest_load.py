"""Load benchmark: drive POST /v1/batch on a real gunicorn (the Procfile's web: line) from this second process.

    python benchmarks/ingest_load.py                       # SQLite, 60 s
    python benchmarks/ingest_load.py --database-url postgresql://postgres@127.0.0.1:5432/test --seconds 60
    python benchmarks/ingest_load.py --gzip                # gzipped bodies, as RudderStack's SDK sends
    python benchmarks/ingest_load.py --url http://127.0.0.1:5000 --write-key KEY   # a server you started
    python benchmarks/ingest_load.py --code-root ../other-checkout   # serve another tree's code, same sender

Prints events per second, request latency percentiles and errors, then checks that every accepted event is
stored exactly once. A PostgreSQL URL gets a fresh database created (and dropped) next to it. Request bodies
(gzipped too with --gzip) are built before the clock starts, so the sending process, which shares the machine's
cores with the server, spends its CPU on sending only (`--prebuilt 0` builds and compresses each body as it is
sent, as before). The sender's own CPU is printed beside the figures, and so is the server's CPU a request (its
gunicorn workers, and on PostgreSQL the database's backends: benchmarks/server_cpu.py), steadier than
throughput on a shared machine.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from record import Recorder, add_flag
from server_cpu import ServerCpu

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ["Logged In", "Dashboard Viewed", "Report Created", "Invite Sent", "Integration Connected",
          "Query Run", "Export Downloaded", "Settings Changed"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch_body(run: str, n: int, start: int, users: int) -> bytes:
    """One Segment batch of n track events (every 20th message an identify), unique message ids."""
    messages = []
    for i in range(start, start + n):
        user = f"load-u{i % users}"
        if i % 20 == 0:
            messages.append({"type": "identify", "userId": user, "messageId": f"{run}-{i}",
                             "traits": {"email": f"{user}@example.com", "plan": "trial"},
                             "context": {"groupId": f"load-w{i % (users // 5 or 1)}"}})
        else:
            messages.append({"type": "track", "userId": user, "event": EVENTS[i % len(EVENTS)],
                             "messageId": f"{run}-{i}", "timestamp": "2026-11-20T10:00:00Z",
                             "properties": {"feature": f"f{i % 13}", "duration": i % 300}})
    return json.dumps({"batch": messages}).encode()


class Load:
    """Sender threads sharing counters; each keeps its own connection."""

    def __init__(self, url: str, write_key: str, batch: int, users: int, gzipped: bool = False,
                 prebuilt: int = 0):
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        self.batch, self.users, self.run = batch, users, uuid.uuid4().hex[:8]
        self.gzipped = gzipped  # Content-Encoding: gzip, as RudderStack's SDK sends by default
        self.lock = threading.Lock()
        self.next = 0
        self.latencies: list[float] = []
        self.accepted = self.errors = self.sent = 0
        self.error_samples: list[str] = []
        self.bodies = [self._body(i * batch) for i in range(prebuilt)]
        self.built_late = 0

    def _body(self, start: int) -> bytes:
        body = batch_body(self.run, self.batch, start, self.users)
        return gzip.compress(body, 6) if self.gzipped else body

    def _take(self) -> bytes:
        with self.lock:
            start, self.next = self.next, self.next + self.batch
            late = start // self.batch >= len(self.bodies)
            self.built_late += late
        return self._body(start) if late else self.bodies[start // self.batch]

    def sender(self, deadline: float) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        while time.time() < deadline:
            body = self._take()
            headers = {"Content-Type": "application/json", "Authorization": self.auth}
            if self.gzipped:
                headers["Content-Encoding"] = "gzip"
            began = time.perf_counter()
            try:
                conn.request("POST", "/v1/batch", body, headers)
                response = conn.getresponse()
                answer = response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException) as exc:
                ok, answer = False, str(exc).encode()
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            elapsed = time.perf_counter() - began
            with self.lock:
                self.sent += self.batch
                self.latencies.append(elapsed)
                if ok:
                    self.accepted += json.loads(answer)["accepted"]
                else:
                    self.errors += 1
                    if len(self.error_samples) < 5:
                        self.error_samples.append(answer[:200].decode(errors="replace"))
        conn.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def start_gunicorn(database_url: str, workers: int, write_key: str, root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """The Procfile's web: command, with the secrets a deployment must set, serving the code under `root`."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, WRITE_KEY=write_key, SECRET_KEY=uuid.uuid4().hex,
               DASHBOARD_ADMIN_PASSWORD=uuid.uuid4().hex, SPECS_ROOT=str(root), LOG_LEVEL="WARNING",
               PYTHONPATH=str(root))
    # A checkout from before the gunicorn config file (--code-root) runs with gunicorn's defaults: no access log.
    config = ["-c", "python:crm_app.web.gunicorn_conf"] if (root / "crm_app/web/gunicorn_conf.py").exists() else []
    command = [sys.executable, "-m", "gunicorn", *config, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--log-level", "warning", "crm_app:create_app()"]
    proc = subprocess.Popen(command, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def fresh_postgres(base: str) -> tuple[str, callable]:
    """A new database beside the given one, and a function that drops it."""
    import psycopg
    name = f"pql_load_{uuid.uuid4().hex[:8]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return base.rsplit("/", 1)[0] + f"/{name}", drop


def stored_events(database_url: str) -> int:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, select

    from crm_app.store import Store, schema
    store = Store(database_url)
    with store.read() as conn:
        count = conn.execute(select(func.count()).select_from(schema.events)).scalar()
    store.dispose()
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--url", help="an already running server (skips starting gunicorn)")
    parser.add_argument("--write-key", default="load-test-key")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch", type=int, default=200, help="events per request")
    parser.add_argument("--concurrency", type=int, default=4, help="sender threads")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--gzip", action="store_true", help="send gzipped bodies (Content-Encoding: gzip)")
    parser.add_argument("--prebuilt", type=int, help="request bodies built before the clock starts (later ones "
                        "are built as sent); default: enough for 20,000 events/s")
    parser.add_argument("--code-root", default=str(ROOT), help="the checkout whose server is started")
    add_flag(parser)
    args = parser.parse_args()
    rec = Recorder("ingest_load", args.record)

    drop = None
    database_url = args.database_url
    with tempfile.TemporaryDirectory() as tmp:
        if not database_url:
            database_url = f"sqlite:///{tmp}/load.db"
        elif database_url.startswith("postgres") and not args.url:
            database_url, drop = fresh_postgres(database_url)
        proc = None
        url = args.url
        if not url:
            proc, url = start_gunicorn(database_url, args.web_workers, args.write_key, Path(args.code_root).resolve())
        prebuilt = int(args.seconds * 20_000 / args.batch) if args.prebuilt is None else args.prebuilt
        load = Load(url, args.write_key, args.batch, args.users, args.gzip, prebuilt)
        server = ServerCpu(proc.pid if proc else None, database_url if proc else None)
        server.start()
        try:
            cpu_began = time.process_time()
            began = time.time()
            deadline = began + args.seconds
            threads = [threading.Thread(target=load.sender, args=(deadline,)) for _ in range(args.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.time() - began
            sender_cpu = time.process_time() - cpu_began
            web_cpu, db_cpu = server.stop()
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
        backend = database_url.split(":", 1)[0]
        print(f"backend {backend}, gunicorn workers {args.web_workers if proc else '(external)'}, "
              f"{args.concurrency} senders, {args.batch} events/request{', gzip' if args.gzip else ''}, "
              f"{elapsed:.1f} s, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"requests {len(load.latencies)}, errors {load.errors}, events sent {load.sent}, "
              f"accepted {load.accepted}; sender CPU {sender_cpu / elapsed:.0%} of a core, "
              f"{load.built_late} bodies built while sending")
        print(f"throughput {load.accepted / elapsed:,.0f} events/s ({len(load.latencies) / elapsed:.1f} requests/s)")
        print("request latency ms: " + ", ".join(f"p{p} {percentile(load.latencies, p) * 1000:.1f}"
                                                 for p in (50, 90, 95, 99)) +
              f", max {max(load.latencies, default=0) * 1000:.1f}")
        if proc is not None and load.latencies:
            per = 1000 / len(load.latencies)
            print(f"server CPU a request: web workers {web_cpu * per:.2f} ms"
                  + (f", database backends {db_cpu * per:.2f} ms" if server.database_url else ""))
        for sample in load.error_samples:
            print(f"  error: {sample}")
        if proc is not None:
            # Identify messages are accepted but are not events; count only the tracks.
            tracks = sum(1 for i in range(load.next) if i % 20 != 0 and i < load.sent)
            stored = stored_events(database_url)
            print(f"stored events {stored} (track events in accepted requests: {tracks}): "
                  + ("each stored once" if stored <= tracks else "MORE THAN SENT"))
        rec.add("throughput, events/s", load.accepted / elapsed)
        rec.add("request latency p95, ms", percentile(load.latencies, 95) * 1000)
        rec.add("requests refused or failed", load.errors)
        if drop:
            drop()
    rec.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
