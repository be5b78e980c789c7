"""Load a whole admin file set (rules, field specs, playbooks); refuse it whole if any file is wrong."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from crm_app.errors import ErrorCollector, SpecError, SpecSetInvalid, did_you_mean, fold_follow_ons
from crm_app.specs.fields import FieldSpec, parse_field_specs
from crm_app.specs.lifecycle import load_lifecycle
from crm_app.specs.reader import Where
from crm_app.specs.rules import RuleSet, parse_lists, parse_model
from crm_app.specs.yamlsource import load_yaml

YAML_SUFFIXES = (".yaml", ".yml")
# What a file of each folder is for; an empty one is an error that says so.
RULES_HOLD = "a model ('model:' with 'fit:' and 'behaviour:' rules) or shared 'lists:'"
FIELD_SPECS_HOLD = "'fields:', a list of score fields (key, model, value, type, label, salesforce, hubspot)"
PLAYBOOKS_HOLD = "a playbook ('playbook:', 'trigger:', 'actions:') or the 'routing:' of reps and pools"


@dataclass(frozen=True)
class SpecDirs:
    rules: Path
    field_specs: Path
    playbooks: Path
    lifecycle: Path | None = None  # lifecycle propensity models

    @classmethod
    def under(cls, root: Path) -> "SpecDirs":
        root = Path(root)
        return cls(root / "rules", root / "field_specs", root / "playbooks", root / "lifecycle")


@dataclass(frozen=True)
class SpecSet:
    """A validated set of admin files, identified by the hash of their contents."""

    rules: RuleSet
    fields: tuple
    playbook_files: tuple
    hash: str
    lifecycle: tuple = ()
    playbooks: object = None  # specs.playbooks.PlaybookSet


def yaml_files(directory: Path) -> list[Path]:
    """The YAML files of a directory, in a stable order."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())


def display_path(path: Path) -> str:
    """A path as an admin would type it: relative to the working directory when possible."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def content_hash(paths: list[Path]) -> str:
    """sha256 over file names and bytes: the identity of an applied set."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def load_rules(directory: Path, errors: ErrorCollector) -> RuleSet:
    """Every model in a rules directory; files holding only `lists:` define lists for all models."""
    docs = []
    for path in yaml_files(directory):
        name = display_path(path)
        doc = load_yaml(path, errors, name, holds=RULES_HOLD)
        if doc is None:
            continue
        docs.append((name, doc))
    global_lists: dict = {}
    for name, doc in docs:
        if isinstance(doc, dict) and set(doc) == {"lists"}:
            global_lists.update(parse_lists(doc["lists"], Where(name, doc.key_lines["lists"], "lists"), errors))
    models = []
    for name, doc in docs:
        if isinstance(doc, dict) and set(doc) == {"lists"}:
            continue
        model = parse_model(doc, name, errors, global_lists)
        if model is not None:
            models.append((name, model))
    seen: dict = {}
    for name, model in models:
        if model.name in seen:
            errors.add(name, 1, "model", f"model '{model.name}' is already defined in {seen[model.name]}; "
                       "rename one of them")
        seen[model.name] = name
    files = yaml_files(directory)
    if not models and not errors:
        errors.add(display_path(directory), 1, "", "no model found; add a rule file such as conversion.yaml")
    return RuleSet(models=tuple(m for _, m in models), lists=tuple(sorted(global_lists.items())),
                   hash=content_hash(files), files=tuple(display_path(f) for f in files))


def load_field_specs(directory: Path, errors: ErrorCollector, model_names: list[str]) -> tuple:
    """Every field spec; keys and CRM names must be unique and models must exist."""
    specs: list[FieldSpec] = []
    for path in yaml_files(directory):
        doc = load_yaml(path, errors, display_path(path), holds=FIELD_SPECS_HOLD)
        if doc is not None:
            specs.extend(parse_field_specs(doc, display_path(path), errors))
    seen: dict = {}
    for spec in specs:
        file, line = spec.source.rsplit(":", 1)
        for ident, what in ((spec.key, "key"), (spec.salesforce_name, "salesforce.api_name"),
                            (spec.hubspot_name, "hubspot.name")):
            if ident is None:
                continue
            if (what, ident) in seen:
                errors.add(file, int(line), what, f"'{ident}' is used twice (also at {seen[(what, ident)]})")
            seen[(what, ident)] = spec.source
        if model_names and spec.model not in model_names:
            errors.add(file, int(line), "model", f"no model named '{spec.model}'",
                       did_you_mean(spec.model, model_names), ("model", spec.model))
    return tuple(specs)


