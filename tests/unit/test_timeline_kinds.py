"""The call timeline's kinds are one typed vocabulary (hotline.calls.timeline.Kind): no
writer logs, and no reader compares against, a bare string."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from hotline.calls.timeline import Kind

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hotline", "ivr", "acd", "recordings", "reports", "bench")
# ``Handover.kind`` (acd.call) is another vocabulary: where an agent passed the caller on.
HANDOVER_KINDS = frozenset({"queue", "agent", "outside", "sequence"})


def test_kinds_are_unique_lowercase_words() -> None:
    values = [k.value for k in Kind]
    assert len(values) == len(set(values))
    for value in values:
        assert re.fullmatch(r"[a-z][a-z-]*", value), value


def test_handover_kinds_are_not_timeline_kinds() -> None:
    assert not HANDOVER_KINDS & set(Kind)  # else the exemption below would hide a kind


def _text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _texts(node: ast.expr) -> list[str]:
    """The string literals ``node`` is, or holds (a tuple, list or set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [t for e in node.elts for t in _texts(e) if isinstance(e, ast.Constant)]
    return []


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_logger_level(node: ast.expr) -> bool:
    """``Logger.log(level, msg)``: its first argument is a level, not a call id."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return True
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "logging"
    )


def _bare_kinds(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name == "log":
                # store.log(call_id, "kind", ...) and ports.log("kind", ...)
                first = node.args[:1]
                if not (first and _is_logger_level(first[0])):
                    for arg in node.args[:2]:
                        if _text(arg):
                            yield node.lineno, f"log(... {ast.unparse(arg)} ...)"
            if name in ("log", "CallEvent"):
                for kw in node.keywords:
                    if kw.arg == "kind" and _text(kw.value):
                        yield node.lineno, f"{name}(kind={ast.unparse(kw.value)})"
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if not any(isinstance(o, ast.Attribute) and o.attr == "kind" for o in operands):
                continue
            for operand in operands:
                bare = [t for t in _texts(operand) if t not in HANDOVER_KINDS]
                if bare:
                    yield node.lineno, f"comparison with {', '.join(map(repr, bare))}"


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_the_scan_sees_bare_kinds() -> None:
    sample = """
async def f(store, ports, e, result):
    await store.log(call_id, "queued", queue="q")
    await ports.log("waiting", queue="q")
    db.add(CallEvent(call_id=c, kind="key"))
    if e.kind == "answered" or e.kind in ("survey", "wrap-up"):
        pass
    if result.kind in ("queue", "agent"):  # a Handover's
        pass
    log.log(logging.INFO, "fine")
    await store.log(call_id, Kind.QUEUED)
"""
    found = sorted(line for line, _ in _bare_kinds(ast.parse(sample)))
    assert found == [3, 4, 5, 6, 6]


def test_no_bare_kind_strings() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _sources()
        for line, what in _bare_kinds(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    ]
    assert not found, "use hotline.calls.timeline.Kind:\n" + "\n".join(found)
