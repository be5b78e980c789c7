"""Two people who are one: the CRM-only person sync made is absorbed by the product user, and its playbook
state, ledger, alerts and feedback move with it. Nothing is left pointing at the absorbed person, account rows
that share its id are untouched, and no trigger fires a second time for the same human (SQLite, PostgreSQL)."""
from __future__ import annotations

from sqlalchemy import func, insert, select

from crm_app.services.crm.sync import sync_crm
from crm_app.services.ingest.writer import ingest_messages
from crm_app.services.playbooks.cycle import run_playbooks
from crm_app.slack.senders import outbox_messages
from crm_app.store import schema
from crm_app.store.crm import crm_links
from crm_app.store.sync.deletions import crm_deleted
from crm_app.store.identity import identity_links
from crm_app.store.playbooks.merge import merge_state, save_account_subjects
from crm_app.store.playbooks.schema import pb_ledger, pb_state, pql_feedback, slack_alerts
from tests import crm_world as w
from tests.playbook_support import NEW_PQL, NOW, playbook_set, runtime, sandbox_crm, set_scores

T0 = "2026-11-01T00:00:00Z"
# (table, id column, (column naming a person model or playbook, its value)) of every row keyed by a person
PERSON_TABLES = [(schema.events, "person_id", None), (schema.aliases, "person_id", None),
                 (crm_links, "person_id", None), (identity_links, "person_id", None),
                 (crm_deleted, "person_id", None), (schema.results, "subject_id", ("model", "conversion")),
                 (schema.score_history, "subject_id", ("model", "conversion")),
                 (pb_state, "subject_id", ("playbook", "new_pql")), (pb_ledger, "subject_id", ("playbook", "new_pql")),
                 (slack_alerts, "subject_id", ("playbook", "new_pql")),
                 (pql_feedback, "subject_id", ("model", "conversion"))]


def person_id(store, **where) -> int:
    (column, value), = where.items()
    with store.read() as conn:
        return conn.execute(select(schema.people.c.id).where(schema.people.c[column] == value)).scalar_one()


def rows_of(store, subject: int) -> dict:
    """table -> rows still keyed by this id (person playbooks and models only)."""
    out = {}
    with store.read() as conn:
        for table, column, kind in PERSON_TABLES:
            query = select(func.count()).select_from(table).where(table.c[column] == subject)
            if kind is not None:
                query = query.where(table.c[kind[0]] == kind[1])
            out[table.name] = conn.execute(query).scalar()
    return out


def test_an_absorbed_person_leaves_nothing_behind_and_fires_nothing_twice(store, tmp_path):
    crm = sandbox_crm(tmp_path / "crm.db", 1)  # one lead, p0@corp0.com
    pbs = playbook_set(NEW_PQL)
    ingest_messages(store, [{"type": "track", "userId": "u-p0", "event": "Report Created", "timestamp": T0,
                             "messageId": "m1"}], "test")  # the product user, no email yet
    user = person_id(store, external_id="u-p0")
    sync_crm(store, crm, w.mapping("sandbox"))
    crm_only = person_id(store, external_id="p0@corp0.com")
    with store.begin() as conn:  # an account that happens to share the CRM-only person's id, with its own rows
        save_account_subjects(conn, ["accounts_model"], ["hot_account"])
        conn.execute(insert(schema.accounts).values(id=crm_only, external_id="acc-x", name="X", attributes={}))
        conn.execute(insert(pb_state).values(playbook="hot_account", subject_id=crm_only, combined=70, armed={}))
        conn.execute(insert(pb_ledger).values(playbook="hot_account", subject_id=crm_only, occurrence="o", step=0,
                                              action="create_task", status="sent", payload={"subject": "account"},
                                              created_at=NOW, updated_at=NOW))
    set_scores(store, [crm_only], 85)  # the CRM-only person is a PQL: the playbook fires for it
    set_scores(store, [user], 40)  # the product user alone is not
    first = run_playbooks(runtime(store, pbs, crm), NOW)
    assert first["occurrences"] == 1 and len(outbox_messages(store, 100)) == 1
    with store.begin() as conn:
        conn.execute(insert(pql_feedback).values(kind="false_positive", model="conversion", subject_id=crm_only,
                                                 at=NOW))
        conn.execute(insert(crm_deleted).values(crm="sandbox", object_type="leads", record_id="00Q-old",
                                                person_id=crm_only, deleted_at=NOW))
    ingest_messages(store, [{"type": "identify", "userId": "u-p0", "timestamp": T0,
                             "traits": {"email": "P0+trial@corp0.com"}}], "test")  # now they are one
    assert person_id(store, email="P0+trial@corp0.com") == user
    assert rows_of(store, crm_only) == {t.name: 0 for t, _, _ in PERSON_TABLES}
    moved = rows_of(store, user)
    assert moved["pb_ledger"] == 4 and moved["slack_alerts"] == 1 and moved["pql_feedback"] == 1
    assert moved["crm_deleted"] == 1 and moved["pb_state"] == 1
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(pb_ledger)
                            .where(pb_ledger.c.playbook == "hot_account", pb_ledger.c.subject_id == crm_only)).scalar() == 1
        assert conn.execute(select(pb_state.c.combined).where(pb_state.c.playbook == "hot_account",
                                                              pb_state.c.subject_id == crm_only)).scalar() == 70
    set_scores(store, [user], 90, as_of=NOW + 3600)  # rescored with both halves' data: a PQL
    again = run_playbooks(runtime(store, pbs, crm), NOW + 3600)
    assert again["occurrences"] == 0 and again["entries"] == 0
    assert len(outbox_messages(store, 100)) == 1  # one alert for one human


def test_merged_trigger_state_counts_what_fired_for_either():
    survivor = {"playbook": "p", "subject_id": 1, "combined": 40, "band": "medium", "pql": False,
                "segments": ["trial"], "armed": {"pql": True, "cross": True, "peak": 10}, "marker": 5, "as_of": 7}
    absorbed = {"playbook": "p", "subject_id": 2, "combined": 85, "band": "high", "pql": True,
                "segments": ["hot"], "armed": {"pql": False, "entry": 85, "peak": 20}, "marker": None, "as_of": 9}
    merged = merge_state(survivor, absorbed)
    assert merged == {"playbook": "p", "subject_id": 1, "combined": 85, "band": "high", "pql": True,
                      "segments": ["hot", "trial"], "armed": {"pql": False, "cross": True, "peak": 20, "entry": 85},
                      "marker": 5, "as_of": 9}


def test_applying_a_rule_set_records_which_models_and_playbooks_are_about_accounts(store):
    from crm_app.services.admin.rule_reload import RuleHolder
    from crm_app.specs.loader import SpecDirs
    from crm_app.store.playbooks.merge import account_subjects
    holder = RuleHolder(store, SpecDirs.under(w.ROOT))
    assert holder.check().applied  # the files on disk, published as the first version and applied
    specs = holder.specs
    with store.read() as conn:
        models, playbooks = account_subjects(conn)
    assert models == {m.name for m in specs.rules.models if m.subject == "account"} and models
    assert playbooks == {p.name for p in specs.playbooks.playbooks if p.model in models}
