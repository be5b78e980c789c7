"""Documentation is part of the feature: every operator, command, setting, playbook trigger and action is documented;
links resolve, no machine paths, no stale claims, and every table the docs name exists."""
from __future__ import annotations

import re

import pytest

from crm_app.cli import build_parser
from crm_app.config import SETTINGS
from crm_app.specs.operators import COMBINATORS, COMPARISONS, EVENT_MEASURES, FIELD_OPERATORS, SUBJECTS
from tests.conftest import ROOT

README_ONLY = (ROOT / "README.md").read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))
README = "\n".join([README_ONLY, *(doc.read_text() for doc in DOCS)])


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("operator", sorted(FIELD_OPERATORS))
def test_every_field_operator_has_a_documented_example(operator):
    assert re.search(rf"\|\s*`{operator}`\s*\|\s*`\{{field: [^`]*\b{operator}:", README), operator


@pytest.mark.parametrize("measure", sorted(EVENT_MEASURES))
def test_every_event_measure_has_a_documented_example(measure):
    assert re.search(rf"\|\s*`{measure}`\s*\|\s*`\{{event: [^`]*\b{measure}:", README), measure


@pytest.mark.parametrize("word", sorted(set(COMPARISONS) | set(COMBINATORS) | set(SUBJECTS)))
def test_every_comparison_combinator_and_subject_is_documented(word):
    assert f"`{word}`" in README or f"{word}:" in README


@pytest.mark.parametrize("command", commands())
def test_every_command_is_documented(command):
    assert re.search(rf"\|\s*`{command}\b", README), command


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_every_setting_is_documented(setting):
    assert re.search(rf"\|\s*`{setting}`\s*\|", README), setting


RULE_REFERENCE = (ROOT / "docs" / "rule-reference.md").read_text()


@pytest.mark.parametrize("word", sorted(set(FIELD_OPERATORS) | set(EVENT_MEASURES) | set(COMPARISONS)
                                        | set(COMBINATORS) | set(SUBJECTS)))
def test_the_rule_reference_holds_every_operator_measure_and_subject(word):
    assert f"`{word}`" in RULE_REFERENCE or f"{{{word}:" in RULE_REFERENCE or f"{word}:" in RULE_REFERENCE, word


def test_readme_opens_with_the_demo_and_test_commands():
    first_block = README_ONLY.split("```bash", 1)[1].split("```", 1)[0]
    assert "python -m crm_app demo" in first_block and "pytest" in first_block


def test_engine_and_spec_registries_agree():
    from crm_app.engine.operators import COMPARE, OPERATORS
    assert set(OPERATORS) == set(FIELD_OPERATORS)
    assert set(COMPARE) == set(COMPARISONS)


# The documentation set: links, paths, registries and the tables it names.
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
DOC_FILES = [ROOT / "README.md", *DOCS]


def prose(text: str) -> str:
    """Text without fenced code blocks and inline code spans."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower-cased, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


LINKS = [(path, target) for path in DOC_FILES for target in LINK.findall(prose(path.read_text().replace("`[", "[")))
         if not target.startswith(("http://", "https://", "mailto:"))]


def test_the_readme_links_every_doc_file():
    linked = {(ROOT / t.split("#")[0]).resolve() for p, t in LINKS if p.name == "README.md"}
    assert [d.name for d in DOCS if d.resolve() not in linked] == []


@pytest.mark.parametrize("path, target", LINKS, ids=[f"{p.name}->{t}" for p, t in LINKS])
def test_every_relative_link_resolves(path, target):
    file, _, anchor = target.partition("#")
    dest = (path.parent / file).resolve() if file else path
    assert dest.exists(), f"{path.name}: {target}: no file {file}"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), f"{path.name}: {target}: no heading #{anchor} in {dest.name}"


ABSOLUTE = re.compile(r"(?<![\w.])(/work/|/home/|/Users/|/root/|[A-Z]:\\)")


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_no_absolute_machine_paths(path):
    text = path.read_text()
    assert ABSOLUTE.findall(text) == [], f"{path.name} names a path of one machine"
    assert "/tmp/" not in prose(text), f"{path.name} names /tmp/ outside a code example"


@pytest.mark.parametrize("word", ["/work/h-docs/x", "C:\\Users\\ann"])
def test_the_path_check_catches(word):
    assert ABSOLUTE.search(f"see {word} there")


def playbook_registries() -> list[tuple[str, str]]:
    from crm_app.specs.playbooks import ACTIONS, TRIGGERS
    return [("trigger", t) for t in TRIGGERS] + [("action", a) for a in ACTIONS]


@pytest.mark.parametrize("kind, name", playbook_registries())
def test_every_playbook_trigger_and_action_is_documented(kind, name):
    guide = (ROOT / "docs" / "admin-guide.md").read_text()
    assert re.search(rf"^\|[^|\n]*`{name}`", guide, re.M), f"docs/admin-guide.md has no table row for {kind} {name}"


STALE = ["about 52,000 events", "fits inside a minute", "sync_runs", "slack_feedback", "see the README",
         "in the README"]


@pytest.mark.parametrize("claim", STALE)
def test_stale_claims_are_gone(claim):
    assert claim not in "\n".join(p.read_text() for p in DOC_FILES[1:]), claim


TABLE_MENTION = [re.compile(p) for p in (
    r"`(\w+)` tables?\b",
    r"\btables? `(\w+)`",
    r"\btables? (?:`\w+`, )*`\w+`,? (?:and|or) `(\w+)`",
    r"\btables (`\w+`), ",
    r"(?:kept in|stored in|in|reads) `(\w+)` \(migration \d+",
    r"\b(?:kept|queued) in `(\w+)`",
)]


def tables_in(text: str) -> set[str]:
    text = FENCE.sub("", text).replace("\n", " ")
    return {name.strip("`") for pattern in TABLE_MENTION for name in pattern.findall(text)}


def tables_named_in_docs() -> list[tuple[str, str]]:
    return sorted((path.name, table) for path in DOC_FILES for table in tables_in(path.read_text()))


@pytest.mark.parametrize("sentence, tables", [
    ("reads a `sync_runs` table when present", {"sync_runs"}),
    ("(tables `rule_versions` and `rule_version_files`, migration 100)", {"rule_versions", "rule_version_files"}),
    ("kept in `field_history` (migration 91)", {"field_history"}),
    ("the `results` table and the `ledger`", {"results"}),
])
def test_table_mentions_are_found(sentence, tables):
    assert tables_in(sentence) == tables


@pytest.fixture(scope="module")
def store_tables(tmp_path_factory):
    from sqlalchemy import inspect

    from crm_app.store import Store
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('tables')}/store.db")
    try:
        return set(inspect(store.engine).get_table_names())
    finally:
        store.dispose()


def test_the_docs_name_tables():
    assert len(tables_named_in_docs()) >= 10


@pytest.mark.parametrize("doc, table", tables_named_in_docs())
def test_every_table_the_docs_name_exists(store_tables, doc, table):
    assert table in store_tables, f"{doc} names a table `{table}` that the store does not have"
