"""Reading back the table the plan-sql query made in a warehouse (exported as Parquet or CSV): which models
it holds, where each column the results are made of is, and each row checked and typed as the local engines
give it (a bad value refuses that row's result for that model, with the reason)."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from crm_app.engine.setwise import ir
from crm_app.engine.setwise.fields import field_column
from crm_app.engine.setwise.plan import ScorePlan, feature_column, layout
from crm_app.errors import IngestError
from crm_app.store.columnar.relations import ident, literal

READERS = {".parquet": "read_parquet", ".csv": "read_csv"}
BANDS = ("high", "medium", "low")
INTS = ("fit", "fit_raw", "behaviour", "behaviour_before_decay", "decay", "combined", "milestones")
OPTIONAL_INTS = ("pql_since", "pql_first_at", "last_activity", "days_inactive")


@dataclass
class ResultFile:
    """The file's plan layout, where each plan column is in the file, and what was left out (with why)."""
    plan: ScorePlan
    columns: dict  # plan column -> file column
    left_out: list = field(default_factory=list)  # "model X: why"


def file_query(path: str, text_columns=()) -> str:
    """The DuckDB query reading the exported table (a file or a glob of files, Parquet or CSV). A CSV's
    text_columns (the fields, as JSON text) are read as text, never guessed into numbers."""
    reader = READERS.get(os.path.splitext(path)[1].lower())
    if reader is None:
        raise IngestError(f"{path}: export the result table as .parquet or .csv (got "
                          f"{os.path.splitext(path)[1] or 'no extension'})")
    types = ", ".join(f"{literal(c)}: 'VARCHAR'" for c in text_columns)
    options = f", header = true, types = {{{types}}}" if reader == "read_csv" and types else ""
    return f"SELECT * FROM {reader}({literal(path)}{options})"


def _where(name: str, present: set) -> str | None:
    """The file column holding plan column `name`: as written, or as BigQuery encodes names."""
    for candidate in (name, ir.BIGQUERY.ident(name)[1:-1]):
        if candidate in present:
            return candidate
    return None


def _needed(plan: ScorePlan, model) -> list:
    out = plan.outputs[model.name]
    names = list(out["result"].values())
    for rule in out["rules"].values():
        names += [rule["fired"], rule["points"]]
    return names


def locate(path: str, file_columns: list, models: list, as_of: int) -> ResultFile:
    """The models whose columns the file holds (every column their results need), in rule-file order."""
    present = set(file_columns)
    left_out, found = [], []
    known = {m.name for m in models}
    for column in file_columns:
        model = column[:-len(":in_population")] if column.endswith(":in_population") else None
        if model is not None and model not in known:
            left_out.append(f"model {model}: not a set-wise model of the active rule set; its columns were ignored")
    for model in models:
        if _where(f"{model.name}:in_population", present) is None:
            continue
        missing = [n for n in _needed(layout([model], as_of), model) if _where(n, present) is None]
        if missing:
            left_out.append(f"model {model.name}: column {missing[0]!r} is missing ({len(missing)} in all): the "
                            f"file was made from other rule files; run plan-sql again with the active ones")
        else:
            found.append(model)
    if not found:
        raise IngestError(f"{path}: no model of the active rule set has its columns here (a model's columns are "
                          f"named <model>:in_population, <model>:combined, ...: the table plan-sql's query makes)"
                          + "".join(f"; {why}" for why in left_out))
    plan = layout(found, as_of)
    features = sum(1 for c in file_columns if re.fullmatch(r"f(:|_3a_)\d+", c))
    if features != len(plan.aggregates):
        raise IngestError(f"{path}: {features} feature columns (f:0, f:1, ...) where the models "
                          f"{', '.join(m.name for m in found)} make {len(plan.aggregates)}: the file was made by "
                          f"plan-sql with other models or rule files; pass the same --model options")
    wanted = ["person_id", "created_at", *[field_column(f) for f in plan.fields],
              *[feature_column(i) for i in range(len(plan.aggregates))]]
    for model in found:
        wanted += _needed(plan, model)
        wanted += [r[k] for r in plan.outputs[model.name]["rules"].values() for k in ("factor", "age")]
    columns = {n: _where(n, present) for n in wanted}
    absent = [n for n in wanted[:2 + len(plan.fields)] if columns[n] is None]
    if absent:
        raise IngestError(f"{path}: column {absent[0]!r} is missing: export the whole table plan-sql's query makes")
    return ResultFile(plan, {n: c for n, c in columns.items() if c is not None}, left_out)


def text_columns(found: ResultFile) -> list:
    return [found.columns[field_column(f)] for f in found.plan.fields]


def select_list(found: ResultFile) -> str:
    return ", ".join(f"{ident(c)} AS {ident(n)}" for n, c in found.columns.items())


class BadValue(ValueError):
    pass


def _int(what: str, value, optional: bool = False):
    if value is None:
        if optional:
            return None
        raise BadValue(f"{what} is empty")
    if isinstance(value, bool):
        raise BadValue(f"{what} is {value!r}, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadValue(f"{what} is {value!r}, not a number") from None
    if not math.isfinite(number) or number != int(number):
        raise BadValue(f"{what} is {value!r}, not a finite whole number")
    return int(number)


def _bool(what: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1) or str(value).lower() in ("true", "false", "0", "1"):
        return str(value).lower() in ("true", "1")
    raise BadValue(f"{what} is {value!r}, not true or false")


def typed(plan: ScorePlan, model, row: dict) -> dict:
    """The row with this model's result columns checked and typed as the local engines give them."""
    out = dict(row)
    cols = plan.outputs[model.name]["result"]
    inpop = out[cols["in_population"]] = _bool("in_population", row[cols["in_population"]])
    if not inpop:
        return out
    for what in INTS + OPTIONAL_INTS:
        out[cols[what]] = _int(what, row[cols[what]], what in OPTIONAL_INTS)
    out[cols["pql"]] = _bool("pql", row[cols["pql"]])
    if row[cols["band"]] not in BANDS:
        raise BadValue(f"band is {row[cols['band']]!r}, not one of {', '.join(BANDS)}")
    for rule_id, names in plan.outputs[model.name]["rules"].items():
        out[names["fired"]] = _bool(f"rule {rule_id} fired", row[names["fired"]])
        out[names["points"]] = _int(f"rule {rule_id} points", row[names["points"]])
        if names["factor"] in row and row[names["factor"]] is not None:
            factor = float(row[names["factor"]])
            if not math.isfinite(factor):
                raise BadValue(f"rule {rule_id} factor is {row[names['factor']]!r}, not a finite number")
            out[names["factor"]] = factor
    return out
