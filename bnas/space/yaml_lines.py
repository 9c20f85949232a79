"""YAML with line numbers: every error in a search space names the line a user must fix.

``yaml.safe_load`` forgets where values came from. :class:`LineLoader` (a ``SafeLoader``) first
composes the node tree, whose nodes carry ``start_mark``, records the line of every path
(``("search", "scheduler", "asha", "grace_period") → 17``), then constructs plain data from the
same tree. A validation error's location (pydantic's ``loc``) is then mapped to the deepest
recorded path it starts with: the line of that key, or of the list item.

Two YAML 1.1 surprises are fixed here because they bite search spaces: ``5e-4`` is a float
(PyYAML reads it as the string ``"5e-4"``, YAML 1.2 and every user read a number), and a key
given twice in one mapping is an error (PyYAML silently keeps the last one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bnas.errors import BnasError, describe_location

Path = tuple[str | int, ...]

# YAML 1.2 core-schema floats without a dot (``1e-3``, ``5E+2``); PyYAML's 1.1 resolver needs
# the dot. Checked after the built-in resolvers, so ints and dotted floats keep their rules.
_FLOAT_WITHOUT_DOT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class LineLoader(yaml.SafeLoader):
    """``SafeLoader`` that resolves ``1e-3`` as a float (construct is still safe-only)."""


LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT_WITHOUT_DOT, list("-+0123456789")
)


@dataclass
class LocatedYaml:
    """Plain data parsed from YAML, plus the line (1-based) of every key and list item."""

    data: Any
    source: str
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """Line of the deepest recorded prefix of ``path`` (1 when nothing matches)."""
        keys = tuple(str(part) if isinstance(part, str) else part for part in path)
        for end in range(len(keys), -1, -1):
            line = self.lines.get(keys[:end])
            if line is not None:
                return line
        return 1

    def where(self, path: Path) -> str:
        """``file.yaml:14``: the prefix of every message about ``path``."""
        return f"{self.source}:{self.line_of(path)}"


def load_located(text: str, source: str) -> LocatedYaml:
    """Parse one YAML document; a syntax error or duplicate key is a located ``BnasError``."""
    loader = LineLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            raise BnasError(f"{source}:{_syntax_problem(error)}") from None
        except yaml.YAMLError as error:  # e.g. a reader error (bad characters)
            raise BnasError(f"{source}:1 not valid YAML: {error}") from None
        located = LocatedYaml(data=None, source=source)
        if node is None:
            return located
        _record(node, (), located.lines, source)
        try:
            located.data = loader.construct_document(node)
        except yaml.MarkedYAMLError as error:  # e.g. an unhashable key, a bad merge key
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise BnasError(f"{source}:{line} not valid YAML: {error.problem}") from None
        return located
    finally:
        loader.dispose()


def _syntax_problem(error: yaml.MarkedYAMLError) -> str:
    """``LINE not valid YAML: ...``, at the line that opened what is unfinished if any.

    An unclosed ``[`` is noticed lines later; its context mark is where it began.
    """
    problem = error.problem or "syntax error"
    if error.context_mark is not None:
        line = error.context_mark.line + 1
        found = error.problem_mark.line + 1 if error.problem_mark is not None else line
        where = f" (line {found})" if found != line else ""
        return f"{line} not valid YAML: {error.context}, {problem}{where}"
    line = error.problem_mark.line + 1 if error.problem_mark is not None else 1
    return f"{line} not valid YAML: {problem}"


def _record(node: yaml.Node, path: Path, lines: dict[Path, int], source: str) -> None:
    """Walk the composed tree, noting each path's line; reject duplicate keys."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # complex keys: construct_document reports them
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                continue  # merge keys: the merged keys keep the lines of their anchor
            if key in seen:
                where = describe_location(path + (key,))
                raise BnasError(
                    f"{source}:{line} {where}: duplicate key (first given on line {seen[key]})"
                )
            seen[key] = line
            lines[path + (key,)] = line
            _record(value_node, path + (key,), lines, source)  # keeps the key's line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, path + (index,), lines, source)
