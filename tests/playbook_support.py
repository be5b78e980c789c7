"""Helpers for playbook tests: playbooks from inline YAML, people and results in a store, a runtime."""
from __future__ import annotations

import textwrap
from pathlib import Path

from crm_app.errors import ErrorCollector, SpecSetInvalid
from crm_app.services.playbooks.runtime import Runtime
from crm_app.slack.senders import OutboxSender
from crm_app.specs.playbooks import parse_playbook_set
from crm_app.specs.yamlsource import parse_yaml
from crm_app.store import people as people_store
from crm_app.store.scoring import results as results_store

ROOT_DIR = Path(__file__).resolve().parent.parent
DAY = 86400
NOW = 1_790_000_000
REPS = [f"rep{i}@example.com" for i in range(7)]

ROUTING = """
routing:
  reps: [{rep_list}]
  pools:
    all: [{pool}]
  default_pool: all
"""

NEW_PQL = """
playbook: new_pql
trigger: {type: became_pql}
actions:
  - {type: assign, strategy: [keep_current, round_robin], pool: all}
  - {type: create_task, subject: "Follow up with new PQL {{ name }}", due_in: 2d}
  - {type: slack_alert, to: owner}
  - {type: set_field, field: PQL_Routed_To__c, value: "Routed to {{ owner.email }}"}
"""


def routing_yaml(reps=REPS, extra: str = "") -> str:
    rep_list = ", ".join("{email: %s}" % r for r in reps)
    return ROUTING.format(rep_list=rep_list, pool=", ".join(reps)) + textwrap.indent(textwrap.dedent(extra), "  ")


def playbook_set(*texts: str, routing: str | None = None, lists: dict | None = None):
    """A PlaybookSet from inline YAML texts (one playbook each) plus a routing file; raises on errors."""
    errors = ErrorCollector()
    docs = [("routing.yaml", parse_yaml(routing or routing_yaml(), "routing.yaml", errors))]
    docs += [(f"pb{i}.yaml", parse_yaml(textwrap.dedent(t), f"pb{i}.yaml", errors)) for i, t in enumerate(texts)]
    result = parse_playbook_set(docs, errors, lists or {}, ["conversion"])
    if errors:
        raise SpecSetInvalid(errors.sorted())
    return result


def spec_errors(*texts: str, routing: str | None = None) -> list[str]:
    try:
        playbook_set(*texts, routing=routing)
    except SpecSetInvalid as exc:
        return [str(e) for e in exc.errors]
    return []


def add_people(store, count: int, **attributes) -> list[int]:
    """People p0..p{count-1} with a CRM id each; attributes may be callables of the index."""
    rows = []
    for i in range(count):
        attrs = {"crm_id": f"00Q{i:06d}", "name": f"Person {i}"}
        attrs.update({k: (v(i) if callable(v) else v) for k, v in attributes.items()})
        rows.append({"external_id": f"p{i}", "email": f"p{i}@corp{i % 5}.com", "attributes": attrs})
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, rows)
    return [ids[f"p{i}"] for i in range(count)]


REASONS = [["invited_teammates", "Invited 4 teammate(s)", 25], ["integration_connected",
                                                                 "Connected 1 integration(s)", 20],
           ["senior_title", "Senior title (VP, Director, C-suite)", 15], ["personal_email", "Personal email", -10]]


def set_scores(store, ids: list[int], combined: int, as_of: int = NOW, pql: bool | None = None,
               last_activity: int | None = None) -> None:
    """Store a conversion result (and history) for each person, as scoring would."""
    pql = combined >= 75 if pql is None else pql
    band = "high" if combined >= 70 else "medium" if combined >= 40 else "low"
    rows = [{"model": "conversion", "subject_id": sid, "as_of": as_of, "fit": 40, "fit_raw": 40,
             "behaviour": combined - 40, "behaviour_before_decay": combined - 40, "decay": 0, "combined": combined,
             "band": band, "pql": pql, "pql_since": as_of if pql else None, "pql_first_at": as_of if pql else None,
             "activation": "activated", "milestones": 2, "last_activity": last_activity or as_of,
             "days_inactive": 0, "reasons": REASONS, "rules_hash": "test",
             "digest": f"{sid}:{combined}:{as_of}"} for sid in ids]
    history = [{k: r[k] for k in ("model", "subject_id", "as_of", "fit", "behaviour", "combined", "band", "pql",
                                  "rules_hash")} for r in rows]
    with store.begin() as conn:
        results_store.save_results(conn, rows, history)


def runtime(store, playbooks, crm, sender=None, fault=None) -> Runtime:
    # A generous dispatch budget: on a loaded machine the default 2 s can end a pass before the step a test
    # kills at, or leave actions for a pass the test does not run.
    return Runtime(store=store, playbooks=playbooks, adapter=crm, sender=sender or OutboxSender(store), fault=fault,
                   dispatch_budget=600)


def sandbox_crm(path, people: int, feedback_field: str = "PQL_Feedback__c"):
    """The real sandbox CRM adapter holding REPS as owners and one lead per test person."""
    from crm_app.crm.sandbox import SandboxCrm, now_iso
    crm = SandboxCrm(str(path))
    with crm.db.conn:
        crm.db["owners"].insert_all([{"id": f"005{i:05d}", "email": e, "name": e.split("@")[0], "active": 1}
                                     for i, e in enumerate(REPS)], pk="id")
        crm.db["leads"].insert_all([{"id": f"00Q{i:06d}", "email": f"p{i}@corp{i % 5}.com", "modified_at": now_iso(),
                                     "modified_by": "test"} for i in range(people)], pk="id")
    crm.db["leads"].add_column(feedback_field, str)
    crm.db["leads"].add_column("PQL_Routed_To__c", str)
    return crm


def sandbox_rows(crm, sql: str, args=()) -> list:
    return crm.db.execute(sql, list(args)).fetchall()
