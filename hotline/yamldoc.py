"""YAML documents read so that every error can name the file, the line and the key.

PyYAML's ``safe_load`` forgets where things were and silently keeps the last of two
duplicate keys. We compose the node tree instead, convert it to plain Python, and keep a
table from key paths to line numbers.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hotline.errors import HotlineError

KeyPath = tuple[str, ...]
T = TypeVar("T")


class DocumentError(HotlineError):
    """A YAML file admins write is invalid. ``message`` reads ``file:line: key: problem``."""

    error_id = "invalid-document"
    http_status = 400


@dataclass
class Source:
    """A parsed YAML document and where each key path came from."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    error_type: type[DocumentError] = DocumentError  # what kind of file this is

    def line(self, key: KeyPath) -> int:
        """The line of ``key``, or of its nearest ancestor that has one."""
        while key and key not in self.lines:
            key = key[:-1]
        return self.lines.get(key, 1)

    def error(self, key: KeyPath, problem: str) -> DocumentError:
        dotted = ".".join(key) or "(top)"
        return self.error_type(
            f"{self.path}:{self.line(key)}: {dotted}: {problem}",
            file=str(self.path),
            line=self.line(key),
            key=dotted,
        )


def read_source(path: Path, error_type: type[DocumentError] = DocumentError) -> Source:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error_type(f"{path}: cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise error_type(f"{path}: not UTF-8 text", file=str(path)) from None
    return parse_source(path, text, error_type)


def parse_source(path: Path, text: str, error_type: type[DocumentError] = DocumentError) -> Source:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise error_type(
            f"{path}:{line}: not valid YAML: {problem}", file=str(path), line=line
        ) from None
    source = Source(path, None, error_type=error_type)
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
        raise DocumentError(f"line {node.start_mark.line + 1}: a key must be a plain value")
    if node.style in ("'", '"'):
        return str(node.value)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


class Fields:
    """Reads one mapping of the document; remembers which keys were used."""

    def __init__(self, source: Source, key: KeyPath, data: Any) -> None:
        if not isinstance(data, dict):
            raise source.error(key, f"expected a mapping of settings, got {show(data)}")
        self.source, self.key, self.data = source, key, data
        self.used: set[str] = set()

    def error(self, name: str, problem: str) -> DocumentError:
        return self.source.error((*self.key, *name.split(".")), problem)

    def get(self, name: str, kind: type[T] | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            if default is ...:
                raise self.source.error(self.key, f"missing required key '{name}'")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"expected {_names(kinds)}, got {show(value)}")
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {_names(kinds)}, got {show(value)}")
        return value

    def text(self, name: str, default: Any = ...) -> str:
        value = self.get(name, (str, int), default)
        return str(value)

    def number(self, name: str, default: Any = ..., low: float = 0, high: float = 1e9) -> float:
        value = float(self.get(name, (int, float), default))
        if not low <= value <= high:
            raise self.error(name, f"must be between {low:g} and {high:g}, got {value:g}")
        return value

    def integer(self, name: str, default: Any = ..., low: int = 0, high: int = 10**9) -> int:
        value = self.get(name, int, default)
        if not low <= value <= high:
            raise self.error(name, f"must be between {low} and {high}, got {value}")
        return int(value)

    def choice(self, name: str, choices: Iterable[str], default: Any = ...) -> str:
        value = self.text(name, default)
        options = list(choices)
        if value not in options:
            raise self.error(name, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def done(self) -> None:
        for name in self.data:
            if name not in self.used:
                hint = difflib.get_close_matches(name, self.used, n=1)
                more = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise self.error(name, f"unknown key{more}")


def show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _names(kinds: tuple[type, ...]) -> str:
    names = {
        str: "text",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        dict: "a mapping",
        list: "a list",
        dt.date: "a date (YYYY-MM-DD)",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)
