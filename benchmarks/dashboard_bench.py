"""Dashboard benchmark: how fast the people list answers a page with a million people, through the real app.

    python benchmarks/dashboard_bench.py
    python benchmarks/dashboard_bench.py --source var/bench/score-1000000-20000000-1.db
    python benchmarks/dashboard_bench.py --synthetic        # people, names and companies generated here

People and accounts are copied (read-only) from the scoring benchmark's cached store, each person is given
one of 25 owners, and each gets a result row drawn from a fixed-seed distribution shaped like the demo's (a third per band, about a quarter
PQLs), because the query times depend on row counts and index shapes, not on how the scores were reached.
The copy is kept under var/bench/ and reused. Every figure is a full HTTP request through Flask's test client
(login, query, template), timed over several runs; the median and the worst are printed. Not a test.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_app import create_app  # noqa: E402
from crm_app.config import Config  # noqa: E402
from crm_app.store import Store  # noqa: E402

DEFAULT_SOURCE = ROOT / "var" / "bench" / "score-1000000-20000000-1.db"
FIRST = ["Jane", "John", "Ana", "Omar", "Chen", "Yara", "Mo", "Pia", "Wen", "Liam", "Zoe", "Ravi", "Ines", "Kofi"]
LAST = ["Doe", "Smith", "Kim", "Silva", "Rossi", "Haddad", "Okafor", "Novak", "Garcia", "Tanaka", "Berg", "Ali"]
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Wonka", "Stark", "Wayne", "Tyrell", "Soylent"]
AS_OF = 1_790_000_000
BATCH = 100_000
REASONS = [["icp_industry", "ICP industry match", 20], ["invited_teammates", "Invited 3 teammate(s)", 25],
           ["frequent_logins", "6 logins in the past 7 days", 15], ["no_login_14d", "No login for 15 days", -10]]


def copy_people(source: Path, target: sqlite3.Connection, limit: int) -> int:
    """Accounts and the first `limit` people from the scoring benchmark's store, read-only."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    for table, columns in (("accounts", "id, external_id, name, domain, attributes, updated_at"),
                           ("people", "id, external_id, email, account_id, attributes, created_at, updated_at")):
        where = f" WHERE id <= {int(limit)}" if table == "people" else ""
        cursor = src.execute(f"SELECT {columns} FROM {table}{where} ORDER BY id")
        marks = ", ".join("?" * len(columns.split(",")))
        while rows := cursor.fetchmany(BATCH):
            target.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    src.close()
    return target.execute("SELECT count(*) FROM people").fetchone()[0]


def synthetic_people(target: sqlite3.Connection, people: int, seed: int) -> int:
    """`people` people with first and last names in 1/20 as many accounts with company names, from a fixed seed."""
    rng = np.random.default_rng(seed)
    accounts = max(1, people // 20)
    target.executemany("INSERT INTO accounts (id, external_id, name, domain, attributes, updated_at) "
                       "VALUES (?,?,?,?,?,?)",
                       ((i, f"w{i:07d}", f"{WORDS[i % len(WORDS)]} {i}", f"c{i}.example", "{}", AS_OF)
                        for i in range(1, accounts + 1)))
    first, last = rng.integers(0, len(FIRST), people), rng.integers(0, len(LAST), people)
    account = rng.integers(1, accounts + 1, people)
    for start in range(0, people, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, people)):
            given, family = FIRST[first[i]], LAST[last[i]]
            attributes = json.dumps({"first_name": given, "last_name": family + str(i % 997)}, separators=(",", ":"))
            rows.append((i + 1, f"u{i + 1:07d}", f"{given.lower()}.{family.lower()}{i}@c{account[i]}.example",
                         int(account[i]), attributes, AS_OF, AS_OF))
        target.executemany("INSERT INTO people (id, external_id, email, account_id, attributes, created_at, "
                           "updated_at) VALUES (?,?,?,?,?,?,?)", rows)
    return people


