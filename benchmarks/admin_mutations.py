"""Admin files under random mutation: `check` never raises, and every error names file:line.

Copies the shipped admin files, applies 1-3 random line mutations (delete, duplicate, indent, dedent, a hostile
value, truncate) to one file of rules/, field_specs/, playbooks/ or mapping/, runs the `check` command in-process
and counts tracebacks, errors printed without file:line, and the slowest check.

    python benchmarks/admin_mutations.py [--mutations 200] [--seed 19]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_app.cli import main  # noqa: E402

TARGETS = ["rules/conversion.yaml", "rules/lists.yaml", "field_specs/conversion.yaml", "playbooks/new_pql.yaml",
           "playbooks/routing.yaml", "mapping/crm.yaml", "mapping/create.yaml"]
VALUES = ["", "~", ".nan", "-.inf", "[]", "{}", "*x", "&x", "!!str", "1e400", "'", '"', "- a", "{a: [b, {c: d}]}",
          "99999999999999999999999999", "\t", "%YAML 1.1", "---", "? a", "'{{ name|uper }}'", "'{{ nme }}'",
          "'{% if %}'", "!!python/name:os.system", "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]"]
KINDS = ["delete", "duplicate", "indent", "dedent", "value", "truncate", "empty"]
LOCATED = re.compile(r"^\S[^:]*:\d+: ")


def mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines() or [""]
    kind, i = rng.choice(KINDS), rng.randrange(len(lines))
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "indent":
        lines[i] = "  " + lines[i]
    elif kind == "dedent":
        lines[i] = lines[i].lstrip()
    elif kind == "value":
        head = lines[i].split(":", 1)[0] if ":" in lines[i] else lines[i]
        lines[i] = f"{head}: {rng.choice(VALUES)}"
    elif kind == "truncate":
        lines = lines[:i]
    else:
        lines = []
    return "\n".join(lines) + "\n"


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tracebacks, unlocated, refused, slowest, slowest_what = 0, 0, 0, 0.0, ""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(SPECS_ROOT=tmp, DATABASE_URL=f"sqlite:///{tmp}/absent.db")
        os.chdir(tmp)
        for name in ("rules", "field_specs", "playbooks", "mapping"):
            shutil.copytree(ROOT / name, Path(tmp) / name)
        with contextlib.redirect_stdout(io.StringIO()):
            main(["check"])  # warm-up: imports and compiled templates are not a check's cost
        for n in range(args.mutations):
            for name in ("rules", "field_specs", "playbooks", "mapping"):
                shutil.rmtree(Path(tmp) / name, ignore_errors=True)
                shutil.copytree(ROOT / name, Path(tmp) / name)
            target = Path(tmp) / rng.choice(TARGETS)
            text = target.read_text()
            for _ in range(rng.randint(1, 3)):
                text = mutate(text, rng)
            target.write_text(text)
            out, err = io.StringIO(), io.StringIO()
            started = time.perf_counter()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = main(["check"])
            except BaseException:  # noqa: BLE001 - what is being counted
                tracebacks += 1
                print(f"traceback on mutation {n} of {target.name}:\n{traceback.format_exc()}", file=sys.stderr)
                continue
            seconds = time.perf_counter() - started
            if seconds > slowest:
                slowest, slowest_what = seconds, target.relative_to(tmp)
            if code:
                refused += 1
                unlocated += sum(1 for line in out.getvalue().splitlines()
                                 if not line.startswith(" ") and not LOCATED.match(line))
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| mutations checked | refused | tracebacks | errors without file:line | slowest check |")
    print("|---|---|---|---|---|")
    print(f"| {args.mutations} | {refused} | {tracebacks} | {unlocated} | {slowest:.2f} s ({slowest_what}) |")


if __name__ == "__main__":
    main_()
