"""The demo's CRM half and the CRM commands on the embedded sandbox, end to end through the CLI."""
from __future__ import annotations

from crm_app.cli import main
from crm_app.crm.sandbox import SandboxCrm
from crm_app.services.ops.demo_crm import seed_sandbox_from_store
from crm_app.services.scoring.run import score
from tests import crm_world as w
from tests.crm_world import store  # noqa: F401 - fixture


def test_demo_fills_the_sandbox_and_writes_scores(store, tmp_path):
    w.seed_store(store)
    with store.begin() as conn:
        from crm_app.store import people as people_store
        account = people_store.upsert_accounts(conn, [{"external_id": "acme", "name": "Acme", "domain": "acme.com",
                                                       "attributes": {"industry": "Software", "employees": 200}}])
        people_store.upsert_people(conn, [{"external_id": "user-0", "account_id": account["acme"]}])
    score(store, w.rules(), w.AS_OF)
    report = seed_sandbox_from_store(store, tmp_path / "crm.db", w.spec_fields(), w.ROOT / "mapping" / "crm.yaml")
    assert (report.accounts, report.contacts, report.leads) == (1, 1, 4)
    assert report.provisioned == 20 and report.written == 5
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    ann = next(crm.read_changed("contacts", None, ["email", "pql_score", "score_band"]))
    assert ann.values["email"] == "ann@acme.com" and ann.values["pql_score"] >= 75
    again = seed_sandbox_from_store(store, tmp_path / "crm.db", w.spec_fields(), w.ROOT / "mapping" / "crm.yaml")
    assert again.provisioned == 0 and again.written == 0 and again.calls == {}


def test_crm_commands_on_the_sandbox(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pql.db'}")
    monkeypatch.setenv("CRM_SANDBOX_PATH", str(tmp_path / "crm.db"))
    monkeypatch.setenv("SPECS_ROOT", str(w.ROOT))
    crm = SandboxCrm(str(tmp_path / "crm.db"))
    w.seed_sandbox(crm)
    from crm_app.specs.loader import SpecDirs, load_spec_set
    # every shipped field spec (conversion 20, plus account and health fields) on its sandbox objects
    targets = sum(len(crm.field_targets(f)) for f in load_spec_set(SpecDirs.under(w.ROOT)).fields)
    assert main(["provision", "--dry-run"]) == 0
    assert f"would create {targets}" in capsys.readouterr().out
    assert main(["provision"]) == 0 and main(["provision"]) == 0
    assert f"created 0, unchanged {targets}" in capsys.readouterr().out
    assert main(["sync"]) == 0
    assert "contacts: read 3, changed 3" in capsys.readouterr().out
    assert main(["score"]) == 0 and main(["writeback"]) == 0
    # 5 people (conversion and health fields) and 2 accounts (the account model's PQA fields)
    assert "7 records with changed values, 7 written, 0 failed" in capsys.readouterr().out
    assert main(["writeback"]) == 0
    assert "0 records with changed values, 0 written, 0 failed, API calls 0" in capsys.readouterr().out
    assert main(["crm-status"]) == 0
    out = capsys.readouterr().out
    assert "provision  create-field" in out and "writeback  write" in out


def test_unknown_crm_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pql.db'}")
    monkeypatch.setenv("CRM", "hubspto")
    assert main(["sync"]) == 2
    assert "did you mean 'hubspot'" in capsys.readouterr().err
