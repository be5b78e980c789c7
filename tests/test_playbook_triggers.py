"""Pure trigger evaluation: each trigger type fires once per happening, and hysteresis stops flapping."""
from __future__ import annotations

import pytest

from crm_app.engine.triggers import DAY, Seen, evaluate_trigger, evaluate_when
from crm_app.specs.condition_parser import parse_condition
from crm_app.errors import ErrorCollector
from crm_app.specs.playbooks import Trigger
from crm_app.specs.reader import Where

NOW = 1_790_000_000


def row(combined, band=None, pql=None, as_of=NOW, last_activity=None, pql_since=None):
    band = band or ("high" if combined >= 70 else "medium" if combined >= 40 else "low")
    return {"combined": combined, "band": band, "pql": combined >= 75 if pql is None else pql, "as_of": as_of,
            "last_activity": last_activity, "pql_since": pql_since, "fit": 30, "behaviour": combined - 30}


def walk(trigger: Trigger, scores: list, segments=None) -> list:
    """Feed a score series through a trigger; return the index of every step that fired."""
    seen, fired, history = Seen(), [], []
    for i, combined in enumerate(scores):
        r = row(combined, as_of=NOW + i * DAY, pql_since=NOW + i * DAY)
        history.append((r["as_of"], combined))
        segs = tuple(segments[i]) if segments else ()
        out = evaluate_trigger(trigger, seen, r, segs, history, r["as_of"])
        if out.occurrences:
            fired.append(i)
        seen = Seen(combined, r["band"], r["pql"], segs, out.armed, out.marker)
    return fired


SERIES = [
    ("became_pql once for a steady PQL", Trigger("became_pql", hysteresis=10), [50, 80, 82, 85, 90], [1]),
    ("became_pql does not flap around 75", Trigger("became_pql", hysteresis=10), [70, 76, 74, 76, 73, 77], [1]),
    ("became_pql re-arms after falling 10 below entry", Trigger("became_pql", hysteresis=10),
     [70, 80, 65, 80], [1, 3]),
    ("became_pql without hysteresis flaps", Trigger("became_pql", hysteresis=0), [70, 76, 74, 76], [1, 3]),
    ("crossed up 60 with hysteresis 5", Trigger("score_crossed", value=60, direction="up", hysteresis=5),
     [50, 61, 58, 62, 54, 60], [1, 5]),
    ("crossed down 40", Trigger("score_crossed", value=40, direction="down", hysteresis=5),
     [60, 39, 42, 38, 46, 40], [1, 5]),
    ("band medium->high only", Trigger("band_changed", band_from="medium", band_to="high"),
     [30, 50, 75, 50, 20, 75], [2]),
    ("any band change", Trigger("band_changed"), [30, 50, 75, 75], [1, 2]),
    ("dropped 20 within 7 days, once per peak", Trigger("score_dropped", by=20, within=7 * DAY),
     [90, 85, 75, 69, 60, 50], [3]),
    ("a slow fall outside the window does not count", Trigger("score_dropped", by=20, within=2 * DAY),
     [90, 82, 75, 68, 61, 54], []),
]


@pytest.mark.parametrize("trigger,scores,expected", [s[1:] for s in SERIES], ids=[s[0] for s in SERIES])
def test_trigger_series(trigger, scores, expected):
    assert walk(trigger, scores) == expected


@pytest.mark.parametrize("kind,segments,expected", [
    ("entered_segment", [[], ["enterprise"], ["enterprise"], [], ["enterprise"]], [1, 4]),
    ("left_segment", [["enterprise"], ["enterprise"], [], [], ["enterprise"], []], [2, 5]),
])
def test_segment_triggers(kind, segments, expected):
    assert walk(Trigger(kind, segment="enterprise"), [50] * len(segments), segments) == expected


def test_inactive_fires_once_per_quiet_stretch():
    t = Trigger("inactive", days=14)
    last = NOW - 20 * DAY
    out = evaluate_trigger(t, Seen(), row(50, last_activity=last), (), [], NOW)
    assert out.occurrences == (f"inactive@{last}",)
    again = evaluate_trigger(t, Seen(marker=out.marker), row(50, last_activity=last), (), [], NOW + DAY)
    assert again.occurrences == ()
    fresh = evaluate_trigger(t, Seen(marker=out.marker), row(50, last_activity=NOW - 2 * DAY), (), [], NOW)
    assert fresh.occurrences == ()


def test_occurrence_keys_are_stable_for_the_same_happening():
    t = Trigger("became_pql")
    a = evaluate_trigger(t, Seen(), row(80, pql_since=NOW - 5), (), [], NOW)
    b = evaluate_trigger(t, Seen(), row(80, pql_since=NOW - 5, as_of=NOW + 60), (), [], NOW + 60)
    assert a.occurrences == b.occurrences == (f"pql@{NOW - 5}",)


def cond(node):
    errors = ErrorCollector()
    parsed = parse_condition(node, Where("t.yaml", 1, "when"), errors, {})
    assert not errors, errors.errors
    return parsed


@pytest.mark.parametrize("node,record,combined,expected", [
    ({"field": "score.combined", "at_least": 80}, {}, 85, True),
    ({"field": "score.combined", "at_least": 80}, {}, 79, False),
    ({"field": "score.band", "equals": "high"}, {}, 85, True),
    ({"all": [{"field": "country", "in": ["US"]}, {"field": "score.fit", "at_least": 30}]}, {"country": "us"}, 85, True),
    ({"field": "account.employees", "at_least": 50}, {"account.employees": 10}, 85, False),
    ({"score": "conversion", "at_least": 80}, {}, 81, True),
])
def test_conditions_read_record_fields_and_score(node, record, combined, expected):
    assert evaluate_when(cond(node), record, row(combined), "conversion", NOW) is expected
