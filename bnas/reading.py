"""Reading the files a user hands bnas: every problem is one located line, never a traceback.

Every reader of user files goes through here: search spaces, architecture files, training
configs (and export's ``retrain.yaml``), ``--set`` values, run records. A file that is
missing, a folder, unreadable, not UTF-8, not valid YAML or JSON, or built to exhaust the
parser is a :class:`~bnas.errors.BnasError` naming the file (and the line, where there is
one); what the reader does with the data afterwards (validation) is its own business.

YAML is parsed by :func:`load_yaml`, the one loader: a ``SafeLoader`` (no Python objects)
that also

- keeps the line of every key and list item (:class:`LocatedYaml`), so a validation error
  names the line a user must fix: the composed node tree carries ``start_mark``, we record
  the line of every path (``("search", "scheduler", "asha") → 17``) and construct plain data
  from the same tree;
- refuses documents nested deeper than :data:`MAX_DEPTH` levels (PyYAML's composer recurses
  once per level: a few thousand ``[`` end in RecursionError), recursive aliases
  (``&a [*a]``: a value that contains itself), and alias bombs ("billion laughs": nine
  levels of nine aliases expand 2 kB of text into 387 million values), all before any value
  is constructed, in time linear in the text;
- reads ``5e-4`` as a float (PyYAML's YAML 1.1 resolver wants a dot; YAML 1.2 and every
  user read a number) and rejects a key given twice in one mapping (PyYAML silently keeps the
  last one).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bnas.errors import BnasError, describe_location

DocPath = tuple[str | int, ...]

# Nesting levels of mappings and lists (a scalar inside counts as one more). bnas's own files
# nest at most six; 100 leaves room for any hand-written file and keeps every walk over the
# tree (composer, our checks, construction) far below Python's 1,000-frame recursion limit.
MAX_DEPTH = 100
# Values that aliases may add to a document beyond what is written out. Sharing a block's
# settings or a list of choices through an anchor adds tens; a document whose aliases add
# more than this is an alias bomb, refused before it is expanded. Documents written out in
# full (a space with 700 k choices) are not limited by it.
MAX_ALIAS_VALUES = 10_000

# YAML 1.2 core-schema floats without a dot (``1e-3``, ``5E+2``); PyYAML's 1.1 resolver needs
# the dot. Checked after the built-in resolvers, so ints and dotted floats keep their rules.
_FLOAT_WITHOUT_DOT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")

if yaml.__with_libyaml__:
    _EventParser: type = yaml.cyaml.CParser
else:  # pragma: no cover - PyYAML built without LibYAML: the same events, slower

    class _EventParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class LineLoader(yaml.composer.Composer, _EventParser, yaml.constructor.SafeConstructor,
                 yaml.resolver.Resolver):
    """A safe loader that reads ``1e-3`` as a float and refuses nesting beyond MAX_DEPTH.

    Its events come from LibYAML's parser where PyYAML was built with it: PyYAML's own
    scanner and parser, in Python, took 45 s for a 5 MB space of 700 k choices (some 50 µs
    per token); the tree is composed here, in Python, so that the depth is checked as it is
    built. Characters YAML does not allow are refused up front by PyYAML's reader (its check
    is one regular expression over the text), with the same message either way.
    """

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader(stream)  # checks every character (ReaderError) and keeps nothing
        _EventParser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT_WITHOUT_DOT, list("-+0123456789")
)


class YamlProblem(BnasError):
    """Text that is not a YAML document bnas reads: ``SOURCE:LINE problem``."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        self.line = line
        self.problem = " ".join(problem.split())
        super().__init__(f"{source}:{line} {self.problem}")


@dataclass
class LocatedYaml:
    """Plain data parsed from YAML, plus the line (1-based) of every key and list item."""

    data: Any
    source: str
    lines: dict[DocPath, int] = field(default_factory=dict)

    def line_of(self, path: DocPath) -> int:
        """Line of the deepest recorded prefix of ``path`` (1 when nothing matches)."""
        keys = tuple(str(part) if isinstance(part, str) else part for part in path)
        for end in range(len(keys), -1, -1):
            line = self.lines.get(keys[:end])
            if line is not None:
                return line
        return 1

    def where(self, path: DocPath) -> str:
        """``file.yaml:14``: the prefix of every message about ``path``."""
        return f"{self.source}:{self.line_of(path)}"


