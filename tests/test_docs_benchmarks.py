"""docs/benchmarks.md cites the figures the benchmarks wrote (docs/benchmarks/*.json) exactly as recorded."""
from __future__ import annotations

import json
import re

import pytest

from benchmarks import record
from tests.conftest import ROOT

BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"
CITING = re.compile(r"^\| \[(\w+)\]\(benchmarks/(\w+)\.json\) \| ([^|]+?) \|")
WIRED = ["score_bench", "ingest_load", "playbook_latency", "spark_bench", "propensity_bench"]


def citing_rows(text: str) -> list[tuple[str, str, str]]:
    """(line, file stem, figure label) of every table row that cites a recorded file."""
    found = []
    for line in text.splitlines():
        match = CITING.match(line)
        if match:
            assert match[1] == match[2], f"row names {match[1]} but cites {match[2]}.json: {line}"
            found.append((line, match[2], match[3]))
    return found


ROWS = citing_rows(BENCHMARKS_MD.read_text())
RECORDS = record.load_all()


def test_benchmarks_md_cites_recorded_figures():
    assert ROWS, "docs/benchmarks.md cites no recorded figure"


@pytest.mark.parametrize("line, stem, label", ROWS, ids=[f"{s}: {lab}" for _, s, lab in ROWS])
def test_every_citing_row_matches_its_recorded_file(line, stem, label):
    assert stem in RECORDS, f"docs/benchmarks/{stem}.json does not exist"
    assert label in RECORDS[stem]["figures"], f"{stem}.json has no figure {label!r}"
    assert line == record.row(RECORDS[stem], label), "stale row: python benchmarks/record.py prints the current one"


@pytest.mark.parametrize("stem", sorted(RECORDS))
def test_every_recorded_file_is_cited_and_well_formed(stem):
    rec = RECORDS[stem]
    assert set(rec) == {"benchmark", "command", "date", "load_average", "figures"} and rec["benchmark"] == stem
    assert rec["command"].startswith(f"python benchmarks/{stem}.py") and len(rec["load_average"]) == 2
    assert any(s == stem for _, s, _ in ROWS), f"docs/benchmarks.md cites nothing of {stem}.json"


@pytest.mark.parametrize("name", WIRED)
def test_the_benchmark_has_a_record_flag(name):
    source = (ROOT / "benchmarks" / f"{name}.py").read_text()
    assert "add_flag(" in source and f'Recorder("{name}", args.record)' in source and ".write()" in source


def test_a_changed_figure_makes_its_row_stale():
    line, stem, label = ROWS[0]
    changed = json.loads(json.dumps(RECORDS[stem]))
    changed["figures"][label] += 1
    assert record.row(changed, label) != line


def test_the_recorder_writes_only_with_record(tmp_path):
    off = record.Recorder("x_bench", False, argv=["--people", "5"], folder=tmp_path)
    off.add("a", 1)
    assert off.write() is None and not list(tmp_path.iterdir())
    on = record.Recorder("x_bench", True, argv=["--people", "5", "--record"], folder=tmp_path)
    on.add("people/s", 1234.5678)
    written = json.loads(on.write().read_text())
    assert written["command"] == "python benchmarks/x_bench.py --people 5"
    assert written["figures"] == {"people/s": 1234.568}
    with pytest.raises(ValueError, match="twice"):
        on.add("people/s", 1)
    with pytest.raises(ValueError, match="no figure"):
        record.Recorder("y_bench", True, argv=[], folder=tmp_path).write()


def test_a_password_in_a_url_is_not_recorded(tmp_path):
    rec = record.Recorder("x_bench", True, argv=["--database-url", "postgresql://ann:s3cret@db/pql"], folder=tmp_path)
    assert "s3cret" not in rec.command and "postgresql://ann:***@db/pql" in rec.command
