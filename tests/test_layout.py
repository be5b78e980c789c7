"""The layout: layers and no import cycles (read with grimp), module and folder sizes, and the engine's purity
(read from the source with ast). Each rule is also run once on a small package made to break it."""
from __future__ import annotations

import ast
import graphlib
import sys
from pathlib import Path

import grimp
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


# Top to bottom: a module may import from its own layer's package and from the layers below, never above.
# Packages in one layer are independent of each other.
TOP_LAYERS = (("__main__",), ("cli",), ("worker",), ("web",), ("services",), ("config",), ("models", "crm", "slack"),
              ("store", "engine"), ("specs",), ("errors", "logs"))
SERVICE_LAYERS = (("ops",), ("dashboard",), ("admin", "playbooks"), ("crm", "lifecycle"), ("scoring", "ingest"),
                  ("identity",))
MAX_MODULE_LINES = 300
MAX_MODULES_PER_FOLDER = 16


def build_graph(package: str):
    return grimp.build_graph(package, cache_dir=None)


@pytest.fixture(scope="module")
def graph():
    return build_graph("crm_app")


def layer_violations(graph, container: str, layers) -> list[str]:
    found = graph.find_illegal_dependencies_for_layers(
        layers=[grimp.Layer(*names, independent=True) for names in layers], containers={container})
    return sorted(f"{d.importer} must not import {d.imported}: "
                  + "; ".join(f"{sorted(r.heads)} -> ... -> {sorted(r.tails)}" for r in d.routes) for d in found)


def import_cycles(graph) -> list[list[str]]:
    """Every cycle graphlib finds, one at a time: each is reported, then one of its imports set aside.

    graphlib reads `edges` as node -> the nodes it needs first, and lists a cycle so that each node is needed by
    the next one.
    """
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = []
    while True:
        try:
            graphlib.TopologicalSorter(edges).prepare()
            return cycles
        except graphlib.CycleError as err:
            cycle = err.args[1]
            cycles.append(cycle)
            edges[cycle[1]].discard(cycle[0])


def oversized(root: Path) -> list[str]:
    modules = [f"{p.relative_to(root.parent)}: {n} lines" for p in sorted(root.rglob("*.py"))
               if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    folders = [f"{d.relative_to(root.parent)}: {n} modules" for d in sorted({p.parent for p in root.rglob("*.py")})
               if (n := len([p for p in d.glob("*.py") if p.name != "__init__.py"])) > MAX_MODULES_PER_FOLDER]
    return modules + folders


def test_top_level_packages_import_only_downward(graph):
    assert layer_violations(graph, "crm_app", TOP_LAYERS) == []


def test_service_capabilities_import_only_downward(graph):
    assert layer_violations(graph, "crm_app.services", SERVICE_LAYERS) == []


def test_every_top_level_package_and_capability_has_a_layer(graph):
    def children(package):
        return {m.rsplit(".", 1)[1] for m in graph.find_children(package)}
    assert children("crm_app") == {name for layer in TOP_LAYERS for name in layer}
    assert children("crm_app.services") == {name for layer in SERVICE_LAYERS for name in layer}


def test_no_import_cycles(graph):
    assert import_cycles(graph) == []


def test_no_oversized_module_or_folder():
    assert oversized(PACKAGE) == []


@pytest.fixture
def broken_package(tmp_path, monkeypatch):
    """A package `brokenpkg` with a cycle (a <-> b), an upward import (low -> high) and a 301-line module."""
    root = tmp_path / "brokenpkg"
    for name, text in {"__init__.py": "", "high.py": "import brokenpkg.low\n",
                       "low.py": "import brokenpkg.high\n" + "x = 1\n" * MAX_MODULE_LINES,
                       "a.py": "from brokenpkg import b\n", "b.py": "from brokenpkg import a\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [m for m in sys.modules if m.startswith("brokenpkg")]:
        del sys.modules[name]


def test_the_checks_catch_a_cycle_an_upward_import_and_an_oversized_module(broken_package):
    graph = build_graph("brokenpkg")
    cycles = import_cycles(graph)
    assert {frozenset(c) for c in cycles} >= {frozenset({"brokenpkg.a", "brokenpkg.b"})}
    assert layer_violations(graph, "brokenpkg", (("high",), ("low",))) != []
    assert oversized(broken_package) == [f"brokenpkg/low.py: {MAX_MODULE_LINES + 1} lines"]


def readme_layout_paths() -> list[str]:
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    return [line.split()[0] for line in block.splitlines() if line.startswith("  ")]


def test_readme_layout_lists_every_package_and_nothing_that_is_gone():
    listed = readme_layout_paths()
    packages = {str(p.parent.relative_to(PACKAGE)) + "/" for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}
    missing = sorted(packages - set(listed))
    assert missing == [], f"docs/architecture.md's Layout section does not list {missing}"
    gone = [entry for entry in listed if not (PACKAGE / entry.rstrip("/")).exists()]
    assert gone == [], f"docs/architecture.md's Layout section lists {gone}, which are not in crm_app/"
