"""Customer-health segments over time: '70+ for 6 months' against score histories, entering and leaving."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_app.services.scoring.run import score
from crm_app.services.scoring.segment_membership import held
from crm_app.services.scoring.segments import update_segments
from crm_app.specs.rules import RuleSet
from crm_app.store import people as people_store
from crm_app.store import schema
from crm_app.store.scoring.results import save_results
from crm_app.store.scoring.segments import segment_members
from tests.helpers import AS_OF, DAY, errors_of, model_from_yaml

SIX_MONTHS = 180 * DAY
START = AS_OF - 200 * DAY


def daily(values_by_day) -> list:
    """(as_of, combined) one point a day from START, as a scoring run a day writes."""
    return [(START + d * DAY, v) for d, v in enumerate(values_by_day)]


STEADY = [75] * 201
DIP = [75] * 120 + [65] + [75] * 80  # one day under 70, 80 days ago
LATE = [60] * 60 + [75] * 141  # 70+ only for the last 141 days
SHORT = [None] * 40 + [80] * 161  # history starts 160 days ago: six months are not known
EDGE = [60] * 20 + [70] * 181  # exactly 70 from 180 days ago on


@pytest.mark.parametrize("points,expected", [
    (daily(STEADY), True),
    (daily(DIP), False),
    (daily(LATE), False),
    ([p for p in daily(SHORT) if p[1] is not None], False),
    (daily(EDGE), True),  # 70 from exactly 180 days ago: the boundary counts
    ([(START, 75)], True),  # history holds changes only: one old point stays in effect
    ([(START, 75), (AS_OF - 5 * DAY, 69)], False),
    ([(START, 75), (AS_OF + DAY, 10)], True),  # the future is unknown at as_of
])
def test_held_for_six_months(points, expected):
    assert held(points, AS_OF - SIX_MONTHS, AS_OF, lambda v: v >= 70) is expected


HEALTH = """
model: health
stage: health
behaviour:
  - {id: any, label: Anything, points: 1, when: {field: external_id, exists: true}}
segments:
  - {id: upsell_candidate, label: Upsell Candidate, when: {all: [{score: health, at_least: 80}, {score: upsell, at_least: 20}]}}
  - {id: loyal_customer, label: Loyal Customer, when: {score: health, at_least: 70}, for: 180d}
  - {id: at_risk, label: At-Risk, when: {score: health, between: [30, 50]}}
  - {id: risk, label: Risk, when: {score: health, less_than: 30}}
"""
UPSELL = """
model: upsell
stage: expansion
behaviour:
  - {id: any, label: Anything, points: 1, when: {field: external_id, exists: true}}
