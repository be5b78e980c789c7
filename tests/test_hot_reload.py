"""Versions published while the worker runs: a valid one rescores everyone, one it cannot load changes nothing."""
from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from crm_app.config import Config
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.admin import versions
from crm_app.services.admin.rule_reload import RuleHolder
from crm_app.services.ops.service_status import service_status
from crm_app.store import ops as ops_store
from crm_app.store import rule_versions
from crm_app.store import schema
from crm_app.worker import Worker
from tests.conftest import ROOT

FAST = {"SCORE_WORKERS": "1", "RULES_POLL_SECONDS": "0.2", "SCORE_CHANGED_SECONDS": "0.2",
        "LEADER_LEASE_SECONDS": "3", "MISFIRE_GRACE_SECONDS": "5"}


def wait_for(predicate, seconds: float = 60.0):
    """Poll until predicate() is truthy; return its value or fail with what was last seen."""
    deadline = time.time() + seconds
    value = None
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"not reached within {seconds}s (last: {value!r})")


@pytest.fixture
def specs_root(tmp_path):
    root = tmp_path / "specs"
    shutil.copytree(ROOT / "rules", root / "rules")
    return root


def edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def publish(store, root) -> int:
    """`rules publish` of the files under root, as the service does it."""
    number, _ = versions.active_version(store)
    outcome = versions.publish(store, versions.read_admin_files(root), "test", "edited", base=number)
    assert outcome.version, outcome.errors
    return outcome.version


def publish_unvalidated(store, root) -> int:
    """A version this code cannot load (as if published by newer code): written around the validator."""
    number, _ = versions.active_version(store)
    with store.begin() as conn:
        return rule_versions.add_version(conn, versions.read_admin_files(root), {"set_hash": "x"}, "newer code",
                                         "refused here", "publish", time.time(), number)


def scores(store) -> dict:
    r = schema.results
    with store.read() as conn:
        rows = conn.execute(select(r.c.subject_id, r.c.combined, r.c.rules_hash).where(r.c.model == "conversion"))
        return {sid: (combined, rules) for sid, combined, rules in rows}


def last_activity(store, user: str) -> int | None:
    r, p = schema.results, schema.people
    with store.read() as conn:
        return conn.execute(select(r.c.last_activity).select_from(r.join(p, p.c.id == r.c.subject_id))
                            .where(r.c.model == "conversion", p.c.external_id == user)).scalar()


def recent(hours: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_edits_while_the_worker_runs(store, specs_root):
    config = Config.from_env({}, database_url=store.url, specs_root=str(specs_root))
    ingest_messages(store, [{"type": "track", "userId": f"u{i}", "event": "Invite Sent", "messageId": f"m{i}",
                             "timestamp": recent(2 + i)} for i in range(5)], "test")
    env = dict(FAST, CRM_SANDBOX_PATH=str(specs_root.parent / "crm.db"))  # the CRM jobs run too
    worker = Worker(config, store=store, env=env, holder="test-worker")
    worker.start()
    try:
        first = wait_for(lambda: len(scores(store)) == 5 and scores(store))
        first_hash = {h for _, h in first.values()}
        assert len(first_hash) == 1

        rules_file = specs_root / "rules" / "conversion.yaml"
        edit(rules_file, "points: 25\n    when: {event: Invite Sent", "points: 30\n    when: {event: Invite Sent")
        time.sleep(1)
        assert {h for _, h in scores(store).values()} == first_hash  # an edit on disk alone changes nothing
        publish(store, specs_root)
        second = wait_for(lambda: {h for _, h in scores(store).values()} - first_hash and
                          len({h for _, h in scores(store).values()}) == 1 and scores(store))
        assert all(second[pid][0] == first[pid][0] + 5 for pid in first)  # the edit changed every score
        new_hash = next(iter({h for _, h in second.values()}))
        with store.read() as conn:
            assert ops_store.rule_set_applied(conn, new_hash)["files"]  # traceable to its files

        edit(rules_file, "    points: 30\n", "    pionts: 35\n")  # invalid: unknown key
        publish_unvalidated(store, specs_root)
        refused = wait_for(lambda: service_status(store)["rule_sets"]["refused"])
        assert any("pionts" in e and "conversion.yaml" in e for e in refused["errors"])
        assert service_status(store)["rule_sets"]["active"]["hash"] == new_hash
        late = recent(1)
        ingest_messages(store, [{"type": "track", "userId": "u0", "event": "Logged In", "messageId": "late",
                                 "timestamp": late}], "test")
        # The late event reaches u0's stored result (a later idle run may overwrite the job's own record).
        late_ts = int(datetime.strptime(late, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())
        wait_for(lambda: last_activity(store, "u0") == late_ts)
        assert {h for _, h in scores(store).values()} == {new_hash}  # still scored with the last good set
        job = service_status(store)["jobs"]["reload_rules"]["last"]
        assert job["outcome"] == "failed" and "pionts" in job["error"]

        edit(rules_file, "    pionts: 35\n", "    points: 35\n")  # fixed: applied, refusal cleared
        publish(store, specs_root)
        wait_for(lambda: service_status(store)["rule_sets"]["refused"] is None)
    finally:
        worker.stop(grace=10)


def test_a_refused_set_shows_in_readyz_and_status(app, client, runner, tmp_path):
    root = tmp_path / "specs"
    shutil.copytree(ROOT / "rules", root / "rules")
    store = app.config["PQL_STORE"]
    holder = RuleHolder(store, Config.from_env({}, specs_root=str(root)).spec_dirs)
    assert holder.check().applied
    good = holder.specs
    edit(root / "rules" / "conversion.yaml", "bands:", "bandz:")
    publish_unvalidated(store, root)
    outcome = holder.check()
    assert not outcome.applied and outcome.errors and holder.specs is good
    body = client.get("/readyz", headers={"Authorization": "Bearer test-readyz-token"}).get_json()
    assert any("bandz" in e for e in body["rule_sets"]["refused"]["errors"])
    code, out, _ = runner("status")
    assert "rule set REFUSED" in out and "bandz" in out


def test_an_unchanged_folder_is_not_reloaded(sqlite_store, specs_root):
    holder = RuleHolder(sqlite_store, Config.from_env({}, specs_root=str(specs_root)).spec_dirs)
    assert holder.check().applied
    again = holder.check()
    assert not again.changed and not again.applied
