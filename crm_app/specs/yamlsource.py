"""YAML reading that keeps line numbers and refuses duplicated keys."""
from __future__ import annotations

from pathlib import Path

import yaml

from crm_app.errors import ErrorCollector


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

        def construct_sequence(self, node, deep=False):
            result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
            result.line = node.start_mark.line + 1
            result.item_lines = [child.start_mark.line + 1 for child in node.value]
            return result

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, LineLoader.construct_mapping)
    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, LineLoader.construct_sequence)
    return LineLoader


def load_yaml(path: Path, errors: ErrorCollector, display_name: str | None = None):
    """Parse one YAML file into located dicts and lists; syntax errors go to the collector."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.add(name, 1, "", f"cannot read the file: {exc}")
        return None
    return parse_yaml(text, name, errors)


def parse_yaml(text: str, name: str, errors: ErrorCollector):
    """Parse YAML text; a syntax error is reported with its line and returns None."""
    try:
        return yaml.load(text, Loader=_make_loader(errors, name))  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        errors.add(name, line, "", f"YAML syntax error: {exc.problem or exc}")
    except yaml.YAMLError as exc:
        errors.add(name, 1, "", f"YAML error: {exc}")
    return None