def load_playbook_files(directory: Path, errors: ErrorCollector, lists: dict | None = None,
                        models: list | None = None):
    """Every playbook file and the routing file, validated by specs.playbooks -> PlaybookSet."""
    from crm_app.specs.playbooks import parse_playbook_set  # here: playbooks import conditions, not loader

    found = []
    for path in yaml_files(directory):
        doc = load_yaml(path, errors, display_path(path), holds=PLAYBOOKS_HOLD)
        if doc is not None:
            found.append((display_path(path), doc))
    return parse_playbook_set(found, errors, lists or {}, models or [])


def load_spec_set(dirs: SpecDirs) -> SpecSet:
    """Load and validate the whole set; raise SpecSetInvalid listing every error if anything is wrong."""
    errors = ErrorCollector()
    rules = load_rules(dirs.rules, errors)
    lifecycle = load_lifecycle(dirs.lifecycle, errors, dict(rules.lists), rules.names, display_path)
    fields = load_field_specs(dirs.field_specs, errors, rules.names + [m.name for m in lifecycle])
    playbooks = load_playbook_files(dirs.playbooks, errors, dict(rules.lists),
                                    rules.names + [m.name for m in lifecycle])
    if errors:
        raise SpecSetInvalid(fold_follow_ons(errors.sorted(), cause_finder(dirs, errors)))
    all_files = yaml_files(dirs.rules) + yaml_files(dirs.field_specs) + yaml_files(dirs.playbooks)
    if dirs.lifecycle is not None:
        all_files += yaml_files(dirs.lifecycle)
    return SpecSet(rules=rules, fields=fields, playbook_files=tuple(yaml_files(dirs.playbooks)),
                   hash=content_hash(all_files), lifecycle=lifecycle, playbooks=playbooks)


def cause_finder(dirs: SpecDirs, errors: ErrorCollector):
    """cause_of(kind, name): the first error of the broken file that should have defined that model, list or
    pool, so 'no model named conversion' in five files folds under the typo in rules/conversion.yaml.

    The file is the broken one that names it as a key (`model: conversion`, `conversion:` under `lists:` or
    `pools:`), else the one named after it, else the only broken file that could define it; None otherwise.
    """
    by_file: dict[str, list[SpecError]] = {}
    for error in errors.sorted():
        by_file.setdefault(error.file, []).append(error)
    folders = {"model": [dirs.rules, dirs.lifecycle], "list": [dirs.rules], "pool": [dirs.playbooks],
               "rule": [dirs.rules]}
    patterns = {"model": r"^model:\s*{}\s*(#.*)?$", "rule": r"\bid:\s*{}\s*[,}}\n#]"}

    def cause_of(kind: str, name) -> SpecError | None:
        broken = [p for d in folders.get(kind, []) if d is not None for p in yaml_files(d)
                  if display_path(p) in by_file]
        quoted = rf"['\"]?{re.escape(str(name))}['\"]?"
        pattern = re.compile(patterns.get(kind, r"^\s*{}\s*:").format(quoted), re.M)
        for path in broken:
            found = pattern.search(_text(path))
            if found:
                line = _text(path).count("\n", 0, found.start()) + 1
                after = [e for e in by_file[display_path(path)] if e.line >= line and e.missing != (kind, name)]
                return after[0] if kind == "rule" and after else by_file[display_path(path)][0]
        named = [p for p in broken if p.stem == str(name)] or (broken if len(broken) == 1 else [])
        return by_file[display_path(named[0])][0] if named and kind != "rule" else None
    return cause_of


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def check_spec_set(dirs: SpecDirs) -> list[SpecError]:
    """Every error in the set, sorted by file and line; empty when the set is valid."""
    try:
        load_spec_set(dirs)
    except SpecSetInvalid as exc:
        return exc.errors
    return []