def load_yaml(text: str, source: str) -> LocatedYaml:
    """Parse one YAML document; anything wrong with the text is a :class:`YamlProblem`."""
    try:
        loader = LineLoader(text)
    except yaml.reader.ReaderError as error:  # PyYAML checks every character up front
        line = text.count("\n", 0, error.position) + 1
        raise YamlProblem(source, line, f"not valid YAML: {_character(error.character)} "
                          "is not allowed in YAML text") from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            line, problem = _syntax_problem(error)
            raise YamlProblem(source, line, f"not valid YAML: {problem}") from None
        except yaml.YAMLError as error:
            raise YamlProblem(source, 1, f"not valid YAML: {error}") from None
        located = LocatedYaml(data=None, source=source)
        if node is None:
            return located
        _check_expansion(node, source)
        _record(node, (), located.lines, source)
        try:
            located.data = loader.construct_document(node)
        except yaml.MarkedYAMLError as error:  # e.g. an unhashable key, a bad merge key
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise YamlProblem(source, line, f"not valid YAML: {error.problem}") from None
        return located
    finally:
        loader.dispose()


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of a user's file; ``what`` names it in messages ("search-space file")."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BnasError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise BnasError(f"{path}: is a folder, expected a {what}") from None
    except OSError as error:
        raise BnasError(f"{path}: cannot read the {what} ({error.strerror or error})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise BnasError(
            f"{path}:{line} not UTF-8 text (byte {error.start} is 0x{raw[error.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def read_yaml(path: str | Path, what: str) -> LocatedYaml:
    """A user's YAML file, parsed by :func:`load_yaml`; ``what`` names it in messages."""
    return load_yaml(read_text(path, what), str(path))


def read_json(path: str | Path, what: str) -> Any:
    """A JSON file bnas wrote (and a user may have damaged): plain data or one error line."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BnasError(f"{path}:{error.lineno} not valid JSON: {error.msg}") from None
    except RecursionError:  # the json module recurses once per level of nesting
        raise BnasError(f"{path}: not valid JSON: nested too deeply") from None


def _character(code: int) -> str:
    """``character U+0000 (a control character)``: one a user cannot see, named by its code."""
    name = unicodedata.name(chr(code), "a control character")
    return f"character U+{code:04X} ({name})"


def _syntax_problem(error: yaml.MarkedYAMLError) -> tuple[int, str]:
    """(line, problem), at the line that opened what is unfinished if any.

    An unclosed ``[`` is noticed lines later; its context mark is where it began.
    """
    problem = error.problem or "syntax error"
    if "maximum nesting depth" in problem:  # LibYAML's own limit (1,000), above ours
        line = error.problem_mark.line + 1 if error.problem_mark is not None else 1
        return line, f"nested deeper than {MAX_DEPTH} levels"
    if error.context_mark is not None:
        line = error.context_mark.line + 1
        found = error.problem_mark.line + 1 if error.problem_mark is not None else line
        where = f" (line {found})" if found != line else ""
        return line, f"{error.context}, {problem}{where}"
    line = error.problem_mark.line + 1 if error.problem_mark is not None else 1
    return line, problem


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse recursive aliases, nesting beyond MAX_DEPTH once aliases are expanded, and
    aliases that expand to more than MAX_ALIAS_VALUES values.

    An alias is the very node its anchor names, so the composed tree is a graph; its expanded
    size and height are counted once per node (memoized), in time linear in the text.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) → (values when expanded, height)
    open_nodes: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_nodes:
            raise YamlProblem(source, node.start_mark.line + 1,
                              "not valid YAML: recursive alias (a value that contains itself)")
        known = measured.get(key)
        if known is None:
            if depth > MAX_DEPTH:  # only an alias can take a path this deep: stop descending
                raise too_deep(node)
            open_nodes.add(key)
            size, height = 1, 1
            for child in _children(node):
                if isinstance(child, yaml.ScalarNode) and depth < MAX_DEPTH:
                    # a leaf, inline: a list of 700 k choices is 700 k of them
                    measured.setdefault(id(child), (1, 1))
                    size, height = size + 1, max(height, 2)
                    continue
                child_size, child_height = measure(child, depth + 1)
                size, height = size + child_size, max(height, child_height + 1)
            open_nodes.discard(key)
            measured[key] = known = (size, height)
        if depth + known[1] - 1 > MAX_DEPTH:
            raise too_deep(node)
        return known

    def too_deep(node: yaml.Node) -> YamlProblem:
        return YamlProblem(source, node.start_mark.line + 1, f"not valid YAML: nested deeper "
                           f"than {MAX_DEPTH} levels once its aliases are expanded")

    expanded, _ = measure(root, 1)
    added = expanded - len(measured)
    if added > MAX_ALIAS_VALUES:
        raise YamlProblem(source, 1, f"not valid YAML: its aliases expand to {added:,} more "
                          f"values (at most {MAX_ALIAS_VALUES:,}); write the values out")


def _record(node: yaml.Node, path: DocPath, lines: dict[DocPath, int], source: str) -> None:
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
                raise YamlProblem(
                    source, line, f"{where}: duplicate key (first given on line {seen[key]})"
                )
            seen[key] = line
            lines[path + (key,)] = line
            _record(value_node, path + (key,), lines, source)  # keeps the key's line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, path + (index,), lines, source)


# safetensors' words for a file whose length does not fit its header, and what they mean.
_LENGTH_FAULTS = {
    "header too small": "is truncated or not a safetensors file",
    "invalid header length": "is truncated or not a safetensors file",
    "incomplete metadata": "is truncated or has trailing bytes",
}


def check_safetensors(path: Path, what: str) -> None:
    """Check a safetensors file's layout with safetensors' own reader; one line if it fails.

    ``safe_open`` validates what loading relies on (header length and JSON, dtypes, every
    tensor's offsets against its shape, the offsets tiling the data, the file's length) and
    reads no tensor. What it misses: its errors do not say whether a file whose length
    disagrees with its header lacks bytes or has extra ones, so both read "truncated or has
    trailing bytes" here.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            pass  # opening validates the header against the file
    except OSError as error:
        raise BnasError(f"{what}: cannot read {path} ({error.strerror or error})") from None
    except SafetensorError as error:
        reason = str(error).removeprefix("Error while deserializing header: ")
        fault = next((text for sign, text in _LENGTH_FAULTS.items() if sign in reason),
                     "is corrupt")
        raise BnasError(f"{what}: {path} {fault} ({path.stat().st_size} bytes; "
                        f"safetensors: {reason})") from None
