"""CPU an ingest request costs in the web process: POST /v1/batch through Flask's test client, no network.

    python benchmarks/ingest_cpu.py                                  # SQLite, 200 requests of 100 events
    python benchmarks/ingest_cpu.py --database-url postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/ingest_cpu.py --gzip --profile 25              # gzipped bodies; cProfile's top 25
    python benchmarks/ingest_cpu.py --code-root ../other-checkout    # the same load on another tree's code

The bodies are the ones `ingest_load.py` sends (every 20th message an identify), built before timing. Prints
CPU (`time.process_time`) and wall time per request, and `parse_message` alone per message. CPU time counts
this process only: the database server's work on PostgreSQL is not in it, its round trips are in wall time.
"""
from __future__ import annotations

import argparse
import cProfile
import gzip
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ingest_load import batch_body, fresh_postgres

ROOT = Path(__file__).resolve().parent.parent


def build_client(code_root: Path, database_url: str):
    sys.path.insert(0, str(code_root))
    from crm_app import create_app
    from crm_app.config import Config
    config = Config.from_env({}, database_url=database_url, specs_root=str(code_root), write_key="cpu-key")
    app = create_app(config)
    return app, app.test_client()


def parse_cost(bodies: list[bytes], rounds: int) -> float:
    """Microseconds of CPU a message of these bodies takes to parse and check, the way the web route does it
    (values.parse_body and parse_message; a tree without parse_body: json.loads and parse_message)."""
    import json

    from crm_app.services.ingest.messages import parse_message
    try:
        from crm_app.services.ingest import values
    except ImportError:  # a checkout from before edge validation
        values = None
    count = sum(len(json.loads(body)["batch"]) for body in bodies)
    began = time.process_time()
    for _ in range(rounds):
        for body in bodies:
            if hasattr(values, "parse_body"):
                parsed, plain = values.parse_body(body)
                for m in parsed["batch"]:
                    parse_message(m, None, 1_800_000_000, None, plain)
            else:
                for m in json.loads(body)["batch"]:
                    parse_message(m, None, 1_800_000_000, None)
    return (time.process_time() - began) / (rounds * count) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--code-root", default=str(ROOT), help="the checkout whose crm_app is measured")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=20, help="requests sent before timing")
    parser.add_argument("--gzip", action="store_true", help="send gzipped bodies (Content-Encoding: gzip)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N functions")
    parser.add_argument("--profile-out", help="also write the cProfile stats to this file (for pstats)")
    args = parser.parse_args()

    drop = None
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite:///{tmp}/cpu.db"
        if database_url.startswith("postgres"):
            database_url, drop = fresh_postgres(database_url)
        try:
            app, client = build_client(Path(args.code_root).resolve(), database_url)
            total = args.warmup + args.requests
            bodies = [batch_body("cpu", args.batch, i * args.batch, args.users) for i in range(total)]
            headers = {"Content-Type": "application/json",
                       "Authorization": "Basic " + __import__("base64").b64encode(b"cpu-key:").decode()}
            if args.gzip:
                bodies, headers["Content-Encoding"] = [gzip.compress(b, 6) for b in bodies], "gzip"
            for body in bodies[:args.warmup]:
                assert client.post("/v1/batch", data=body, headers=headers).status_code == 200
            profiler = cProfile.Profile() if args.profile else None
            cpu, wall = [], []
            for body in bodies[args.warmup:]:
                c0, w0 = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                answer = client.post("/v1/batch", data=body, headers=headers)
                if profiler:
                    profiler.disable()
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
                assert answer.status_code == 200 and not answer.get_json()["rejected"], answer.get_data()[:300]
            plain = [gzip.decompress(b) for b in bodies[:20]] if args.gzip else bodies[:20]
            per_message = parse_cost(plain, 20)
            app.config["PQL_STORE"].dispose()
        finally:
            if drop:
                drop()
    print(f"code {args.code_root}, backend {database_url.split(':', 1)[0]}, {args.requests} requests of "
          f"{args.batch} events{', gzip' if args.gzip else ''}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"CPU per request: median {statistics.median(cpu) * 1000:.2f} ms, mean {statistics.mean(cpu) * 1000:.2f}"
          f" ms; wall median {statistics.median(wall) * 1000:.2f} ms; body parse + parse_message {per_message:.2f} µs/message")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
