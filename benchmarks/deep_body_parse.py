"""What a body nested past the JSON parser's recursion limit costs to parse, beside a good body of the same size.

A good body takes the parser's fast path; one with a message nested thousands of levels deep is parsed again
with the deep value cut out (services/ingest/values.py), so only that message is refused. Prints both times
per body, measured in the same run, and the ratio.

    python benchmarks/deep_body_parse.py [--messages 400] [--depth 5000] [--rounds 20]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from crm_app.services.ingest.values import loads  # noqa: E402


def bodies(messages: int, depth: int) -> tuple[bytes, bytes]:
    good = [json.dumps({"type": "track", "userId": f"u{i}", "event": "Report Created", "messageId": f"m{i}",
                        "properties": {"feature": f"f{i % 7}", "text": "[brackets] and {braces} \" in text"}})
            for i in range(messages)]
    deep = ('{"type": "track", "userId": "d", "event": "Deep", "messageId": "deep", "properties": {"v": '
            + "[" * depth + "]" * depth + "}}")
    filler = json.dumps({"type": "track", "userId": "f", "event": "Filler", "messageId": "filler",
                         "properties": {"pad": "x" * (2 * depth)}})
    return (('{"batch": [' + ", ".join(good + [filler]) + "]}").encode(),
            ('{"batch": [' + ", ".join(good + [deep]) + "]}").encode())


def timed(body: bytes, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        loads(body)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--depth", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    good, deep = bodies(args.messages, args.depth)
    fast, cut = timed(good, args.rounds), timed(deep, args.rounds)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.messages} good messages + 1 more, median of {args.rounds}")
    print(f"| body | bytes | parse ms |\n|---|---|---|\n| good (fast path) | {len(good):,} | {fast * 1000:.1f} |\n"
          f"| one message {args.depth:,} levels deep (cut and parsed again) | {len(deep):,} | {cut * 1000:.1f} |")
    print(f"ratio {cut / fast:.1f}x")


if __name__ == "__main__":
    main()