def fill_results(target: sqlite3.Connection, seed: int) -> None:
    """One conversion result per person, from a fixed-seed distribution."""
    ids = [row[0] for row in target.execute("SELECT id FROM people ORDER BY id")]
    rng = np.random.default_rng(seed)
    fit = rng.integers(-30, 81, len(ids))
    behaviour = np.clip(rng.normal(35, 30, len(ids)).astype(int), 0, 100)
    combined = np.clip(fit + behaviour, 0, 100)
    since = AS_OF - rng.integers(0, 30 * 86400, len(ids))
    reasons = json.dumps(REASONS, separators=(",", ":"))
    for start in range(0, len(ids), BATCH):
        rows = []
        for i in range(start, min(start + BATCH, len(ids))):
            c = int(combined[i])
            band = "high" if c >= 70 else "medium" if c >= 40 else "low"
            rows.append(("conversion", ids[i], AS_OF, max(int(fit[i]), 0), int(fit[i]), int(behaviour[i]),
                         int(behaviour[i]), 0, c, band, c >= 75, int(since[i]) if c >= 75 else None,
                         int(since[i]) if c >= 75 else None, "Activated", 2, AS_OF - 86400, 1, reasons, "x", "bench"))
        target.executemany("INSERT INTO results (model, subject_id, as_of, fit, fit_raw, behaviour, "
                           "behaviour_before_decay, decay, combined, band, pql, pql_since, pql_first_at, activation, "
                           "milestones, last_activity, days_inactive, reasons, digest, rules_hash) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def ensure_owners(path: Path, reps: int = 25) -> None:
    """Give every person one of `reps` owners (the field a CRM owner maps to), once per benchmark store."""
    db = sqlite3.connect(path)
    if db.execute("SELECT 1 FROM people WHERE json_extract(attributes, '$.owner') IS NOT NULL LIMIT 1").fetchone():
        db.close()
        return
    started = time.time()
    db.execute(f"UPDATE people SET attributes = json_set(attributes, '$.owner', 'rep' || (id % {reps}))")
    db.commit()
    db.execute("ANALYZE")
    db.commit()
    db.close()
    print(f"owners set in {time.time() - started:.0f}s")


def build(path: Path, source: Path | None, people: int, seed: int) -> None:
    """Create the benchmark store once: migrated schema (indexes included), people, accounts, results."""
    if path.exists():
        return
    if source is not None and not source.exists():
        raise SystemExit(f"{source} is missing: run benchmarks/score_bench.py --people 1000000 --events 20000000 "
                         "first, or pass --source")
    started = time.time()
    Store(f"sqlite:///{path}").dispose()  # runs every migration, so the dashboard's indexes exist
    target = sqlite3.connect(path)
    target.execute("PRAGMA journal_mode=WAL")
    n = copy_people(source, target, people) if source is not None else synthetic_people(target, people, seed)
    fill_results(target, seed)
    target.commit()
    target.execute("ANALYZE")
    target.commit()
    target.close()
    print(f"built {path} with {n:,} people in {time.time() - started:.0f}s")


def sign_in(client) -> None:
    """A real sign-in through the login form (sessions live in the store)."""
    import re
    page = client.get("/dashboard/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/dashboard/login", data={"user": "admin", "password": "bench", "csrf_token": token})
    assert response.status_code == 302, response.status_code


def export_rate(client, url: str) -> tuple[int, float]:
    """(rows, seconds) of one CSV export, streamed to the end."""
    started = time.perf_counter()
    rows = client.get(url).get_data(as_text=True).count("\n") - 1  # the header is not a row
    return rows, time.perf_counter() - started


def timed(client, url: str, runs: int) -> tuple[float, float, float, int]:
    """(first ms, median ms of the rest, worst of the rest, status) of `runs` requests of one URL."""
    times, status = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return times[0], statistics.median(times[1:]), max(times[1:]), status


def next_cursor(client, url: str, pages: int) -> str:
    """Walk `pages` pages forward by keyset and return the cursor of the last one."""
    import re
    cursor = ""
    for _ in range(pages):
        page = client.get(url + cursor).text
        found = re.search(r'id="next-page" href="[^"]*?after=([0-9%A-F:-]+)', page)
        cursor = "&after=" + found.group(1).replace("%3A", ":")
    return cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--synthetic", action="store_true", help="generate people instead of copying --source")
    args = parser.parse_args()
    kind = "synthetic" if args.synthetic else "copied"
    path = ROOT / "var" / "bench" / f"dashboard-{kind}-{args.people}-{args.seed}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    build(path, None if args.synthetic else args.source, args.people, args.seed)
    ensure_owners(path)
    config = Config.from_env({}, database_url=f"sqlite:///{path}", specs_root=str(ROOT), secret_key="bench",
                             dashboard_admin_password="bench")
    app = create_app(config)
    client = app.test_client()
    sign_in(client)
    people = "/dashboard/people?model=conversion"
    started = time.perf_counter()
    client.get(people + "&size=51")
    print(f"very first request of this process (loads the admin files, compiles templates, cold caches): "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")
    deep = next_cursor(client, people, 20)
    cases = [("first page, by score (cold summary)", people + "&size=50"),("first page, by score", people),
             ("21st page (keyset)", people + deep),
             ("band=medium", people + "&band=medium"),
             ("PQLs only, lowest first", people + "&pql=yes&order=asc"),
             ("not PQL, sort by fit", people + "&pql=no&sort=fit"),
             ("band=low, sort by behaviour asc", people + "&band=low&sort=behaviour&order=asc"),
             ("search email prefix", people + "&q=p12345"),
             ("search last name", people + "&q=Rossi42"),
             ("search first and last name", people + "&q=jane+smith17"),
             ("search company", people + "&q=Globex+5001"),
             ("search name, band=high", people + "&q=omar&band=high"),
             ("owner=rep7", people + "&owner=rep7"),
             ("owner=rep7, band=high, by fit", people + "&owner=rep7&band=high&sort=fit"),
             ("200 rows a page", people + "&size=200"),
             ("person page", "/dashboard/people/500000"),
             ("threshold preview", "/dashboard/thresholds/preview?model=conversion&high=65&medium=35&pql=70&min_fit=0"),
             ("overview", "/dashboard/"),
             ("rules (firing rates)", "/dashboard/rules"),
             ("first page, by score (summary cached)", people + "&size=49")]
    with app.config["PQL_STORE"].read() as conn:
        from sqlalchemy import text
        count = conn.execute(text("SELECT count(*) FROM results")).scalar()
    print(f"{count:,} people with results in {path.name}; {args.runs} runs each, full HTTP request through Flask")
    print("  'first' is the first request of its URL; summaries cached per scoring run are built by the first")
    print("  request that needs them (the overview builds the population summary; the people list never waits for it)")
    print(f"  {'request':<36}{'first ms':>10}{'median ms':>10}{'worst ms':>10}  status")
    for name, url in cases:
        first, median, worst, status = timed(client, url, args.runs)
        print(f"  {name:<36}{first:>10.1f}{median:>10.1f}{worst:>10.1f}  {status}")
    for name, url in (("CSV export, owner=rep7 band=high", "/dashboard/people.csv?model=conversion&owner=rep7&band=high"),
                      ("CSV export, search 'jane'", "/dashboard/people.csv?model=conversion&q=jane")):
        rows, seconds = export_rate(client, url)
        print(f"  {name:<36} {rows:,} rows in {seconds:.2f} s ({rows / seconds:,.0f} rows/s)")


if __name__ == "__main__":
    main()
