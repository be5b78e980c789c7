"""Edit the admin's rule files from the dashboard: a candidate is the active version with one file changed.

The candidate is judged like any version (services/admin/versions.py) and published as a new version; nothing
is written into the checkout the service runs from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from crm_app.errors import SpecError
from crm_app.specs.rules import RuleSet


@dataclass(frozen=True)
class Thresholds:
    high: float
    medium: float
    pql: float | None
    min_fit: float | None


def model_path(ruleset: RuleSet, model_name: str) -> str:
    """The rule file that defines a model, as a path in a version (rules/conversion.yaml)."""
    model = next(m for m in ruleset.models if m.name == model_name)
    return f"rules/{Path(model.source).name}"


def current_thresholds(ruleset: RuleSet, model_name: str) -> Thresholds:
    model = next(m for m in ruleset.models if m.name == model_name)
    return Thresholds(model.bands.high, model.bands.medium, model.pql.threshold if model.pql else None,
                      model.pql.min_fit if model.pql else None)


def number_text(value: float | None) -> str:
    if value is None:
        return "none"
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
    text = replace_top_level(text, "bands", f"{{high: {number_text(values.high)}, medium: {number_text(values.medium)}}}")
    if values.pql is not None:
        pql = f"threshold: {number_text(values.pql)}"
        if values.min_fit is not None:
            pql += f", min_fit: {number_text(values.min_fit)}"
        text = replace_top_level(text, "pql", f"{{{pql}}}")
    return text


def with_file(files: dict[str, bytes], path: str, text: str) -> dict[str, bytes]:
    """A set's files with one file replaced by `text` (the rest byte for byte)."""
    return {**files, path: text.encode("utf-8")}


def threshold_files(files: dict[str, bytes], ruleset: RuleSet, model_name: str,
                    values: Thresholds) -> tuple[str, dict[str, bytes] | None, list[SpecError]]:
    """(path, the set with the model's new thresholds, errors found before validation)."""
    path = model_path(ruleset, model_name)
    if values.medium > values.high:
        return path, None, [SpecError(path, 1, "bands", "the medium band must start at or below the high band")]
    if path not in files:
        return path, None, [SpecError(path, 1, "", "the active version has no such file; reload the page")]
    text = files[path].decode("utf-8")
    return path, with_file(files, path, with_thresholds(text, values)), []
