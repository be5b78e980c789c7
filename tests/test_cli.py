"""The command line end to end: demo, score (full, changed, dry run), explain, import, status."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli
from tests.made_once import made_once


def run_the_demo(made) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DATABASE_URL", f"sqlite:///{made}/pql.db")
        env.setenv("SPECS_ROOT", str(ROOT))
        env.setenv("COLUMNAR_PATH", str(made / "columnar.duckdb"))
        code, out, err = run_cli("demo", "--people", "300", "--seed", "3")
    assert code == 0, err
    (made / "demo-output.txt").write_text(out)


@pytest.fixture(scope="module")
def demo_made(tmp_path_factory, worker_id):
    """One 300-person demo, run as the runner runs it, in a folder of its own: made once per test run, whichever
    workers this module's tests land on (tests/made_once.py)."""
    made = made_once(tmp_path_factory, worker_id, "cli-demo", run_the_demo)
    return made, (made / "demo-output.txt").read_text()


@pytest.fixture
def demo(demo_made, runner, tmp_path):
    """The demo's output, with a copy of every file it made (store, sandbox CRM, columnar copy) where this test's
    runner looks: each test changes its own copy, as when each test ran the demo itself."""
    made, out = demo_made
    for path in made.iterdir():
        (shutil.copytree if path.is_dir() else shutil.copy2)(path, tmp_path / path.name)
    return out


def demo_as_of(out: str) -> str:
    """The moment the demo scored at, as --as-of text (scores move with time, so tests pin it)."""
    stamp = re.search(r"as of (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", out).group(1)
    return stamp.replace(" ", "T") + ":00Z"


def bands(out: str) -> dict:
    found = re.search(r"bands: high (\d+), medium (\d+), low (\d+)", out)
    return dict(zip(("high", "medium", "low"), map(int, found.groups())))


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "crm_app", "--help"], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    for command in ("check", "score", "explain", "import", "demo", "serve", "status"):
        assert command in out


def test_demo_scores_personas_as_intended(demo):
    assert "Ingested" in demo and "(0 rejected)" in demo
    table = {}
    for line in demo.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] in ("PQL", "either") or line.strip().endswith("not PQL"):
            table[parts[0]] = int(parts[3].rstrip("%"))
    assert table["champion"] >= 80 and table["velocity_burst"] >= 80
    for persona in ("tire_kicker", "gone_quiet", "student", "competitor"):
        assert table.get(persona, 0) == 0


def test_rescore_with_nothing_changed_changes_nothing(demo, runner):
    code, out, _ = runner("score", "--as-of", demo_as_of(demo))
    assert code == 0 and "conversion: 0 changed" in out
    code, out, _ = runner("score", "--changed")
    assert "Scored 0 people (changed)" in out


def test_dry_run_saves_nothing(demo, runner):
    code, out, _ = runner("score", "--dry-run", "--as-of", "2030-01-01T00:00:00Z")
    assert "[dry run: nothing saved]" in out and "would change" in out
    code, out, _ = runner("score", "--as-of", demo_as_of(demo))
    assert "conversion: 0 changed" in out


def test_score_as_of_the_future_applies_decay(demo, runner):
    code, out, _ = runner("score", "--as-of", "2031-01-01T00:00:00Z")
    before, after = bands(demo), bands(out)
    assert after["high"] < before["high"] / 3 and after["low"] > before["low"]
    assert all(int(delta) < 0 for delta in re.findall(r"\(([-+]\d+)\)", out))


def test_changed_mode_scores_only_people_with_new_data(demo, runner, tmp_path):
    events = tmp_path / "new.jsonl"
    events.write_text(json.dumps({"userId": "u000001", "event": "Upgrade Started", "messageId": "new-1"}) + "\n")
    code, out, _ = runner("import", "events", str(events), "--quiet")
    assert code == 0 and "1 stored" in out
    code, out, _ = runner("score", "--changed")
    assert "Scored 1 people (changed)" in out


def test_explain_prints_every_reason(demo, runner):
    code, out, _ = runner("explain", "u000001")
    assert code == 0
    assert "combined" in out and "Fit:" in out
    code, _, err = runner("explain", "nobody@nowhere")
    assert code == 1 and "No person" in err


def test_import_reports_bad_lines_and_exits_non_zero(runner, tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"userId": "a", "event": "X"}\n{oops\n')
    code, out, _ = runner("import", "events", str(path), "--quiet")
    assert code == 1
    assert "1 stored" in out and f"{path}:2: not valid JSON" in out


def test_status(demo, runner):
    code, out, _ = runner("status")
    assert code == 0 and "last score run: full of 300 people" in out and "admin files: OK" in out


def test_demo_refuses_to_wipe_a_store_it_did_not_create(runner, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("id,title\np1,VP\n")
    assert runner("import", "people", str(people), "--quiet")[0] == 0
    code, _, _ = runner("demo", "--people", "10")
    assert code not in (0, None)
