"""The one validator of an admin file set: `check`, `rules publish`, the dashboard and every process use it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crm_app.crm.registry import setting
from crm_app.errors import ErrorCollector, SpecSetInvalid
from crm_app.specs.loader import SpecDirs, SpecSet, load_spec_set


@dataclass(frozen=True)
class Validation:
    specs: SpecSet | None  # the loaded set, only when there are no errors
    errors: list  # SpecError, sorted by file and line


def check_admin_root(root: Path, env: dict | None = None) -> Validation:
    """Every error of the admin files under root: rules/, field_specs/, playbooks/, lifecycle/ and the CRM
    files in mapping/ (the data mapping and the record-creation policy)."""
    try:
        specs = load_spec_set(SpecDirs.under(root))
    except SpecSetInvalid as exc:  # the CRM files are still checked; model names unknown, so not those
        return Validation(None, exc.errors + crm_file_errors(root, None, env))
    errors = crm_file_errors(root, list(specs.rules.names), env)
    return Validation(None if errors else specs, errors)


def crm_file_errors(root: Path, models: list[str] | None, env: dict | None = None) -> list:
    """Errors of the CRM data mapping and the record-creation policy (both optional files)."""
    from crm_app.specs.crm.creation import load_creation_policy
    from crm_app.specs.crm.mapping import MAPPING_HOLDS, parse_mapping
    from crm_app.specs.yamlsource import load_yaml
    errors = ErrorCollector()
    mapping = Path(root) / setting("CRM_MAPPING_FILE", env)
    if mapping.is_file():
        doc = load_yaml(mapping, errors, str(mapping), holds=MAPPING_HOLDS)
        if doc is not None:
            parse_mapping(doc, str(mapping), "sandbox", errors)
    load_creation_policy(Path(root) / setting("CRM_CREATE_FILE", env), models, errors)
    return errors.sorted()
