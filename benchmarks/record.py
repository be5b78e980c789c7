"""Figures that the benchmarks write: each benchmark run with --record stores its latest figures in
docs/benchmarks/<name>.json (command, UTC date, load average at start and end, figures), and docs/benchmarks.md
cites them in rows that tests/test_docs_benchmarks.py compares with the files.

    python benchmarks/record.py     # print the docs/benchmarks.md rows of every recorded file
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "docs" / "benchmarks"


def add_flag(parser) -> None:
    parser.add_argument("--record", action="store_true",
                        help="write this run's figures to docs/benchmarks/<name>.json (cited by docs/benchmarks.md)")


class Recorder:
    """Collects a run's figures; `write()` stores them when the run was started with --record."""

    def __init__(self, name: str, enabled: bool, argv: list[str] | None = None, folder: Path | None = None):
        self.name, self.enabled, self.folder = name, enabled, folder or FOLDER
        # A password in a database URL never reaches a committed file.
        args = [re.sub(r"(://[^:/@\s]+):[^@\s]+@", r"\1:***@", a)
                for a in (sys.argv[1:] if argv is None else argv) if a != "--record"]
        self.command = shlex.join(["python", f"benchmarks/{name}.py", *args])
        self.load_start = os.getloadavg()[0]
        self.figures: dict[str, float] = {}

    def add(self, label: str, value: float) -> float:
        if label in self.figures:
            raise ValueError(f"figure {label!r} recorded twice in one run")
        self.figures[label] = round(float(value), 3)
        return value

    def write(self) -> Path | None:
        if not self.enabled:
            return None
        if not self.figures:
            raise ValueError(f"{self.name}: --record given, but the run measured no figure")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.name}.json"
        record = {"benchmark": self.name, "command": self.command,
                  "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  "load_average": [round(self.load_start, 2), round(os.getloadavg()[0], 2)],
                  "figures": self.figures}
        path.write_text(json.dumps(record, indent=2) + "\n")
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"recorded {len(self.figures)} figure(s) in {shown}")
        return path


def fmt(value: float) -> str:
    if value == int(value) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:,.2f}"


def row(record: dict, label: str) -> str:
    """The docs/benchmarks.md row citing one figure of a recorded file."""
    start, end = record["load_average"]
    return (f"| [{record['benchmark']}](benchmarks/{record['benchmark']}.json) | {label} | "
            f"{fmt(record['figures'][label])} | `{record['command']}` | {record['date']} | {start:.1f} → {end:.1f} |")


def load_all(folder: Path = FOLDER) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def main() -> None:
    for record in load_all().values():
        for label in record["figures"]:
            print(row(record, label))


if __name__ == "__main__":
    main()
