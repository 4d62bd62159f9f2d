"""YAML read so that every error can name the file, the line and the key.

PyYAML's ``safe_load`` forgets where things were and silently keeps the last of two
duplicate keys. We compose the node tree instead, convert it to plain Python, and keep a
table from key paths to line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hotline.errors import HotlineError

KeyPath = tuple[str, ...]


class MenuError(HotlineError):
    """A menu file is invalid. ``message`` reads ``file:line: key: what is wrong``."""

    error_id = "invalid-menu"
    http_status = 400


@dataclass
class Source:
    """A parsed YAML document and where each key path came from."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, key: KeyPath) -> int:
        """The line of ``key``, or of its nearest ancestor that has one."""
        while key and key not in self.lines:
            key = key[:-1]
        return self.lines.get(key, 1)

    def error(self, key: KeyPath, problem: str) -> MenuError:
        dotted = ".".join(key) or "(top)"
        return MenuError(
            f"{self.path}:{self.line(key)}: {dotted}: {problem}",
            file=str(self.path),
            line=self.line(key),
            key=dotted,
        )


def read_source(path: Path) -> Source:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MenuError(f"{path}: cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise MenuError(f"{path}: not UTF-8 text", file=str(path)) from None
    return parse_source(path, text)


def parse_source(path: Path, text: str) -> Source:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise MenuError(
            f"{path}:{line}: not valid YAML: {problem}", file=str(path), line=line
        ) from None
    source = Source(path, None)
    source.data = _convert(root, (), source) if root is not None else {}
    return source


def _convert(node: yaml.Node, key: KeyPath, source: Source) -> Any:
    source.lines.setdefault(key, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = str(_scalar(key_node))
            if name in result:
                line = key_node.start_mark.line + 1
                source.lines[(*key, name)] = line
                raise source.error((*key, name), "duplicate key (the earlier one would be lost)")
            source.lines[(*key, name)] = key_node.start_mark.line + 1
            result[name] = _convert(value_node, (*key, name), source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*key, str(i)), source) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    """Plain scalars get YAML's types (int, bool, null, date, ...); quoted ones stay text."""
    if not isinstance(node, yaml.ScalarNode):
        raise MenuError(f"line {node.start_mark.line + 1}: a key must be a plain value")
    if node.style in ("'", '"'):
        return str(node.value)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
