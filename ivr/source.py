"""The menu's YAML documents: ``hotline.yamldoc`` with menu errors."""

from __future__ import annotations

from pathlib import Path

from hotline.yamldoc import DocumentError, KeyPath, Source
from hotline.yamldoc import parse_source as _parse
from hotline.yamldoc import read_source as _read

__all__ = ["KeyPath", "MenuError", "Source", "parse_source", "read_source"]


class MenuError(DocumentError):
    """A menu file is invalid. ``message`` reads ``file:line: key: what is wrong``."""

    error_id = "invalid-menu"


def read_source(path: Path) -> Source:
    return _read(path, MenuError)


def parse_source(path: Path, text: str) -> Source:
    return _parse(path, text, MenuError)
