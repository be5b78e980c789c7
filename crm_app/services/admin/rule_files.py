"""Edit the admin's rule files from the dashboard: validate a candidate as the loader would, then write it atomically.

A candidate is checked inside a temporary copy of the whole admin file set, so an edit is applied only when the
whole set still loads, exactly as `check` and the worker's reload judge it.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from crm_app.errors import SpecError
from crm_app.specs.loader import SpecDirs, check_spec_set, display_path, load_spec_set
from crm_app.specs.rules import RuleSet


@dataclass(frozen=True)
class Thresholds:
    high: float
    medium: float
    pql: float | None
    min_fit: float | None


@dataclass(frozen=True)
class EditOutcome:
    path: Path
    errors: tuple  # SpecError with the real file name; empty when the file was written
    text: str


def model_file(dirs: SpecDirs, ruleset: RuleSet, model_name: str) -> Path:
    """The rule file that defines a model."""
    model = next(m for m in ruleset.models if m.name == model_name)
    return dirs.rules / Path(model.source).name


def current_thresholds(ruleset: RuleSet, model_name: str) -> Thresholds:
    model = next(m for m in ruleset.models if m.name == model_name)
    return Thresholds(model.bands.high, model.bands.medium, model.pql.threshold if model.pql else None,
                      model.pql.min_fit if model.pql else None)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def replace_top_level(text: str, key: str, flow: str) -> str:
    """Replace a top-level key's whole block (flow or block style) with one flow-style line; append if absent."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}\s*:", line)), None)
    if start is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + f"{key}: {flow}\n"
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # keep blank lines that separate blocks
        end -= 1
    comment = re.search(r"\s+#.*$", lines[start].rstrip("\n")) if end == start + 1 else None
    return "".join(lines[:start]) + f"{key}: {flow}{comment.group(0) if comment else ''}\n" + "".join(lines[end:])


def with_thresholds(text: str, values: Thresholds) -> str:
    """The rule file's text with new band and PQL thresholds; every other line untouched."""
    text = replace_top_level(text, "bands", f"{{high: {_number(values.high)}, medium: {_number(values.medium)}}}")
    if values.pql is not None:
        pql = f"threshold: {_number(values.pql)}"
        if values.min_fit is not None:
            pql += f", min_fit: {_number(values.min_fit)}"
        text = replace_top_level(text, "pql", f"{{{pql}}}")
    return text


def validate_candidate(dirs: SpecDirs, path: Path, text: str) -> list[SpecError]:
    """Every error the whole admin file set would have with `path` replaced by `text`, named by the real file."""
    return load_candidate(dirs, path, text)[0]


def load_candidate(dirs: SpecDirs, path: Path, text: str) -> tuple[list[SpecError], RuleSet | None]:
    """(errors, rule set) of the admin file set with `path` replaced by `text`; the rule set only when valid."""
    with tempfile.TemporaryDirectory(prefix="pql-candidate-") as tmp:
        root = Path(tmp)
        for source, name in ((dirs.rules, "rules"), (dirs.field_specs, "field_specs"), (dirs.playbooks, "playbooks")):
            if source.is_dir():
                shutil.copytree(source, root / name)
        (root / "rules").mkdir(exist_ok=True)
        (root / "rules" / path.name).write_text(text)
        errors = check_spec_set(SpecDirs.under(root))
        ruleset = None if errors else load_spec_set(SpecDirs.under(root)).rules
        real = {display_path(root / n / p.name): display_path(p) for n, d in
                (("rules", dirs.rules), ("field_specs", dirs.field_specs), ("playbooks", dirs.playbooks))
                if d.is_dir() for p in d.iterdir()}
        real[display_path(root / "rules" / path.name)] = display_path(path)
        return [replace(e, file=real.get(e.file, e.file)) for e in errors], ruleset


def write_if_valid(dirs: SpecDirs, path: Path, text: str) -> EditOutcome:
    """Validate the candidate; write it atomically (readers never see half a file) only when the set is valid."""
    if path.parent.resolve() != dirs.rules.resolve() or path.suffix not in (".yaml", ".yml"):
        raise ValueError(f"{path}: only YAML files directly in {dirs.rules} can be edited here")
    errors = validate_candidate(dirs, path, text)
    if errors:
        return EditOutcome(path, tuple(errors), text)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
    load_spec_set(dirs)  # the written set must load; raises (file untouched before) only on a race
    return EditOutcome(path, (), text)


def save_thresholds(dirs: SpecDirs, ruleset: RuleSet, model_name: str, values: Thresholds) -> EditOutcome:
    """Write new thresholds into the model's rule file, validated as usual."""
    problems = []
    if values.medium > values.high:
        problems.append("the medium band must start at or below the high band")
    if problems:
        path = model_file(dirs, ruleset, model_name)
        return EditOutcome(path, tuple(SpecError(display_path(path), 1, "bands", p) for p in problems), "")
    path = model_file(dirs, ruleset, model_name)
    return write_if_valid(dirs, path, with_thresholds(path.read_text(), values))
