"""Import direction (DESIGN.md §3) and the engine's purity, read from the source with ast."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "crm_app"
IO_MODULES = {"os", "io", "sys", "socket", "subprocess", "sqlite3", "sqlalchemy", "requests", "urllib", "http",
              "pathlib", "shutil", "tempfile", "time", "logging", "random", "flask", "threading", "asyncio",
              "multiprocessing", "open", "builtins", "sqlite_utils", "psycopg"}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("datetime", "today"),
               ("time", "time"), ("time", "monotonic"), ("time", "perf_counter")}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("engine"), ids=lambda p: p.name)
def test_engine_imports_only_specs_errors_and_pure_stdlib(path):
    for name in imports_of(path):
        top = name.split(".")[0]
        assert top not in IO_MODULES, f"{path.name} imports I/O module {name}"
        if name.startswith("crm_app"):
            assert name.startswith(("crm_app.engine", "crm_app.specs", "crm_app.errors")), \
                f"{path.name} imports {name}; the engine may import only specs and errors"


@pytest.mark.parametrize("path", modules("engine"), ids=lambda p: p.name)
def test_engine_never_reads_the_clock_or_opens_files(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                assert (func.value.id, func.attr) not in CLOCK_CALLS, f"{path.name} calls {func.value.id}.{func.attr}"
            if isinstance(func, ast.Name):
                assert func.id not in ("open", "input", "print", "exec", "eval"), f"{path.name} calls {func.id}()"


def test_the_purity_checker_catches_a_clock_read(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from datetime import datetime\nimport time\nx = datetime.now()\n")
    assert "time" in imports_of(bad)
    tree = ast.parse(bad.read_text())
    calls = [(n.func.value.id, n.func.attr) for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)]
    assert set(calls) & CLOCK_CALLS


@pytest.mark.parametrize("path", modules("crm"), ids=lambda p: p.name)
def test_adapters_never_import_engine_store_or_flask(path):
    for name in imports_of(path):
        assert not name.startswith(("crm_app.engine", "crm_app.store", "flask", "crm_app.services")), \
            f"{path.name} imports {name}"


@pytest.mark.parametrize("path", modules("specs"), ids=lambda p: p.name)
def test_specs_do_not_reach_into_the_store_or_web(path):
    for name in imports_of(path):
        assert not name.startswith(("crm_app.store", "crm_app.web", "crm_app.services", "sqlalchemy", "flask"))


@pytest.mark.parametrize("path", [p for p in PACKAGE.rglob("*.py") if "store" not in p.parts],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_store_speaks_sql(path):
    text = path.read_text()
    for keyword in ("INSERT INTO", "CREATE TABLE", "DELETE FROM"):
        assert keyword not in text, f"{path.name} writes SQL ({keyword}); SQL belongs in crm_app/store"


def test_engine_readme_line_says_it_does_no_io():
    assert "does no I/O" in (PACKAGE / "engine" / "__init__.py").read_text()
