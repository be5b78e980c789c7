"""An empty admin file is treated the same way in every folder: one error at file:1 saying what the file should
hold, or that it can be deleted; nothing else is reported about it and nothing is applied."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crm_app.cli import main
from crm_app.errors import SpecSetInvalid
from crm_app.specs.crm.creation import load_creation_policy
from crm_app.specs.crm.mapping import load_mapping

ROOT = Path(__file__).resolve().parent.parent

# (file made empty, what the error tells the admin to add)
PLACES = [
    ("rules/conversion.yaml", "add a model ('model:' with 'fit:' and 'behaviour:' rules) or shared 'lists:'"),
    ("rules/extra.yaml", "add a model ('model:' with 'fit:' and 'behaviour:' rules) or shared 'lists:'"),
    ("field_specs/conversion.yaml", "add 'fields:', a list of score fields (key, model, value, type, label, salesforce, hubspot)"),
    ("field_specs/extra.yaml", "add 'fields:', a list of score fields (key, model, value, type, label, salesforce, hubspot)"),
    ("playbooks/new_pql.yaml", "add a playbook ('playbook:', 'trigger:', 'actions:') or the 'routing:' of reps and pools"),
    ("playbooks/extra.yml", "add a playbook ('playbook:', 'trigger:', 'actions:') or the 'routing:' of reps and pools"),
    ("lifecycle/extra.yaml", "add a lifecycle model ('model:', 'stage:', 'goal:')"),
    ("mapping/crm.yaml", "add a section per CRM ('sandbox:', 'salesforce:', 'hubspot:') mapping its objects to our fields"),
    ("mapping/create.yaml", "add 'create:' with 'when:' and the object and fields to create per CRM"),
]
EMPTY = {"nothing": "", "blank lines": "\n  \n\n", "comments only": "# to do\n   # later\n", "a null": "~\n",
         "a bare document marker": "---\n"}


def admin_tree(root: Path) -> Path:
    for name in ("rules", "field_specs", "playbooks", "mapping"):
        shutil.copytree(ROOT / name, root / name)
    (root / "lifecycle").mkdir()
    shutil.copy(ROOT / "examples" / "lifecycle" / "lead_conversion.yaml", root / "lifecycle")
    return root


def check(root: Path, monkeypatch, capsys) -> tuple[int, list[str]]:
    monkeypatch.setenv("SPECS_ROOT", str(root))
    monkeypatch.chdir(root)
    code = main(["check"])
    return code, capsys.readouterr().out.splitlines()


def test_the_tree_without_an_empty_file_passes(tmp_path, monkeypatch, capsys):
    code, out = check(admin_tree(tmp_path), monkeypatch, capsys)
    assert code == 0 and out[0].startswith("OK: "), out


@pytest.mark.parametrize("empty", EMPTY.values(), ids=EMPTY.keys())
@pytest.mark.parametrize("relative,hint", PLACES, ids=[p[0] for p in PLACES])
def test_an_empty_file_is_one_error_at_line_1_in_every_folder(relative, hint, empty, tmp_path, monkeypatch, capsys):
    root = admin_tree(tmp_path)
    path = root / relative
    path.write_text(empty)
    code, out = check(root, monkeypatch, capsys)
    shown = str(path) if relative.startswith("mapping/") else relative
    assert code == 1
    assert out[0] == f"{shown}:1: the file is empty; {hint}, or delete the file", out
    assert all(line.startswith("  ") for line in out[1:]), "anything else follows from it and is folded under it"


@pytest.mark.parametrize("load", [lambda p: load_mapping(p, "sandbox"), lambda p: load_creation_policy(p, [])],
                         ids=["crm mapping", "creation policy"])
def test_the_runtime_readers_of_mapping_refuse_an_empty_file_the_same_way(load, tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(SpecSetInvalid) as raised:
        load(path)
    assert [e.line for e in raised.value.errors] == [1]
    assert "the file is empty; add " in raised.value.errors[0].message
