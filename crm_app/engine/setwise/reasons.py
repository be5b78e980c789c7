"""A row of the set-wise plan back into the engine's ScoreResult, reason texts rendered in Python.

Only results that changed come here: the numbers are the plan's, the texts are evaluate()'s own helpers, so a
reason reads the same whichever path scored it.
"""
from __future__ import annotations

from collections.abc import Mapping

from crm_app.engine.conditions import DAY
from crm_app.engine.result import Reason, ScoreResult
from crm_app.engine.scoring import _age_text, _reason_text, compile_model
from crm_app.engine.setwise.features import decoded
from crm_app.engine.setwise.fields import field_column
from crm_app.engine.setwise.plan import ScorePlan, feature_column

_COLUMNS: dict = {}


def _columns(plan: ScorePlan) -> tuple:
    """(field, column) and (feature key, column) pairs of a plan, worked out once per plan."""
    cached = _COLUMNS.get(id(plan))
    if cached is None or cached[0] is not plan:
        cached = _COLUMNS[id(plan)] = (plan, tuple((f, field_column(f)) for f in plan.fields),
                                       tuple((a.key, feature_column(i)) for i, a in enumerate(plan.aggregates)))
    return cached[1], cached[2]


def record_of(plan: ScorePlan, row: Mapping) -> dict:
    """The fields the plan read, decoded, plus created_at: what the reason texts may show."""
    # A field the subject does not have stays absent (SQL NULL), as in the store's flat record.
    record = {name: _as_stored(decoded(row[column])) for name, column in _columns(plan)[0]
              if row[column] is not None}
    record["created_at"] = row["created_at"]
    return record


def _as_stored(value):
    """decoded() hands lists back as tuples; a reason text shows a list field as the store holds it."""
    return list(value) if isinstance(value, tuple) else value


def features_of(plan: ScorePlan, row: Mapping) -> dict:
    return {key: row[column] for key, column in _columns(plan)[1] if row[column] is not None}


def result_of(plan: ScorePlan, model, row: Mapping, record=None, features=None) -> ScoreResult | None:
    """The model's result for one plan row; None when the subject is outside the model's population."""
    columns = plan.outputs[model.name]
    res = {what: row[name] for what, name in columns["result"].items()}
    if not res.pop("in_population"):
        return None
    record = record_of(plan, row) if record is None else record
    features = features_of(plan, row) if features is None else features
    cm = compile_model(model)
    reasons = []
    for cr in cm.fit + cm.behaviour:
        names = columns["rules"][cr.rule.id]
        if not row[names["fired"]]:
            continue
        factor = row.get(names["factor"], 1.0) if names["factor"] in row else 1.0
        text = _reason_text(cr, record, features, plan.as_of)
        if factor != 1.0:
            text = f"{text} ({_age_text(row[names['age']] or 0)})"
        reasons.append(Reason(cr.rule.id, cr.rule.kind, text, int(row[names["points"]]), cr.rule.points,
                              round(factor, 4), cr.rule.group))
    if res["decay"]:
        steps = max(0, plan.as_of - int(res["last_activity"])) // model.decay.every
        quiet = steps * model.decay.every // DAY
        reasons.append(Reason("decay", "decay", f"No product activity for {quiet}+ days (decay)", -res["decay"],
                              -model.decay.points, float(steps)))
    return ScoreResult(model=model.name, as_of=plan.as_of, reasons=tuple(reasons), **res)
