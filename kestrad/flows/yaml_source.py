"""YAML text → plain Python data plus the source position of every key and value.

ruamel.yaml composes the node graph (its scanner gives exact marks for syntax errors,
and every node keeps its start mark);
the values are then built here rather than by ruamel's constructor, for three reasons:
plain `dict`/`list`/`str` come out (no round-trip wrapper types to unwrap later), every
path gets its line and column on the way, and scalars follow what Kestra's Jackson reader
makes of them (timestamps stay strings, mapping keys are their source text).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kestrad.flows.problems import PathKey

_TAG = "tag:yaml.org,2002:"
# A document whose aliases expand past this many nodes is refused (billion laughs).
MAX_NODES = 1_000_000


_local = threading.local()


def _composer() -> YAML:
    """A YAML instance per thread: building one costs more than composing a small flow,
    and an instance is not safe to share between threads. The safe composer is used (no
    comment tracking): it is faster and marks positions the same way."""
    composer = getattr(_local, "yaml", None)
    if composer is None:
        composer = YAML(typ="safe", pure=True)
        _local.yaml = composer
    return composer


@dataclass
class Positions:
    """0-based (line, column) of each value and each mapping key, by path."""

    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of `path`, or of its closest located ancestor."""
        if key and path in self.keys:
            line, col = self.keys[path]
            return line + 1, col + 1
        probe = path
        while True:
            if probe in self.values:
                line, col = self.values[probe]
                return line + 1, col + 1
            if not probe:
                return 1, 1
            probe = probe[:-1]


class YamlProblem(Exception):
    """A YAML-level fault: syntax, duplicate key, unsupported construct (1-based position)."""

    def __init__(self, line: int, column: int, message: str, path: PathKey = ()) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message
        self.path = path


def parse_yaml(source: str) -> tuple[Any, Positions, list[YamlProblem]]:
    """Parse one YAML document; returns (data, positions, problems).

    Syntax errors stop the parse (one problem). Duplicate keys do not: every duplicate is
    reported, the first occurrence is kept so later checks still see a usable document.
    """
    positions = Positions()
    try:
        node = _composer().compose(source)
    except MarkedYAMLError as exc:
        return None, positions, [_from_marked(exc)]
    except YAMLError as exc:
        return None, positions, [YamlProblem(1, 1, _one_line(str(exc)))]
    if node is None:
        return None, positions, []
    builder = _Builder(positions)
    try:
        data = builder.build(node, ())
    except _TooLarge:
        return None, positions, [YamlProblem(1, 1, "document too large once aliases expand")]
    return data, positions, builder.problems


class _Builder:
    """Turns composed nodes into plain values, recording positions and duplicate keys."""

    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.problems: list[YamlProblem] = []
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge
        self.positions.values.setdefault(path, _mark(node))
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if id(node) in self.active:
            self.problems.append(
                YamlProblem(*_pos(node), "recursive alias: a node cannot contain itself", path)
            )
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        return None

    def _mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if _tag(key_node) == "merge":
                merged.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    YamlProblem(*_pos(key_node), "a mapping key must be a plain value", path)
                )
                continue
            key = key_node.value
            if key in out:
                first = self.positions.keys.get((*path, key))
                where = f" (first defined at line {first[0] + 1})" if first else ""
                self.problems.append(
                    YamlProblem(
                        *_pos(key_node), f'found duplicate key "{key}"{where}', (*path, key)
                    )
                )
                continue
            self.positions.keys[(*path, key)] = _mark(key_node)
            out[key] = self.build(value_node, (*path, key))
        for source in merged:
            # `<<: *anchor` (or a list of anchors): explicit keys win, earlier anchors win.
            sources = source.value if isinstance(source, SequenceNode) else [source]
            for item in sources:
                if not isinstance(item, MappingNode):
                    self.problems.append(
                        YamlProblem(*_pos(item), "a merge key `<<` needs a mapping", path)
                    )
                    continue
                for key, value in self._mapping(item, path).items():
                    out.setdefault(key, value)
        return out


class _TooLarge(Exception):
    pass


def _tag(node: Node) -> str:
    tag = node.tag
    text = getattr(tag, "value", tag)
    text = str(text) if text is not None else ""
    return text[len(_TAG) :] if text.startswith(_TAG) else text


def _scalar(node: ScalarNode) -> Any:
    """A scalar's value with YAML 1.2 core typing; timestamps and unknown tags stay text."""
    text: str = node.value
    tag = _tag(node)
    if tag == "null":
        return None
    if tag == "bool":
        return text.lower() == "true"
    if tag == "int":
        return _int(text)
    if tag == "float":
        return _float(text)
    return text


def _int(text: str) -> int | str:
    clean = text.replace("_", "")
    try:
        return int(clean, 0)
    except ValueError:
        try:
            return int(clean, 10)
        except ValueError:
            return text


def _float(text: str) -> float | str:
    clean = text.replace("_", "").lower()
    if clean in {".inf", "+.inf"}:
        return math.inf
    if clean == "-.inf":
        return -math.inf
    if clean == ".nan":
        return math.nan
    try:
        return float(clean)
    except ValueError:
        return text


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line, node.start_mark.column


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _from_marked(exc: MarkedYAMLError) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    parts = [p for p in (exc.context, exc.problem) if p]
    return YamlProblem(line, col, "YAML syntax error: " + ", ".join(parts))


def _one_line(text: str) -> str:
    return " ".join(text.split())
