"""Every admin file shown in docs/ and every file under examples/ passes the project's own `check`."""
from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path

import pytest
import yaml

from crm_app.services.admin.validate import check_admin_root
from crm_app.specs.mapping import MAPPING_KEYS, load_mapping
from tests.conftest import ROOT

ADMIN_FOLDERS = ("rules", "field_specs", "playbooks", "lifecycle", "mapping")
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)


def yaml_blocks() -> list[tuple[str, str]]:
    """(docs/file.md:line, text) of every ```yaml block in the docs."""
    found = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text()
        for match in BLOCK.finditer(text):
            found.append((f"docs/{doc.name}:{text.count(chr(10), 0, match.start()) + 1}", match[1]))
    return found


def kind_of(doc) -> str | None:
    """Which admin file a YAML document is, or None for a fragment (a condition, a segments list)."""
    if not isinstance(doc, dict):
        return None
    keys = set(doc)
    if "playbook" in keys:
        return "playbook"
    if "model" in keys and "goal" in keys:
        return "lifecycle"
    if "model" in keys and keys & {"fit", "behaviour"}:
        return "rules"
    if keys == {"fields"} and isinstance(doc["fields"], list):
        return "field_specs"
    if keys == {"routing"}:
        return "routing"
    if keys == {"create"}:
        return "creation"
    if keys and keys <= {"salesforce", "hubspot", "sandbox"}:
        return "crm_mapping"
    if keys and keys <= set(MAPPING_KEYS):
        return "import_mapping"
    return None


def target(root: Path, kind: str, doc: dict) -> Path:
    """Where the example goes in a copy of the shipped admin files: over the shipped file it stands for."""
    if kind == "field_specs":
        keys = {f.get("key") for f in doc["fields"]}
        for path in sorted((root / "field_specs").glob("*.yaml")):
            if keys & {f.get("key") for f in (yaml.safe_load(path.read_text()) or {}).get("fields", [])}:
                return path
        return root / "field_specs" / "doc_example.yaml"
    return {"rules": root / "rules" / f"{doc.get('model')}.yaml",
            "playbook": root / "playbooks" / f"{doc.get('playbook')}.yaml",
            "lifecycle": root / "lifecycle" / f"{doc.get('model')}.yaml",
            "routing": root / "playbooks" / "routing.yaml",
            "creation": root / "mapping" / "create.yaml",
            "crm_mapping": root / "mapping" / "crm.yaml"}[kind]


def checked_with(tmp_path: Path, relative: str, text: str, doc: dict, kind: str) -> list[str]:
    root = tmp_path / "admin"
    for folder in ADMIN_FOLDERS:
        shutil.copytree(ROOT / folder, root / folder)
    path = target(root, kind, doc)
    path.write_text(text)
    return [f"{e.file}:{e.line}: {e.key}: {e.message}" for e in check_admin_root(root).errors]


BLOCKS = [(where, text, yaml.safe_load(text)) for where, text in yaml_blocks()]
ADMIN_BLOCKS = [(w, t, d, kind_of(d)) for w, t, d in BLOCKS if kind_of(d) not in (None, "import_mapping")]
IMPORT_BLOCKS = [(w, t) for w, t, d in BLOCKS if kind_of(d) == "import_mapping"]
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*.yaml"))


def test_the_docs_show_every_kind_of_admin_file():
    assert {k for *_, k in ADMIN_BLOCKS} >= {"rules", "playbook", "field_specs", "lifecycle", "creation"}


@pytest.mark.parametrize("where, text, doc, kind", ADMIN_BLOCKS, ids=[b[0] for b in ADMIN_BLOCKS])
def test_every_admin_file_in_the_docs_passes_check(tmp_path, where, text, doc, kind):
    assert checked_with(tmp_path, where, text, doc, kind) == []


@pytest.mark.parametrize("where, text", IMPORT_BLOCKS, ids=[b[0] for b in IMPORT_BLOCKS])
def test_every_import_mapping_in_the_docs_loads(tmp_path, where, text):
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    load_mapping(path)


@pytest.mark.parametrize("relative", EXAMPLES)
def test_every_example_file_passes_check(tmp_path, relative):
    path = ROOT / relative
    if relative.startswith("examples/mappings/"):
        load_mapping(path)
        return
    doc = yaml.safe_load(path.read_text())
    kind = kind_of(doc)
    assert kind is not None, f"{relative}: not an admin file the test knows"
    assert checked_with(tmp_path, relative, path.read_text(), doc, kind) == []


def test_a_broken_example_fails_check(tmp_path):
    where, text, doc, kind = next(b for b in ADMIN_BLOCKS if b[3] == "rules")
    errors = checked_with(tmp_path, where, text.replace("points:", "pionts:", 1), doc, kind)
    assert any("pionts" in e for e in errors)


CONDITION = re.compile(r"`(\{(?:field|event|metric|score|quota): [^`]*\})`")
WHEN_BLOCK = re.compile(r"^```yaml\n(when:\n.*?)^```", re.M | re.S)


def condition_examples() -> list[tuple[str, str]]:
    """(docs/file.md, text) of every inline condition and every `when:` block the docs show."""
    found = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text = doc.read_text()
        found += [(f"docs/{doc.name}", m.replace("\\|", "|")) for m in CONDITION.findall(text)]
        found += [(f"docs/{doc.name}", m) for m in WHEN_BLOCK.findall(text)]
    return found


@functools.cache
def shipped_lists() -> dict:
    from crm_app.specs.loader import SpecDirs, load_spec_set
    lists = dict(load_spec_set(SpecDirs.under(ROOT)).rules.lists)
    # Lists the examples name that an admin defines: the rule example's own, and the usage-shape example's.
    lists.setdefault("target_regions", ("north america", "europe"))
    lists.setdefault("intermediate_features", ("reports", "dashboards"))
    return lists


def condition_errors(text: str) -> list[str]:
    from crm_app.errors import ErrorCollector
    from crm_app.specs.condition_parser import parse_condition
    from crm_app.specs.reader import Where
    from crm_app.specs.yamlsource import parse_yaml
    errors = ErrorCollector()
    doc = parse_yaml(text, "example", errors)
    if doc is not None:
        node = doc["when"] if isinstance(doc, dict) and set(doc) == {"when"} else doc
        parse_condition(node, Where("example", 1, "when"), errors, dict(shipped_lists()))
    return [f"{e.key}: {e.message}" for e in errors.sorted()]


CONDITIONS = condition_examples()


def test_the_docs_show_conditions():
    assert len(CONDITIONS) >= 25


@pytest.mark.parametrize("where, text", CONDITIONS, ids=[f"{w}: {t[:60]}" for w, t in CONDITIONS])
def test_every_condition_in_the_docs_parses(where, text):
    assert condition_errors(text) == []


def test_a_broken_condition_is_refused():
    assert condition_errors("{field: plan, equls: trial}") != []
