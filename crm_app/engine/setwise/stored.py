"""A model's result as the store keeps it, rendered in SQL over the plan's row: the reasons as JSON text and
the digest of every compared value, byte for byte what diff.result_row makes of the same result in Python.

Reason texts are evaluate()'s templates: literals are JSON-escaped here once per plan; numbers are formatted
in SQL as _format_number formats them; a `{value}` is looked up in the relation
`reason_values(field, json, text)`, each distinct JSON value of the field rendered by Python (value_text).
"""
from __future__ import annotations

import json

from crm_app.engine.conditions import DAY
from crm_app.engine.scoring import _window_text, compile_model
from crm_app.engine.setwise import ir
from crm_app.engine.setwise.fields import field_column
from crm_app.engine.setwise.plan import ScorePlan
from crm_app.engine.setwise.scores import weighted_evidence
from crm_app.specs.conditions import last_at_key

# diff.COMPARED, in its order: the digest is the md5 of these values as one compact JSON array.
DIGESTED = ("fit", "fit_raw", "behaviour", "behaviour_before_decay", "decay", "combined", "band", "pql", "pql_since",
            "pql_first_at", "activation", "milestones", "last_activity", "reasons")
TEXTS = ("band", "activation")  # fixed ASCII words: quoted, never escaped
WEEK = 7 * DAY


def canonical(values: list) -> str:
    """The text a digest is taken of (the same in Python and in SQL)."""
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def escaped(text: str) -> str:
    """A string's JSON form without its quotes."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def value_text(raw) -> str:
    """What a reason's `{value}` shows for one JSON value of a field (evaluate()'s str() of it), escaped."""
    value = json.loads(raw)
    return escaped(str(value))


def value_fields(plan: ScorePlan, model) -> tuple:
    """The record fields a `{value}` placeholder of this model shows."""
    cm = compile_model(model)
    return tuple(sorted({cr.first_field.field for cr in cm.fit + cm.behaviour
                         if cr.first_field and any(name == "value" for _, name in cr.template)}))


def _q(name: str) -> str:
    return ir.DUCKDB.ident(name)


def _s(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _number(expr: str, integral: bool) -> str:
    """_format_number in SQL: '?' for none, ints as they are, floats with 0 or 1 decimal."""
    if integral:
        return f"coalesce(CAST({expr} AS VARCHAR), '?')"
    return (f"(CASE WHEN {expr} IS NULL THEN '?' WHEN abs({expr}) >= 10 OR {expr} = trunc({expr}) "
            f"THEN printf('%.0f', {expr}) ELSE printf('%.1f', {expr}) END)")


def _fill(plan: ScorePlan, cr, name: str, features: dict) -> str:
    event = cr.first_event
    if name == "value":
        if not cr.first_field:
            return "'?'"
        if cr.first_field.field == "created_at":
            return "coalesce(CAST(created_at AS VARCHAR), '?')"
        column = _q(field_column(cr.first_field.field))
        return (f"coalesce((SELECT rv.text FROM reason_values rv WHERE rv.field = {_s(cr.first_field.field)} "
                f"AND rv.json = {column}), '?')")
    if event is None:
        return "'?'"
    if name == "window":
        return _s(escaped(_window_text(event.selector.within)))
    if name == "days":
        last = features.get(last_at_key(event.selector))
        last = f"coalesce({last}, created_at)" if last else "created_at"
        return _number(f"greatest(0, ({plan.as_of} - {last}) // {DAY})", True)
    if name != event.measure:
        return "'?'"
    column = features.get(event.feature_key)
    if column is None:
        return "'0'" if name in ("count", "distinct", "sum") else "'?'"
    if name in ("count", "distinct"):
        return _number(f"coalesce({column}, 0)", True)
    if name == "sum":
        return f"(CASE WHEN {column} IS NULL THEN '0' ELSE {_number(column, False)} END)"
    return _number(column, False)


def reasons_sql(plan: ScorePlan, model) -> str:
    """The model's reasons as the compact JSON text of [[rule, text, points], ...], for rows in the population."""
    out = plan.outputs[model.name]
    features = {a.key: _q(f"f:{i}") for i, a in enumerate(plan.aggregates)}
    cm = compile_model(model)
    items = []
    for cr in cm.fit + cm.behaviour:
        names = out["rules"][cr.rule.id]
        if len(cr.template) == 1:
            text = _s(escaped(cr.template[0][0]))
        else:
            text = " || ".join(_s(escaped(literal)) + (f" || {_fill(plan, cr, name, features)}" if name else "")
                               for literal, name in cr.template)
        if weighted_evidence(model, cr.rule):
            weeks = f"(coalesce({_q(names['age'])}, 0) // {WEEK})"
            text = (f"{text} || (CASE WHEN {_q(names['factor'])} <> 1.0 THEN ' (' || CAST({weeks} AS VARCHAR) || "
                    f"' week' || (CASE WHEN {weeks} <> 1 THEN 's' ELSE '' END) || ' ago)' ELSE '' END)")
        items.append(f"(CASE WHEN {_q(names['fired'])} THEN '[' || {_s(json.dumps(cr.rule.id))} || ',\"' || {text} "
                     f"|| '\",' || CAST(CAST({_q(names['points'])} AS BIGINT) AS VARCHAR) || ']' END)")
    if model.decay:
        res = out["result"]
        decay, last = _q(res["decay"]), _q(res["last_activity"])
        every = int(model.decay.every)
        quiet = f"((greatest(0, {plan.as_of} - {last}) // {every}) * {every} // {DAY})"
        items.append(f"(CASE WHEN {decay} <> 0 THEN '[\"decay\",\"No product activity for ' || "
                     f"CAST({quiet} AS VARCHAR) || '+ days (decay)\",' || CAST(-{decay} AS VARCHAR) || ']' END)")
    if not items:
        return "'[]'"
    return f"('[' || concat_ws(',', {', '.join(items)}) || ']')"


def digest_sql(plan: ScorePlan, model, reasons: str) -> str:
    """md5 of the canonical JSON of the compared values; `reasons` is the reasons JSON expression."""
    res = plan.outputs[model.name]["result"]
    parts = []
    for what in DIGESTED:
        if what == "reasons":
            parts.append(reasons)
        elif what == "pql":
            parts.append(f"(CASE WHEN {_q(res[what])} THEN 'true' ELSE 'false' END)")
        elif what in TEXTS:
            parts.append(f"coalesce('\"' || {_q(res[what])} || '\"', 'null')")
        else:
            parts.append(f"coalesce(CAST({_q(res[what])} AS VARCHAR), 'null')")
    return "md5('[' || " + " || ',' || ".join(parts) + " || ']')"
