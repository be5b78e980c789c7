"""YAML reading that keeps line numbers and refuses duplicated keys, non-finite numbers, documents nested too
deeply and alias chains that would expand past a node budget (checked on the composed graph, before anything
is built, so a few hundred bytes cannot cost seconds)."""
from __future__ import annotations

import math
import re
from pathlib import Path

import yaml

from crm_app.errors import ErrorCollector


MAX_EXPANDED_NODES = 200_000
MAX_DEPTH = 64


class LocatedDict(dict):
    """A mapping from a YAML file that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict


class LocatedList(list):
    """A sequence from a YAML file that remembers the line of itself and of each item."""

    line: int = 0
    item_lines: list


def _make_loader(errors: ErrorCollector, file: str):
    class LineLoader(yaml.SafeLoader):
        """SafeLoader that records lines and reports duplicate keys instead of overwriting."""

        def construct_mapping(self, node, deep=False):
            result = LocatedDict()
            result.line = node.start_mark.line + 1
            result.key_lines = {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, (str, int, float, bool)):
                    errors.add(file, line, "", "a key must be plain text")
                    continue
                if key in result:
                    errors.add(file, line, str(key),
                               f"duplicated key (first given on line {result.key_lines[key]}); keep one")
                    continue
                result[key] = self.construct_object(value_node, deep=True)
                result.key_lines[key] = line
            return result

        def construct_yaml_float(self, node):
            value = super().construct_yaml_float(node)
            if not math.isfinite(value):
                errors.add(file, node.start_mark.line + 1, "", f"{node.value!r} is not a finite number; use a plain number such as 0 or 100")
                return None
            return value

        def construct_sequence(self, node, deep=False):
            result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
            result.line = node.start_mark.line + 1
            result.item_lines = [child.start_mark.line + 1 for child in node.value]
            return result

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, LineLoader.construct_mapping)
    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, LineLoader.construct_sequence)
    LineLoader.add_constructor("tag:yaml.org,2002:float", LineLoader.construct_yaml_float)
    return LineLoader


def oversized_node(root) -> tuple[str, object] | None:
    """Why a composed document is too big to build, and the node where it shows; None when it is fine.

    Aliases make the composed graph share nodes, so sizes are counted once per node and reused: linear in
    the document, however far its aliases would expand.
    """
    sizes: dict[int, int] = {}
    stack = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep; flatten it", node
        children = _children(node)
        if children_done or not children:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_EXPANDED_NODES:
                return (f"aliases expand this document past {MAX_EXPANDED_NODES:,} values; "
                        "write the values out or use a named list"), node
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
    return None


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


_FLOW_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\n]|\'\')*\'|(?:^|[ \t])#[^\n]*|[\[\]{}]|\n', re.M)
DEEP_FLOW = 4 * MAX_DEPTH  # past this, brackets alone prove the document too deep, whatever the scalars hold


def _first_line_too_deep(text: str) -> int | None:
    """The line where flow brackets (outside quotes and comments) first nest past DEEP_FLOW, found by a regular
    expression before PyYAML sees the text: its scanner and parser cost grows with the square of the depth,
    so a few kilobytes of brackets would otherwise cost seconds. Shallower documents are judged after
    composing (oversized_node), exactly."""
    if text.count("[") + text.count("{") <= DEEP_FLOW:
        return None
    depth, line = 0, 1
    for match in _FLOW_TOKENS.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
        elif token in "[{":
            depth += 1
            if depth > DEEP_FLOW:
                return line
        elif token in "]}":
            depth = max(0, depth - 1)
        else:
            line += token.count("\n")
    return None


def load_yaml(path: Path, errors: ErrorCollector, display_name: str | None = None, holds: str | None = None):
    """Parse one YAML file into located dicts and lists; syntax errors go to the collector.

    An admin file passes `holds`, what the file is for: an empty file (nothing but blanks, comments or `~`)
    is then an error at line 1 saying so, the same in every folder, rather than a file silently ignored.
    """
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.add(name, 1, "", f"cannot read the file: {exc}")
        return None
    before = len(errors.errors)
    doc = parse_yaml(text, name, errors)
    if doc is None and holds and len(errors.errors) == before:
        errors.add(name, 1, "", f"the file is empty; add {holds}, or delete the file")
    return doc


def parse_yaml(text: str, name: str, errors: ErrorCollector):
    """Parse YAML text; a syntax error is reported with its line and returns None."""
    too_deep = _first_line_too_deep(text)
    if too_deep:
        errors.add(name, too_deep, "", f"nested more than {MAX_DEPTH} levels deep; flatten it")
        return None
    loader = _make_loader(errors, name)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        too_big = oversized_node(node)
        if too_big:
            errors.add(name, too_big[1].start_mark.line + 1, "", too_big[0])
            return None
        return loader.construct_document(node)
    except RecursionError:
        errors.add(name, 1, "", f"nested too deeply to read; keep it under {MAX_DEPTH} levels")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        errors.add(name, line, "", f"YAML syntax error: {exc.problem or exc}")
    except yaml.YAMLError as exc:
        errors.add(name, 1, "", f"YAML error: {exc}")
    finally:
        loader.dispose()
    return None