"""
RULES = RuleSet(models=(model_from_yaml(HEALTH), model_from_yaml(UPSELL)), hash="seg-test")


def put_history(store, histories: dict, upsell: dict) -> dict:
    """Store generated health histories (latest point = current result) and current upsell scores."""
    with store.begin() as conn:
        ids = people_store.upsert_people(conn, [{"external_id": p} for p in histories])
        rows, history = [], []
        for person, points in histories.items():
            for at, value in points:
                row = {"model": "health", "subject_id": ids[person], "as_of": at, "combined": value}
                history.append(_row(row))
            rows.append(history[-1])
            rows.append(_row({"model": "upsell", "subject_id": ids[person], "as_of": points[-1][0],
                              "combined": upsell.get(person, 0)}))
        save_results(conn, rows, history)
    return ids


def _row(base: dict) -> dict:
    row = {c: None for c in ("fit", "fit_raw", "behaviour", "behaviour_before_decay", "decay", "band", "pql",
                             "pql_since", "pql_first_at", "activation", "milestones", "last_activity",
                             "days_inactive", "reasons", "digest", "rules_hash")}
    row.update(base, band="high", pql=False, reasons=[], milestones=0)
    return row


def membership(store) -> dict:
    with store.read() as conn:
        rows = conn.execute(select(schema.people.c.external_id, segment_members.c.segment)
                            .join(schema.people, schema.people.c.id == segment_members.c.subject_id))
        out: dict = {}
        for ext, seg in rows:
            out.setdefault(ext, set()).add(seg)
        return out


def primary(store) -> dict:
    r = schema.results
    with store.read() as conn:
        return dict(conn.execute(select(schema.people.c.external_id, r.c.segment)
                                 .join(schema.people, schema.people.c.id == r.c.subject_id)
                                 .where(r.c.model == "health")).all())


def test_segments_from_generated_histories(store):
    put_history(store, {"steady": daily(STEADY), "dip": daily(DIP), "late": daily(LATE),
                        "star": daily([85] * 201), "hot_new": daily([None] * 100 + [90] * 101)[100:],
                        "wobbly": daily([40] * 201), "edge_50": daily([50] * 201), "low": daily([29] * 201)},
                {"star": 25, "hot_new": 20, "steady": 30})
    tally = update_segments(store, RULES, AS_OF)
    assert membership(store) == {
        "steady": {"loyal_customer"}, "star": {"upsell_candidate", "loyal_customer"},
        "hot_new": {"upsell_candidate"}, "wobbly": {"at_risk"}, "edge_50": {"at_risk"}, "low": {"risk"}}
    assert primary(store) == {"steady": "Loyal Customer", "dip": None, "late": None, "star": "Upsell Candidate",
                              "hot_new": "Upsell Candidate", "wobbly": "At-Risk", "edge_50": "At-Risk",
                              "low": "Risk"}
    assert tally["health"]["loyal_customer"] == [2, 0, 2]  # entered, left, members now


def test_the_dip_leaves_the_window_and_the_customer_becomes_loyal(store):
    put_history(store, {"dip": daily(DIP)}, {})
    update_segments(store, RULES, AS_OF)
    assert membership(store) == {}
    later = AS_OF + 101 * DAY  # the dip (80 days ago) is now 181 days back; 75 has held ever since
    tally = update_segments(store, RULES, later)
    assert membership(store) == {"dip": {"loyal_customer"}} and tally["health"]["loyal_customer"][0] == 1
    with store.read() as conn:
        assert conn.execute(select(segment_members.c.since)).scalar() == later


def test_leaving_a_segment_is_recorded(store):
    ids = put_history(store, {"p": daily([40] * 201)}, {})
    update_segments(store, RULES, AS_OF)
    assert membership(store) == {"p": {"at_risk"}}
    with store.begin() as conn:
        save_results(conn, [_row({"model": "health", "subject_id": ids["p"], "as_of": AS_OF + DAY,
                                  "combined": 20})],
                     [_row({"model": "health", "subject_id": ids["p"], "as_of": AS_OF + DAY, "combined": 20})])
    tally = update_segments(store, RULES, AS_OF + DAY)
    assert membership(store) == {"p": {"risk"}} and tally["health"]["at_risk"] == [0, 1, 0]
    assert primary(store) == {"p": "Risk"}


def test_scoring_run_updates_segments_and_dry_run_saves_none(store):
    with store.begin() as conn:
        people_store.upsert_people(conn, [{"external_id": "u"}])
    summary = score(store, RULES, AS_OF, dry_run=True, workers=1)
    assert summary.segments == {} and membership(store) == {}  # a dry run saves no scores to segment
    score(store, RULES, AS_OF, workers=1)
    assert membership(store) == {"u": {"risk"}}


@pytest.mark.parametrize("segment,message", [
    ("{id: loyal, when: {field: plan, equals: pro}, for: 180d}", "'for' needs 'when' to be a single score"),
    ("{id: Loyal, when: {score: health, at_least: 70}}", "must be lower_snake_case"),
    ("{id: a, when: {score: health, at_least: 70}, for: ever}", "for"),
    ("{id: a, when: {score: health, at_leest: 70}}", "at_least"),
])
def test_segment_errors_name_file_line_and_fix(segment, message):
    errors = errors_of(f"""
        model: t
        behaviour:
          - {{id: r, label: R, points: 1, when: {{field: x, exists: true}}}}
        segments:
          - {segment}
    """)
    assert errors and any(message in e for e in errors), errors
    assert all(e.startswith("test.yaml:") for e in errors)


def test_records_carry_their_segments_for_playbook_triggers(store):
    ids = put_history(store, {"p": daily([40] * 201), "q": daily([75] * 201)}, {})
    update_segments(store, RULES, AS_OF)
    with store.read() as conn:
        records = people_store.flat_records(conn, 0, 0, [ids["p"], ids["q"]])
    assert records[ids["p"]]["segments"] == ["at_risk"] and records[ids["q"]]["segments"] == ["loyal_customer"]
